package testrun

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// withAndWithoutContainment runs f without a supervisor and under each
// containment this machine has.
func withAndWithoutContainment(t *testing.T, f func(t *testing.T, c *Containment)) {
	t.Run("uncontained", func(t *testing.T) { f(t, nil) })
	for mode, mk := range containments(t) {
		t.Run(string(mode), func(t *testing.T) { f(t, mk(t)) })
	}
}

// A job gets the runner's environment without the variables Hide names, and
// with those the runner sets for it.
func TestJobEnvironmentHides(t *testing.T) {
	t.Setenv("EVENTIDE_TESTRUN_SECRET", "s3cret")
	t.Setenv("EVENTIDE_TESTRUN_KEPT", "kept")
	withAndWithoutContainment(t, func(t *testing.T, c *Containment) {
		var out lockedBuffer
		res := Run(t.Context(), sh(`env`), Options{Dir: t.TempDir(), Output: &out, Contain: c,
			Hide: []string{"EVENTIDE_TESTRUN_SECRET", "EVENTIDE_COMMIT"},
			Env:  []string{"EVENTIDE_COMMIT=abc"}})
		requireOutcome(t, res, ReasonExited, 0)
		env := strings.Split(out.String(), "\n")
		if slices.ContainsFunc(env, func(kv string) bool { return strings.Contains(kv, "s3cret") }) {
			t.Errorf("a hidden variable reached the job:\n%s", out.String())
		}
		for _, want := range []string{"EVENTIDE_TESTRUN_KEPT=kept", "EVENTIDE_COMMIT=abc"} {
			if !slices.Contains(env, want) {
				t.Errorf("the job's environment lacks %s (Env wins over Hide):\n%s", want, out.String())
			}
		}
		if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, supervisorEnv+"=") }) {
			t.Errorf("the supervisor's configuration reached the job:\n%s", out.String())
		}
	})
}

// As root, a job runs as Options.User: its ids, its groups only (not root's),
// its HOME, able to change its worktree and unable to read a file of the
// runner's own.
func TestJobUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a job as another user needs root; this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	u, err := LookupUser("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	withAndWithoutContainment(t, func(t *testing.T, c *Containment) {
		root := t.TempDir()
		private := filepath.Join(root, "private")
		if err := os.Mkdir(private, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(private, "identity"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		wt := filepath.Join(root, "worktree")
		if err := os.MkdirAll(filepath.Join(wt, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := u.CheckReach(wt); err == nil {
			t.Fatalf("CheckReach(%s) = nil under a 0700 temp dir", wt)
		}
		// t.TempDir's directories are 0700: let the job user through.
		for _, d := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := u.CheckReach(wt); err != nil {
			t.Fatalf("CheckReach: %v", err)
		}
		if err := u.Own(wt); err != nil {
			t.Fatal(err)
		}
		var out lockedBuffer
		res := Run(t.Context(), sh(`echo "uid=$(id -u)"; echo "groups=$(id -G)"; echo "home=$HOME"; echo "user=$USER"
touch sub/made && echo made=yes
cat "$P/identity" >/dev/null 2>&1 && echo read=yes || echo read=no`),
			Options{Dir: wt, Output: &out, Contain: c, User: u, Env: []string{"P=" + private}})
		requireOutcome(t, res, ReasonExited, 0)
		s := out.String()
		wantGroups := []string{strconv.Itoa(int(u.GID))}
		for _, g := range u.Groups {
			wantGroups = append(wantGroups, strconv.Itoa(int(g)))
		}
		for k, want := range map[string]string{"uid": strconv.Itoa(int(u.UID)), "groups": strings.Join(wantGroups, " "),
			"home": u.Home, "user": u.Name, "made": "yes", "read": "no"} {
			if v := field(s, k); len(v) != 1 || v[0] != want {
				t.Errorf("%s = %v, want %q\n%s", k, v, want, s)
			}
		}
		if c != nil && (res.Usage == nil || res.Usage.CPU <= 0) {
			t.Errorf("usage %+v: a job of another user is measured too", res.Usage)
		}
	})
}
