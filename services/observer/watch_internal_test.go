package observer

import (
	"path/filepath"
	"testing"

	"github.com/fsnotify/fsnotify"
)

func TestRefChange(t *testing.T) {
	root := t.TempDir()
	common := filepath.Join(root, "repo", ".git")
	own := filepath.Join(common, "worktrees", "wt")
	rw := &refWatcher{
		tops:     []string{own, common},
		heads:    filepath.Join(common, "refs", "heads"),
		reftable: filepath.Join(common, "reftable"),
	}
	for _, tc := range []struct {
		op   fsnotify.Op
		path string
		want bool
	}{
		{fsnotify.Create, "refs/heads/main", true}, // renamed into place
		{fsnotify.Remove, "refs/heads/main", true}, // branch deleted
		{fsnotify.Write, "refs/heads/main", true},
		{fsnotify.Create, "refs/heads/feature", true}, // new directory
		{fsnotify.Create, "refs/heads/feature/x", true},
		{fsnotify.Create, "refs/heads/team/a/b", true},
		{fsnotify.Create, "refs/heads/main.lock", false},
		{fsnotify.Write, "refs/heads/main.lock", false},
		{fsnotify.Rename, "refs/heads/main.lock", false},
		{fsnotify.Chmod, "refs/heads/main", false},
		{fsnotify.Create, "packed-refs", true},
		{fsnotify.Create, "packed-refs.lock", false},
		{fsnotify.Create, "HEAD", true},
		{fsnotify.Create, "worktrees/wt/HEAD", true},
		{fsnotify.Create, "HEAD.lock", false},
		{fsnotify.Write, "index", false},
		{fsnotify.Create, "index.lock", false},
		{fsnotify.Create, "ORIG_HEAD", false},
		{fsnotify.Create, "FETCH_HEAD", false},
		{fsnotify.Create, "COMMIT_EDITMSG", false},
		{fsnotify.Create, "worktrees/wt/index", false},
		{fsnotify.Create, "refs/tags/v1", false},
		{fsnotify.Create, "refs/remotes/origin/main", false},
		{fsnotify.Create, "refs/headsx/main", false},
		{fsnotify.Create, "logs/refs/heads/main", false},
		{fsnotify.Create, "reftable/tables.list", true},
		{fsnotify.Create, "reftable/tables.list.lock", false},
		{fsnotify.Create, "reftable/0x01-0x02-1234.ref", false},
	} {
		ev := fsnotify.Event{Name: filepath.Join(common, filepath.FromSlash(tc.path)), Op: tc.op}
		if got := rw.refChange(ev); got != tc.want {
			t.Errorf("%v %s: refChange %v, want %v", tc.op, tc.path, got, tc.want)
		}
	}
}

func TestIsLocalRepo(t *testing.T) {
	for url, want := range map[string]bool{
		"/srv/git/repo":                  true,
		"https://example.com/repo.git":   false,
		"ssh://git@example.com/repo.git": false,
		"git@example.com:repo.git":       false,
		"file:///srv/git/repo":           false,
	} {
		if got := isLocalRepo(url); got != want {
			t.Errorf("isLocalRepo(%q) = %v, want %v", url, got, want)
		}
	}
}
