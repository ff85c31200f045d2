package gitrepo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Environment variables that turn the test binary into a helper process
// running one Checkout, for testing the lock across processes.
const (
	helperRoot   = "GITREPO_TEST_HELPER_ROOT"
	helperURL    = "GITREPO_TEST_HELPER_URL"
	helperCommit = "GITREPO_TEST_HELPER_COMMIT"
	helperDst    = "GITREPO_TEST_HELPER_DST"
)

func TestMain(m *testing.M) {
	// Shield the tests from the machine's git configuration (commit
	// signing, a different default branch, hooks) and give them an
	// identity, so they pass on a machine where git was never set up. The
	// package's own git commands inherit this too.
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   os.DevNull,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Test Author",
		"GIT_AUTHOR_EMAIL":    "author@example.com",
		"GIT_COMMITTER_NAME":  "Test Committer",
		"GIT_COMMITTER_EMAIL": "committer@example.com",
	} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if root := os.Getenv(helperRoot); root != "" {
		c := &Cache{Root: root}
		if err := c.Checkout(context.Background(), os.Getenv(helperURL), os.Getenv(helperCommit), os.Getenv(helperDst)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testRepo is a repository the test builds commit by commit.
type testRepo struct {
	t    *testing.T
	dir  string
	tick int // commit dates advance one minute per commit, for stable output
}

// newTestRepo creates an empty repository with main as its initial branch.
func newTestRepo(t *testing.T, initArgs ...string) *testRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	args := append([]string{"-c", "init.defaultBranch=main", "init", "--quiet"}, initArgs...)
	runGit(t, "", nil, append(args, dir)...)
	return &testRepo{t: t, dir: dir}
}

// url is the file:// URL of the repository.
func (r *testRepo) url() string { return "file://" + r.dir }

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return runGit(r.t, r.dir, nil, args...)
}

// commit writes files (name → content), commits everything and returns the
// new commit's id.
func (r *testRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.tick++
	date := fmt.Sprintf("@%d +0000", 1_700_000_000+60*r.tick)
	env := []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
	runGit(r.t, r.dir, nil, "add", "--all")
	runGit(r.t, r.dir, env, "commit", "--quiet", "--allow-empty", "--message", msg)
	return r.git("rev-parse", "HEAD")
}

// runGit runs git in dir and returns its trimmed output, failing the test
// on error. It is for the main test goroutine only.
func runGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// gitFails reports whether git exits non-zero in dir.
func gitFails(t *testing.T, dir string, args ...string) bool {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	return cmd.Run() != nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inode identifies a directory, to tell whether it was recreated.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}
