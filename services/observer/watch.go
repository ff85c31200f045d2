package observer

// Watching a local repository for ref changes.
//
// Polling alone makes a new commit wait up to Interval before it is submitted.
// For a local repository the observer also asks the operating system (inotify,
// kqueue, ReadDirectoryChangesW, through fsnotify) to report changes to the files
// git keeps branch tips in, and looks as soon as one changes: a commit is then
// submitted within milliseconds.
//
// Polling stays. It is the only mechanism for a URL, whose mirror changes only
// when fetched, and the safety net for a local repository, since events can be
// lost: a full kernel queue, a watch limit reached for a new directory, a network
// file system that reports nothing. Config.NoWatch turns watching off (for tests
// of polling, or a file system where watching misbehaves); the name is negative
// so that the zero Config, and every caller written before watching existed,
// gets the faster behaviour.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/services/gitrepo"
	"github.com/fsnotify/fsnotify"
)

// watchDebounce is how long after a ref change (which wakes the observer at once)
// further changes are gathered into one more wake, so that the several files one
// git command touches (a loose ref and packed-refs, HEAD and a branch, a new
// directory and the ref in it) cause two looks at most rather than one each.
var watchDebounce = 5 * time.Millisecond // a variable for tests

// gitDirTimeout bounds the git command that finds where the refs live.
const gitDirTimeout = 10 * time.Second

// errRemoteRepo is why a URL is not watched.
var errRemoteRepo = errors.New("not a local repository")

// refWatcher reports changes to a local repository's branches and HEAD.
//
// Git writes a ref as <name>.lock and renames it into place, rewrites packed-refs
// the same way, and deletes a loose ref outright; a look must follow the final
// rename, creation or removal. Lock files and everything else in the git
// directory (index, logs, objects) are ignored.
type refWatcher struct {
	w        *fsnotify.Watcher
	log      *slog.Logger
	tops     []string // git directory and common directory: HEAD and packed-refs
	heads    string   // <common dir>/refs/heads, watched with every directory below it
	reftable string   // <common dir>/reftable, for repositories using that ref format

	addWarned bool // a directory could not be watched; said once
	errWarned bool // the watcher reported an error; said once
}

// isLocalRepo reports whether url, as [gitrepo.Repo.URL] gives it, is a local
// repository: an absolute path rather than a URL or user@host:path.
func isLocalRepo(url string) bool {
	return filepath.IsAbs(url) && !strings.Contains(url, "://")
}

// watchRefs starts watching the local repository at repo. The caller must run
// the result, which closes it when done.
func watchRefs(ctx context.Context, repo string, log *slog.Logger) (*refWatcher, error) {
	if !isLocalRepo(repo) {
		return nil, errRemoteRepo
	}
	gitCtx, cancel := context.WithTimeout(ctx, gitDirTimeout)
	gitDir, commonDir, err := gitrepo.GitDirs(gitCtx, repo)
	cancel()
	if err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	rw := &refWatcher{
		w:        w,
		log:      log,
		tops:     []string{gitDir},
		heads:    filepath.Join(commonDir, "refs", "heads"),
		reftable: filepath.Join(commonDir, "reftable"),
	}
	if commonDir != gitDir {
		rw.tops = append(rw.tops, commonDir)
	}
	for _, d := range rw.tops {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
	}
	if err := rw.addTree(rw.heads); err != nil {
		w.Close()
		return nil, err
	}
	if fi, err := os.Stat(rw.reftable); err == nil && fi.IsDir() {
		if err := w.Add(rw.reftable); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", rw.reftable, err)
		}
	}
	return rw, nil
}

// addTree watches dir and every directory below it. Branch names may contain
// slashes, and git keeps feature/x as the file x in the directory feature.
func (rw *refWatcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (git prunes empty directories)
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if err := rw.w.Add(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}

// within reports whether path is root or below it.
func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+string(filepath.Separator))
}

// refChange reports whether ev may have moved a branch or HEAD.
func (rw *refWatcher) refChange(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Rename | fsnotify.Remove) {
		return false // Chmod: nothing git does to a ref
	}
	name := filepath.Base(ev.Name)
	if strings.HasSuffix(name, ".lock") {
		return false // not there yet: its rename (a Create of the final name) is
	}
	dir := filepath.Dir(ev.Name)
	switch {
	case within(ev.Name, rw.heads):
		return true
	case dir == rw.reftable:
		return name == "tables.list"
	case slices.Contains(rw.tops, dir):
		return name == "HEAD" || name == "packed-refs"
	}
	return false
}

// run sends on wake, without blocking, each time refs have changed (at once, then
// coalescing changes within watchDebounce), until ctx is done. It closes the
// watcher.
func (rw *refWatcher) run(ctx context.Context, wake chan<- struct{}) {
	defer rw.w.Close()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	// The first change wakes the observer at once; more within watchDebounce of
	// it are coalesced into one more wake at the window's end.
	armed, again := false, false
	notify := func() {
		select {
		case wake <- struct{}{}:
		default: // a look is due already
		}
	}
	changed := func() {
		if armed {
			again = true
			return
		}
		armed = true
		notify()
		debounce.Reset(watchDebounce)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-rw.w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) && ev.Name != rw.heads && within(ev.Name, rw.heads) {
				rw.addNew(ev.Name)
			}
			if rw.refChange(ev) {
				changed()
			}
		case err, ok := <-rw.w.Errors:
			if !ok {
				return
			}
			// Events may have been lost (a full queue): look to be sure.
			rw.warnErr("watching the repository", err)
			changed()
		case <-debounce.C:
			armed = false
			if again {
				again = false
				notify()
			}
		}
	}
}

// addNew watches a directory created below refs/heads, and any made inside it
// before the watch was in place. It is called before the look the creation
// causes, so that look sees every ref written before the watch existed.
func (rw *refWatcher) addNew(path string) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return // a ref, or already gone
	}
	if err := rw.addTree(path); err != nil && !errors.Is(err, fs.ErrNotExist) && !rw.addWarned {
		rw.addWarned = true
		rw.log.Warn("cannot watch a new branch directory; its branches are seen by polling only", "dir", path, "err", err)
	}
}

func (rw *refWatcher) warnErr(msg string, err error) {
	if rw.errWarned {
		rw.log.Debug(msg, "err", err)
		return
	}
	rw.errWarned = true
	rw.log.Warn(msg, "err", err)
}
