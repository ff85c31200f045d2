package testrun

import (
	"os"
	"slices"
	"strings"
)

// jobEnviron is the environment a job starts with: this process's, without
// the variables opts.Hide names (the runner's own settings and credentials,
// which a job has no business seeing), with the job user's identity where
// the job runs as one, then opts.Env. The caller appends the run marker.
func jobEnviron(opts Options) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(opts.Hide, name)
	})
	if u := opts.User; u != nil {
		// os/exec keeps the last of duplicate keys: these replace the runner's.
		env = append(env, "USER="+u.Name, "LOGNAME="+u.Name)
		if u.Home != "" {
			env = append(env, "HOME="+u.Home)
		}
	}
	return append(env, opts.Env...)
}
