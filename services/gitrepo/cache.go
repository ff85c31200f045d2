package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Cache keeps one bare clone per repository under Root, named by the hex
// SHA-256 prefix (16 bytes, 32 hex characters) of the URL — never a path
// derived from the URL text — and checks commits out of it as worktrees.
//
// A Cache is safe for concurrent use, and several processes may share one
// Root: each repository is serialised by an exclusive flock(2) on a
// <hash>.lock file next to its clone, held while cloning, fetching and
// adding or removing worktrees. Worktrees themselves are independent once
// made, so tests of different commits run in parallel.
type Cache struct {
	Root string
}

// Checkout makes sure the cached clone of url exists and contains commit,
// then adds a worktree at dst with commit checked out on a detached HEAD.
// dst must not exist yet; its parent directories are created.
//
// The first use of a repository clones it. Later uses fetch branches and
// tags only when commit is not already present, and if it is still missing,
// ask the server for commit by id. A commit that cannot be found gives an
// error wrapping [ErrCommitNotFound].
//
// Release the worktree with [Cache.Remove].
func (c *Cache) Checkout(ctx context.Context, url, commit, dst string) error {
	if !ValidCommit(commit) {
		return fmt.Errorf("%w: %q", ErrBadCommit, abbreviate(commit))
	}
	b, err := newBareClone(c.Root, url)
	if err != nil {
		return err
	}
	dst, err = checkDst(b, dst)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("gitrepo: checkout destination %s: %w", dst, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gitrepo: checkout destination: %w", err)
	}

	unlock, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return b.checkout(ctx, commit, dst)
}

// Remove deletes the worktree at dst that [Cache.Checkout] made for url and
// forgets it in the clone, then lets git do its automatic housekeeping, which
// Checkout leaves out to be quick. It also cleans up after a worktree that is only
// partly there (already deleted by hand, say), and succeeds if dst is
// already gone.
func (c *Cache) Remove(ctx context.Context, url, dst string) error {
	b, err := newBareClone(c.Root, url)
	if err != nil {
		return err
	}
	dst, err = checkDst(b, dst)
	if err != nil {
		return err
	}
	unlock, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	if ok, err := b.exists(); err != nil {
		return err
	} else if !ok {
		// Without a clone nothing can be registered: just the directory.
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("gitrepo: remove worktree: %w", err)
		}
		return nil
	}
	if _, rmErr := git(ctx, b.dir, "worktree", "remove", "--force", "--", dst); rmErr != nil {
		// git refuses when dst is missing, locked or not a worktree;
		// deleting it directly and pruning below covers all of those.
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("gitrepo: remove worktree %s: %w (after %v)", dst, err, rmErr)
		}
	}
	// Drop the registration of any worktree whose directory is gone,
	// including dst if git's own removal did not run.
	if _, err := git(ctx, b.dir, "worktree", "prune"); err != nil {
		return fmt.Errorf("gitrepo: prune worktrees of %s: %w", b.shown, err)
	}
	// The housekeeping a fetch would do (packing loose objects now and then),
	// moved here: by now the job's result is on its way.
	if _, err := git(ctx, b.dir, "maintenance", "run", "--auto", "--quiet"); err != nil {
		return fmt.Errorf("gitrepo: maintenance of %s: %w", b.shown, err)
	}
	return nil
}

// checkDst makes dst absolute (git would otherwise resolve it against the
// clone directory) and refuses destinations that would clobber the cache.
func checkDst(b bareClone, dst string) (string, error) {
	if dst == "" {
		return "", errors.New("gitrepo: empty worktree path")
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return "", fmt.Errorf("gitrepo: worktree path: %w", err)
	}
	root := filepath.Dir(b.dir)
	if insideDir(root, dst) || insideDir(dst, b.dir) || insideDir(dst, b.dir+".tmp") || dst == b.lock {
		return "", fmt.Errorf("gitrepo: worktree path %s overlaps the cache in %s", dst, root)
	}
	return dst, nil
}
