package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/testrun"
)

// The variables a runner sets in each job's environment, besides the run
// marker (testrun.TokenEnv).
const (
	EnvJobID  = "EVENTIDE_JOB_ID"
	EnvCommit = "EVENTIDE_COMMIT"
)

// JobEnvNames are the EVENTIDE_ variables a job gets from its runner: an
// eventide run inside a job must never read one as a setting.
func JobEnvNames() []string { return []string{EnvJobID, EnvCommit, testrun.TokenEnv} }

// jobEnv is what a job's environment has from its assignment, for the
// worktree wt.
func (r *Runner) jobEnv(a *wire.Assign, wt string) []string {
	env := []string{EnvJobID + "=" + a.JobID, EnvCommit + "=" + a.Commit, "CI=true"}
	if r.jobUser != nil {
		// The worktree is the job user's, its repository (in the runner's
		// cache) the runner's: git refuses such a mix as "dubious ownership"
		// unless told that this worktree is safe, which only the command line
		// or these variables can say. Reading works then; writing to the
		// repository (commit, fetch) does not, as it is not the user's.
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0="+wt)
	}
	return env
}

// setupJobUser checks that jobs can run as Config.JobUser: only root can
// start processes as another user, and the user must be able to reach the
// worktrees by their path (a test suite opens files by absolute path).
func (r *Runner) setupJobUser() error {
	name := r.cfg.JobUser
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("--job-user %s: only a runner running as root can run jobs as another user (this one runs as uid %d)", name, uid)
	}
	u, err := testrun.LookupUser(name)
	if err != nil {
		return fmt.Errorf("--job-user: %w", err)
	}
	if u.UID == 0 {
		return fmt.Errorf("--job-user %s: that is root, which is what jobs run as without it", name)
	}
	dir := filepath.Join(r.cfg.WorkDir, "worktrees")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--job-user: %w", err)
	}
	if err := u.CheckReach(dir); err != nil {
		return fmt.Errorf("--job-user: %w; let it through (chmod o+x on that directory) or choose another --data-dir", err)
	}
	r.jobUser = u
	return nil
}
