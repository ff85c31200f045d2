package gitrepo

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
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
	if err := testkit.IsolateGit(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if root := os.Getenv(helperRoot); root != "" {
		c := &Cache{Root: root}
		if err := c.Checkout(context.Background(), os.Getenv(helperURL), os.Getenv(helperCommit), os.Getenv(helperDst)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testkit.RaiseParallel(testkit.WaitingParallel) // the tests mostly wait for git
	os.Exit(m.Run())
}

// testRepo is a repository the test builds commit by commit, on branch main,
// with commit dates advancing one minute per commit for stable output.
type testRepo struct{ *testkit.Repo }

// newTestRepo creates an empty repository; initArgs go to git init.
func newTestRepo(t *testing.T, initArgs ...string) *testRepo {
	t.Helper()
	r := testkit.NewRepo(t, "main", initArgs...)
	r.FixedDates = true
	return &testRepo{r}
}

// url is the file:// URL of the repository.
func (r *testRepo) url() string { return "file://" + r.Dir }

// gitFails reports whether git exits non-zero in dir.
func gitFails(dir string, args ...string) bool {
	_, err := testkit.GitCmd{Dir: dir}.Run(args...)
	return err != nil
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
