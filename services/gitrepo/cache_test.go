package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// cacheFixture is an upstream repository with two commits changing
// file.txt from "one" to "two", and an empty cache.
type cacheFixture struct {
	up     *testRepo
	c1, c2 string
	cache  *Cache
	work   string // a directory for worktrees
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	up := newTestRepo(t)
	f := &cacheFixture{up: up, cache: &Cache{Root: t.TempDir()}, work: t.TempDir()}
	f.c1 = up.Commit("one", map[string]string{"file.txt": "one"})
	f.c2 = up.Commit("two", map[string]string{"file.txt": "two"})
	return f
}

// cloneDir is where the cache keeps the upstream clone.
func (f *cacheFixture) cloneDir() string {
	return filepath.Join(f.cache.Root, repoKey(f.up.url()))
}

func (f *cacheFixture) checkout(t *testing.T, commit, name string) string {
	t.Helper()
	dst := filepath.Join(f.work, name)
	if err := f.cache.Checkout(context.Background(), f.up.url(), commit, dst); err != nil {
		t.Fatalf("Checkout %s: %v", commit, err)
	}
	return dst
}

func TestCheckoutTwoCommitsAtOnce(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	d1, d2 := filepath.Join(f.work, "a"), filepath.Join(f.work, "nested", "b")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = f.cache.Checkout(context.Background(), f.up.url(), f.c1, d1) })
	wg.Go(func() { errs[1] = f.cache.Checkout(context.Background(), f.up.url(), f.c2, d2) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(d1, "file.txt")); got != "one" {
		t.Errorf("worktree of c1 has %q, want one", got)
	}
	if got := readFile(t, filepath.Join(d2, "file.txt")); got != "two" {
		t.Errorf("worktree of c2 has %q, want two", got)
	}
	if got := testkit.Git(t, d1, "rev-parse", "HEAD"); got != f.c1 {
		t.Errorf("worktree HEAD = %s, want %s", got, f.c1)
	}
	if got := testkit.Git(t, d2, "status", "--porcelain", "--branch"); !strings.Contains(got, "no branch") {
		t.Errorf("worktree is not detached: %q", got)
	}

	// The cache holds exactly one clone and its lock, named by the hash.
	entries, err := os.ReadDir(f.cache.Root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	key := repoKey(f.up.url())
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(key) || fmt.Sprint(names) != fmt.Sprint([]string{key, key + ".lock"}) {
		t.Errorf("cache root holds %v, want [%s %s.lock]", names, key, key)
	}
	if testkit.Git(t, f.cloneDir(), "rev-parse", "--is-bare-repository") != "true" {
		t.Error("cached clone is not bare")
	}
}

func TestCheckoutSkipsFetchWhenCommitPresent(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.checkout(t, f.c1, "a")
	ino := inode(t, f.cloneDir())

	// With upstream gone, any fetch or re-clone would fail: success proves
	// the fast path.
	moved := f.up.Dir + ".moved"
	if err := os.Rename(f.up.Dir, moved); err != nil {
		t.Fatal(err)
	}
	d2 := f.checkout(t, f.c2, "b")
	if got := readFile(t, filepath.Join(d2, "file.txt")); got != "two" {
		t.Errorf("second worktree has %q, want two", got)
	}
	if inode(t, f.cloneDir()) != ino {
		t.Error("clone directory was recreated")
	}
	if exists(t, filepath.Join(f.cloneDir(), "FETCH_HEAD")) {
		t.Error("a fetch ran although the commit was present")
	}
}

func TestCheckoutFetchesNewCommit(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.checkout(t, f.c1, "a")
	ino := inode(t, f.cloneDir())

	c3 := f.up.Commit("three", map[string]string{"file.txt": "three"})
	d := f.checkout(t, c3, "b")
	if got := readFile(t, filepath.Join(d, "file.txt")); got != "three" {
		t.Errorf("worktree of new commit has %q, want three", got)
	}
	if inode(t, f.cloneDir()) != ino {
		t.Error("clone directory was recreated instead of fetched into")
	}
}

func TestCheckoutFetchesCommitOutsideBranches(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.checkout(t, f.c1, "a")

	// A pull request's commit, reachable only from refs/pull/1/head, which
	// the branch and tag refspecs do not bring in.
	f.up.Git("checkout", "--quiet", "-b", "pr")
	pr := f.up.Commit("pr", map[string]string{"file.txt": "pr"})
	f.up.Git("update-ref", "refs/pull/1/head", pr)
	f.up.Git("checkout", "--quiet", "main")
	f.up.Git("branch", "--quiet", "-D", "pr")

	d := f.checkout(t, pr, "pr")
	if got := readFile(t, filepath.Join(d, "file.txt")); got != "pr" {
		t.Errorf("worktree of pull request commit has %q, want pr", got)
	}
}

func TestCheckoutUnknownCommit(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	unknown := strings.Repeat("0123456789", 4)
	dst := filepath.Join(f.work, "x")
	err := f.cache.Checkout(context.Background(), f.up.url(), unknown, dst)
	if !errors.Is(err, ErrCommitNotFound) {
		t.Fatalf("Checkout of unknown commit = %v, want ErrCommitNotFound", err)
	}
	if msg := err.Error(); !strings.Contains(msg, unknown) || !strings.Contains(msg, f.up.url()) {
		t.Errorf("error %q does not name the commit and URL", msg)
	}
	if exists(t, dst) {
		t.Error("failed checkout left its destination behind")
	}
}

func TestCheckoutConcurrent(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		commit := []string{f.c1, f.c2}[i%2]
		dst := filepath.Join(f.work, fmt.Sprint(i))
		wg.Go(func() { errs[i] = f.cache.Checkout(context.Background(), f.up.url(), commit, dst) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Checkout %d: %v", i, err)
			continue
		}
		want := []string{"one", "two"}[i%2]
		if got := readFile(t, filepath.Join(f.work, fmt.Sprint(i), "file.txt")); got != want {
			t.Errorf("worktree %d has %q, want %q", i, got, want)
		}
	}
	if got := strings.Count(testkit.Git(t, f.cloneDir(), "worktree", "list", "--porcelain"), "detached"); got != n {
		t.Errorf("clone has %d detached worktrees, want %d", got, n)
	}
}

func TestCheckoutConcurrentProcesses(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Two helper processes and two goroutines race for the same fresh
	// cache; only the flock keeps them from cloning over each other.
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(),
			helperRoot+"="+f.cache.Root,
			helperURL+"="+f.up.url(),
			helperCommit+"="+f.c1,
			helperDst+"="+filepath.Join(f.work, fmt.Sprint("proc", i)),
		)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() && stderr.Len() > 0 {
				t.Logf("helper %d: %s", i, stderr.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			errs[i] = f.cache.Checkout(context.Background(), f.up.url(), f.c2, filepath.Join(f.work, fmt.Sprint("goroutine", i)))
		})
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v", i, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(f.work, "proc1", "file.txt")); got != "one" {
		t.Errorf("helper's worktree has %q, want one", got)
	}
}

func TestCheckoutRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	ctx := context.Background()
	dst := filepath.Join(f.work, "x")

	if err := f.cache.Checkout(ctx, "ext::sh -c touch% x", f.c1, dst); !errors.Is(err, ErrBadRepo) {
		t.Errorf("Checkout of ext:: URL = %v, want ErrBadRepo", err)
	}
	if err := f.cache.Checkout(ctx, f.up.url(), "HEAD", dst); !errors.Is(err, ErrBadCommit) {
		t.Errorf("Checkout of HEAD = %v, want ErrBadCommit", err)
	}
	if err := f.cache.Checkout(ctx, f.up.url(), f.c1, ""); err == nil {
		t.Error("Checkout to empty path succeeded")
	}
	if err := f.cache.Checkout(ctx, f.up.url(), f.c1, f.cache.Root); err == nil {
		t.Error("Checkout onto the cache root succeeded")
	}
	if entries, _ := os.ReadDir(f.cache.Root); len(entries) != 0 {
		t.Errorf("rejected checkouts touched the cache: %v", entries)
	}

	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.cache.Checkout(ctx, f.up.url(), f.c1, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Checkout to existing directory = %v, want fs.ErrExist", err)
	}
	if err := (&Cache{}).Checkout(ctx, f.up.url(), f.c1, filepath.Join(f.work, "y")); err == nil {
		t.Error("Checkout with empty Root succeeded")
	}
}

func TestCheckoutWaitsForLockUntilCancelled(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	if err := os.MkdirAll(f.cache.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(context.Background(), filepath.Join(f.cache.Root, repoKey(f.up.url())+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.cache.Checkout(ctx, f.up.url(), f.c1, filepath.Join(f.work, "x")) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Checkout while locked = %v, want context.Canceled", err)
	}
	if exists(t, f.cloneDir()) {
		t.Error("Checkout cloned without holding the lock")
	}
}
