package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The identity every fixture commit is made with. Tests that check a job's
// author compare with these.
const (
	AuthorName     = "Ada Lovelace"
	AuthorEmail    = "ada@example.com"
	CommitterName  = "Eventide Test"
	CommitterEmail = "ci@example.com"
)

// isolation keeps the machine's git configuration (commit signing, another
// default branch, hooks, url rewrites) out of the tests, and gives them an
// identity so that they pass where git was never set up.
var isolation = []string{
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=" + os.DevNull,
	"GIT_AUTHOR_NAME=" + AuthorName,
	"GIT_AUTHOR_EMAIL=" + AuthorEmail,
	"GIT_COMMITTER_NAME=" + CommitterName,
	"GIT_COMMITTER_EMAIL=" + CommitterEmail,
	"LC_ALL=C",
}

// fixtureArgs come before every fixture command. With no system or global
// configuration nothing should turn signing on, but a test must never stop to
// ask for a key's passphrase, so it is said explicitly.
var fixtureArgs = []string{"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"}

// GitEnv returns base without any GIT_* variable (one set around the test, a
// GIT_DIR inside a hook for example, would redirect or reconfigure every
// fixture command), plus the isolation and identity above, plus extra. Later
// entries win, so extra may override the identity or set commit dates.
func GitEnv(base []string, extra ...string) []string {
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool { return strings.HasPrefix(kv, "GIT_") })
	env = append(env, isolation...)
	return append(env, extra...)
}

// IsolateGit puts the isolation and identity of [GitEnv] into the process's
// own environment, for a TestMain whose package runs git itself (the code under
// test inherits it).
func IsolateGit() error {
	for _, kv := range isolation {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// GitCmd is one git command of a fixture, for when [Git] is not enough.
type GitCmd struct {
	Dir   string   // where git runs
	Base  []string // what [GitEnv] starts from; nil means os.Environ()
	Env   []string // extra variables, after GitEnv's own
	Stdin string
}

// Run runs git with args and returns its standard output, trimmed. Its error
// names the command and carries git's diagnostics. Unlike [GitCmd.Must] it may
// be called from any goroutine.
func (c GitCmd) Run(args ...string) (string, error) {
	cmd := exec.Command("git", append(slices.Clone(fixtureArgs), args...)...)
	cmd.Dir = c.Dir
	base := c.Base
	if base == nil {
		base = os.Environ()
	}
	cmd.Env = GitEnv(base, c.Env...)
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s (in %s): %w\n%s", strings.Join(args, " "), c.Dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Must is Run failing the test on error; like t.Fatal, it is for the test's
// own goroutine.
func (c GitCmd) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Git runs git with args in dir, in the environment of [GitEnv], and returns
// its trimmed standard output, failing the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GitCmd{Dir: dir}.Must(t, args...)
}

// Repo is a repository a test builds commit by commit.
type Repo struct {
	Dir string
	// Base is the environment fixture commands start from (see [GitCmd]);
	// nil means the test's own.
	Base []string
	// FixedDates dates each [Repo.Commit] a minute after the one before, from
	// a fixed moment, so that commit ids and history output are the same on
	// every run. Commits made otherwise keep the current time.
	FixedDates bool

	t    testing.TB
	tick int
}

// NewRepo creates an empty repository in a new temporary directory, on branch,
// with initArgs passed to git init (--bare, --object-format=sha256). The test
// is skipped where git is not installed.
func NewRepo(t testing.TB, branch string, initArgs ...string) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := RepoAt(t, filepath.Join(t.TempDir(), "repo"))
	args := append([]string{"init", "--quiet", "--initial-branch", branch}, initArgs...)
	Git(t, "", append(args, r.Dir)...)
	return r
}

// RepoAt is a Repo for a repository that exists at dir already, or that the
// test is about to make there (a clone, a linked worktree).
func RepoAt(t testing.TB, dir string) *Repo {
	return &Repo{Dir: dir, t: t}
}

// Git runs git with args in the repository; see [Git].
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return GitCmd{Dir: r.Dir, Base: r.Base}.Must(r.t, args...)
}

// WriteFiles writes files (a slash-separated path in the work tree → content),
// making directories as needed.
func (r *Repo) WriteFiles(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		path := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit writes files as [Repo.WriteFiles] does, stages everything in the work
// tree when files are given, commits (an empty commit when nothing changed) on
// the checked-out branch and returns the new commit's id.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	if len(files) > 0 {
		r.WriteFiles(files)
		r.Git("add", "--all")
	}
	cmd := GitCmd{Dir: r.Dir, Base: r.Base}
	if r.FixedDates {
		r.tick++
		date := fmt.Sprintf("@%d +0000", 1_700_000_000+60*r.tick)
		cmd.Env = []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
	}
	cmd.Must(r.t, "commit", "--quiet", "--allow-empty", "--message", msg)
	return r.Git("rev-parse", "HEAD")
}
