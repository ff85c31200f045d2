package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

func TestRemove(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	ctx := context.Background()
	dst := f.checkout(t, f.c1, "a")
	keep := f.checkout(t, f.c2, "b")

	if err := f.cache.Remove(ctx, f.up.url(), dst); err != nil {
		t.Fatal(err)
	}
	if exists(t, dst) {
		t.Error("worktree directory still exists")
	}
	list := testkit.Git(t, f.cloneDir(), "worktree", "list", "--porcelain")
	if strings.Contains(list, dst) {
		t.Errorf("git worktree list still lists %s:\n%s", dst, list)
	}
	if !strings.Contains(list, keep) {
		t.Errorf("git worktree list lost the other worktree:\n%s", list)
	}
	// Removing again is harmless.
	if err := f.cache.Remove(ctx, f.up.url(), dst); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestRemoveAfterManualDelete(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	dst := f.checkout(t, f.c1, "a")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	// The stale registration does not block reusing the path...
	f.checkout(t, f.c2, "a")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	// ...and Remove clears it.
	if err := f.cache.Remove(context.Background(), f.up.url(), dst); err != nil {
		t.Fatal(err)
	}
	if list := testkit.Git(t, f.cloneDir(), "worktree", "list"); strings.Contains(list, dst) {
		t.Errorf("git worktree list still lists %s:\n%s", dst, list)
	}
}

func TestRemoveWithoutClone(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	dst := filepath.Join(f.work, "stray")
	if err := os.MkdirAll(filepath.Join(dst, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.cache.Remove(context.Background(), f.up.url(), dst); err != nil {
		t.Fatal(err)
	}
	if exists(t, dst) {
		t.Error("directory still exists")
	}
}

func TestCheckoutErrorHidesPassword(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1 of the loopback address, so the clone
	// fails at once, and its error must still be safe to log.
	cache := &Cache{Root: t.TempDir()}
	err := cache.Checkout(context.Background(), "https://bot:s3cret@127.0.0.1:1/x.git", strings.Repeat("a", 40), filepath.Join(t.TempDir(), "x"))
	if err == nil {
		t.Fatal("Checkout from a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error reveals the password: %v", err)
	}
	if entries, _ := os.ReadDir(cache.Root); len(entries) != 1 {
		t.Errorf("failed clone left %d entries in the cache root, want only the lock", len(entries))
	}
}

func TestRemoveRefusesCacheAndAncestors(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.checkout(t, f.c1, "a")
	ctx := context.Background()
	for _, dst := range []string{f.cache.Root, filepath.Dir(f.cache.Root), f.cloneDir(), filepath.Join(f.cloneDir(), "objects")} {
		if err := f.cache.Remove(ctx, f.up.url(), dst); err == nil {
			t.Errorf("Remove(%s) succeeded", dst)
		}
	}
	if !exists(t, filepath.Join(f.cloneDir(), "HEAD")) {
		t.Fatal("Remove damaged the cache")
	}
}

func TestInsideDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a", true},
		{"/a", "/a", true},
		{"/ab", "/a", false},
		{"/a", "/a/b", false},
		{"/a", "/", true},
		{"/", "/", true},
	}
	for _, tt := range tests {
		if got := insideDir(tt.path, tt.dir); got != tt.want {
			t.Errorf("insideDir(%q, %q) = %v, want %v", tt.path, tt.dir, got, tt.want)
		}
	}
}
