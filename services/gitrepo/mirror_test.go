package gitrepo

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

func TestMirrorRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	up := newTestRepo(t)
	c1 := up.Commit("one", nil)
	root := t.TempDir()

	r, err := Open(ctx, up.url(), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.URL() != up.url() {
		t.Errorf("URL() = %q, want %q", r.URL(), up.url())
	}
	mirror := filepath.Join(root, repoKey(up.url()))
	if testkit.Git(t, mirror, "rev-parse", "--is-bare-repository") != "true" {
		t.Error("mirror is not a bare repository named by the URL hash")
	}
	if branch, commit, err := r.Head(ctx); err != nil || branch != "main" || commit != c1 {
		t.Errorf("Head = %q, %s, %v; want main, %s", branch, commit, err, c1)
	}

	c2 := up.Commit("two", nil)
	up.Git("branch", "dev", c1)
	if b, _ := r.Branches(ctx); b["main"] != c1 {
		t.Errorf("mirror saw upstream changes before Refresh: %v", b)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := r.Branches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"main": c2, "dev": c1}; !maps.Equal(b, want) {
		t.Errorf("Branches after Refresh = %v, want %v", b, want)
	}
	if got, err := r.NewCommits(ctx, c2, []string{c1}, 0); err != nil || len(got) != 1 || got[0].ID != c2 || got[0].Message != "two" {
		t.Errorf("NewCommits after Refresh = %+v, %v", got, err)
	}

	// The remote's default branch moves, and a branch is deleted.
	up.Git("symbolic-ref", "HEAD", "refs/heads/dev")
	up.Git("branch", "--quiet", "--delete", "--force", "main")
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if branch, commit, err := r.Head(ctx); err != nil || branch != "dev" || commit != c1 {
		t.Errorf("Head after default branch change = %q, %s, %v; want dev, %s", branch, commit, err, c1)
	}
	if b, _ := r.Branches(ctx); !maps.Equal(b, map[string]string{"dev": c1}) {
		t.Errorf("Branches after deletion = %v, want only dev", b)
	}

	// Opening again reuses the mirror rather than cloning anew.
	ino := inode(t, mirror)
	if _, err := Open(ctx, up.url(), root); err != nil {
		t.Fatal(err)
	}
	if inode(t, mirror) != ino {
		t.Error("second Open recreated the mirror")
	}
}

func TestMirrorOfEmptyRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	up := newTestRepo(t)
	r, err := Open(ctx, up.url(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Head(ctx); !errors.Is(err, ErrEmptyRepo) {
		t.Errorf("Head of empty mirror = %v, want ErrEmptyRepo", err)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatalf("Refresh of empty repository: %v", err)
	}
	c1 := up.Commit("first", nil)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if branch, commit, err := r.Head(ctx); err != nil || branch != "main" || commit != c1 {
		t.Errorf("Head after first commit = %q, %s, %v", branch, commit, err)
	}
}

func TestSHA256Repository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	up := newTestRepo(t, "--object-format=sha256")
	c1 := up.Commit("one", map[string]string{"file.txt": "one"})
	c2 := up.Commit("two", map[string]string{"file.txt": "two"})
	if len(c2) != 64 || !ValidCommit(c2) {
		t.Fatalf("commit id %q is not a valid SHA-256 id", c2)
	}

	r := openRepo(t, up.Dir)
	if got, err := r.NewCommits(ctx, c2, []string{c1}, 0); err != nil || len(got) != 1 || got[0].ID != c2 {
		t.Errorf("NewCommits = %+v, %v", got, err)
	}

	cache := &Cache{Root: t.TempDir()}
	dst := filepath.Join(t.TempDir(), "wt")
	if err := cache.Checkout(ctx, up.url(), c1, dst); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dst, "file.txt")); got != "one" {
		t.Errorf("worktree has %q, want one", got)
	}
}
