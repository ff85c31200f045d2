package observer

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/fsnotify/fsnotify"
)

// watchHeads runs a refWatcher on a bare refs/heads directory and returns it with
// the wake channel; it is stopped when the test ends.
func watchHeads(t *testing.T, debounce time.Duration) (heads string, wake chan struct{}) {
	t.Helper()
	old := watchDebounce
	watchDebounce = debounce
	common := filepath.Join(t.TempDir(), ".git")
	heads = filepath.Join(common, "refs", "heads")
	if err := os.MkdirAll(heads, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	rw := &refWatcher{w: w, log: slog.New(slog.DiscardHandler), tops: []string{common}, heads: heads,
		reftable: filepath.Join(common, "reftable")}
	if err := rw.addTree(heads); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wake = make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { rw.run(ctx, wake) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		watchDebounce = old
	})
	return heads, wake
}

func writeRef(t *testing.T, heads, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(heads, name), []byte("0123456789012345678901234567890123456789\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A ref change wakes the observer at once, not after the debounce window.
func TestWatchWakesAtOnce(t *testing.T) {
	heads, wake := watchHeads(t, time.Hour)
	writeRef(t, heads, "main")
	select {
	case <-wake:
	case <-time.After(testkit.Patience):
		t.Fatalf("no wake %v after a ref changed", testkit.Patience)
	}
}

// Changes right after the first are gathered into one more wake at the end of the
// window: none is missed, and they do not cause a wake each.
//
// The window is long enough for the three writes to fall inside it even when a
// busy machine wakes the test late after the first wake.
func TestWatchCoalescesFollowingChanges(t *testing.T) {
	heads, wake := watchHeads(t, 5*time.Second)
	writeRef(t, heads, "main")
	select {
	case <-wake:
	case <-time.After(testkit.Patience):
		t.Fatal("no wake for the first change")
	}
	for _, name := range []string{"a", "b", "c"} {
		writeRef(t, heads, name)
	}
	select {
	case <-wake:
	case <-time.After(testkit.Patience):
		t.Fatal("changes made within the window were never reported")
	}
	select {
	case <-wake:
		t.Fatal("a third wake: the changes within the window were not coalesced")
	case <-time.After(time.Second): // a bounded look for something that must not happen
	}
}

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
