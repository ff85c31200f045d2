package testkit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

func TestNewRepoAndCommit(t *testing.T) {
	t.Parallel()
	r := testkit.NewRepo(t, "trunk")
	if got := r.Git("symbolic-ref", "--short", "HEAD"); got != "trunk" {
		t.Errorf("branch %q, want trunk", got)
	}
	c1 := r.Commit("first", map[string]string{"a.txt": "a", "dir/sub/b.txt": "b"})
	if got := r.Git("rev-parse", "HEAD"); got != c1 {
		t.Errorf("Commit returned %s, HEAD is %s", c1, got)
	}
	if got := r.Git("show", "HEAD:dir/sub/b.txt"); got != "b" {
		t.Errorf("dir/sub/b.txt in the commit: %q, want b", got)
	}
	c2 := r.Commit("empty", nil)
	if got := r.Git("rev-parse", "HEAD^"); got != c1 || c2 == c1 {
		t.Errorf("an empty commit %s should follow %s; its parent is %s", c2, c1, got)
	}
	want := testkit.AuthorName + " <" + testkit.AuthorEmail + "> / " + testkit.CommitterName + " <" + testkit.CommitterEmail + ">"
	if got := r.Git("log", "-1", "--format=%an <%ae> / %cn <%ce>"); got != want {
		t.Errorf("identity %q, want %q", got, want)
	}
}

func TestInitArgs(t *testing.T) {
	t.Parallel()
	r := testkit.NewRepo(t, "main", "--bare")
	if got := testkit.Git(t, r.Dir, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("--is-bare-repository = %q, want true", got)
	}
}

// With FixedDates, the same history has the same ids in any repository, on any
// run.
func TestFixedDates(t *testing.T) {
	t.Parallel()
	ids := func() []string {
		r := testkit.NewRepo(t, "main")
		r.FixedDates = true
		return []string{r.Commit("one", map[string]string{"f": "1"}), r.Commit("two", nil)}
	}
	a, b := ids(), ids()
	if a[0] != b[0] || a[1] != b[1] {
		t.Errorf("two repositories built alike have ids %v and %v", a, b)
	}
	r := testkit.NewRepo(t, "main")
	r.FixedDates = true
	r.Commit("one", nil)
	r.Commit("two", nil)
	if got := r.Git("log", "--format=%ct %at"); got != "1700000120 1700000120\n1700000060 1700000060" {
		t.Errorf("commit dates:\n%s", got)
	}
}

// The machine's configuration and a GIT_* variable around the test (as inside a
// git hook) do not reach the fixtures.
func TestGitIgnoresTheMachine(t *testing.T) {
	other := testkit.NewRepo(t, "elsewhere")
	home := t.TempDir()
	global := filepath.Join(home, ".gitconfig")
	if err := os.WriteFile(global, []byte("[user]\n\tname = Someone Else\n[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_DIR", filepath.Join(other.Dir, ".git"))
	t.Setenv("GIT_AUTHOR_NAME", "Someone Else")

	r := testkit.NewRepo(t, "main")
	c := r.Commit("isolated", map[string]string{"f": "x"})
	if got := r.Git("log", "-1", "--format=%an %cn"); got != testkit.AuthorName+" "+testkit.CommitterName {
		t.Errorf("identity %q: the machine's configuration reached the fixture", got)
	}
	if _, err := (testkit.GitCmd{Dir: other.Dir}).Run("cat-file", "-e", c); err == nil {
		t.Errorf("the commit went into the repository GIT_DIR named")
	}
	// Signing switched on in the repository itself is switched off again.
	r.Git("config", "commit.gpgsign", "true")
	r.Git("config", "gpg.program", "false")
	r.Commit("unsigned", nil)
}

func TestGitCmd(t *testing.T) {
	t.Parallel()
	r := testkit.NewRepo(t, "main")
	id := testkit.GitCmd{Dir: r.Dir, Stdin: "hello\n"}.Must(t, "hash-object", "-w", "--stdin")
	if got := r.Git("cat-file", "blob", id); got != "hello" {
		t.Errorf("blob %q, want hello", got)
	}
	out := testkit.GitCmd{Dir: r.Dir, Env: []string{"GIT_AUTHOR_NAME=Grace Hopper"}}.Must(t, "var", "GIT_AUTHOR_IDENT")
	if !strings.HasPrefix(out, "Grace Hopper <"+testkit.AuthorEmail+">") {
		t.Errorf("Env did not override the identity: %q", out)
	}
	out = testkit.GitCmd{Dir: r.Dir, Base: []string{"GIT_AUTHOR_NAME=dropped", "EVENTIDE_X=1"}}.Must(t, "var", "GIT_AUTHOR_IDENT")
	if !strings.HasPrefix(out, testkit.AuthorName+" <") {
		t.Errorf("a GIT_ variable of Base was kept: %q", out)
	}
	_, err := testkit.GitCmd{Dir: r.Dir}.Run("rev-parse", "--verify", "no-such-branch")
	if err == nil || !strings.Contains(err.Error(), "rev-parse --verify no-such-branch") || !strings.Contains(err.Error(), "fatal") {
		t.Errorf("error of a failing command: %v; want it to name the command and carry git's message", err)
	}
}

func TestGitEnv(t *testing.T) {
	env := testkit.GitEnv([]string{"PATH=/bin", "GIT_DIR=/x", "GIT_CONFIG_PARAMETERS='a.b'=c"}, "GIT_AUTHOR_DATE=@1 +0000")
	for _, kv := range env {
		if kv == "GIT_DIR=/x" || strings.HasPrefix(kv, "GIT_CONFIG_PARAMETERS") {
			t.Errorf("GitEnv kept %s", kv)
		}
	}
	if env[0] != "PATH=/bin" || env[len(env)-1] != "GIT_AUTHOR_DATE=@1 +0000" {
		t.Errorf("GitEnv = %q: want the base first and extra last", env)
	}
}

func TestIsolateGit(t *testing.T) {
	for _, k := range []string{"GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
		"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "LC_ALL"} {
		t.Setenv(k, "unset by the test") // restored when the test ends
	}
	if err := testkit.IsolateGit(); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GIT_CONFIG_GLOBAL") != os.DevNull || os.Getenv("GIT_AUTHOR_NAME") != testkit.AuthorName {
		t.Errorf("IsolateGit left GIT_CONFIG_GLOBAL=%q GIT_AUTHOR_NAME=%q", os.Getenv("GIT_CONFIG_GLOBAL"), os.Getenv("GIT_AUTHOR_NAME"))
	}
}
