package gitrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fetchRefspecs mirror branches and tags (force-pushes included) but not
// other refs such as refs/pull/*, which on hosting services can outnumber
// branches by orders of magnitude. Commits only reachable from those are
// fetched one by one on demand.
var fetchRefspecs = []string{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}

// bareClone is a bare clone of url kept under a root directory, shared by
// the runner cache and the observer's mirrors. Every mutation happens while
// holding its lock.
type bareClone struct {
	url   string
	shown string // url for messages, without its password
	dir   string // <root>/<hash>
	lock  string // <root>/<hash>.lock
}

// repoKey is the on-disk name for url: a hash, so that no part of a
// network-supplied URL ever becomes part of a path.
func repoKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:16])
}

// newBareClone validates url and locates its clone under root. It touches
// nothing on disk.
func newBareClone(root, url string) (bareClone, error) {
	if err := CheckRepoURL(url); err != nil {
		return bareClone{}, err
	}
	if root == "" {
		return bareClone{}, errors.New("gitrepo: no root directory for clones")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return bareClone{}, fmt.Errorf("gitrepo: root directory: %w", err)
	}
	key := repoKey(url)
	return bareClone{
		url:   url,
		shown: redactURL(url),
		dir:   filepath.Join(root, key),
		lock:  filepath.Join(root, key+".lock"),
	}, nil
}

// acquire creates the root if needed and takes the clone's lock.
func (b bareClone) acquire(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(b.dir), 0o755); err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	return lockFile(ctx, b.lock)
}

// exists reports whether the clone has been made.
func (b bareClone) exists() (bool, error) {
	_, err := os.Stat(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gitrepo: %w", err)
	}
	return true, nil
}

// ensure clones the repository unless it is already there, and reports
// whether it cloned. The caller holds the lock.
//
// The clone is made under a temporary name and renamed into place, so the
// final directory exists only once it is complete: a runner killed mid-clone
// leaves debris that the next attempt discards, never a half clone that
// would be mistaken for a good one.
func (b bareClone) ensure(ctx context.Context) (cloned bool, err error) {
	if ok, err := b.exists(); ok || err != nil {
		return false, err
	}
	tmp := b.dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return false, fmt.Errorf("gitrepo: clean up interrupted clone: %w", err)
	}
	if _, err := git(ctx, filepath.Dir(b.dir), "clone", "--bare", "--quiet", "--", b.url, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return false, fmt.Errorf("gitrepo: clone %s: %w", b.shown, err)
	}
	if err := os.Rename(tmp, b.dir); err != nil {
		_ = os.RemoveAll(tmp)
		return false, fmt.Errorf("gitrepo: clone %s: %w", b.shown, err)
	}
	return true, nil
}

// fetch brings branches and tags up to date, dropping deleted ones. The
// caller holds the lock. Without maintenance, git's automatic housekeeping is
// left out (the caller runs it later, off the path a user is waiting on).
func (b bareClone) fetch(ctx context.Context, maintenance bool) error {
	args := []string{"fetch", "--quiet", "--prune", "--no-write-fetch-head"}
	if !maintenance {
		args = append(args, "--no-auto-maintenance")
	}
	args = append(append(args, "origin"), fetchRefspecs...)
	if _, err := git(ctx, b.dir, args...); err != nil {
		return fmt.Errorf("gitrepo: fetch %s: %w", b.shown, err)
	}
	return nil
}

// checkout makes sure the clone exists and adds a worktree at dst with commit
// checked out, fetching only when the commit is missing. The caller holds the
// lock.
//
// Adding the worktree is what tells whether the commit is there: git checks the
// commit before it creates anything. So a commit already fetched costs one git
// command, and a new one (the usual case: a commit just pushed) three: the
// failed add, the fetch, the add.
func (b bareClone) checkout(ctx context.Context, commit, dst string) error {
	cloned, err := b.ensure(ctx)
	if err != nil {
		return err
	}
	// --force only lifts the refusal to reuse a path that is still registered
	// for a worktree whose directory was deleted by hand; dst was checked to be
	// absent. The commit is hex, so it cannot be taken for an option, and the
	// path follows "--".
	add := func() error {
		_, err := git(ctx, b.dir, "worktree", "add", "--quiet", "--detach", "--force", "--", dst, commit)
		return err
	}
	if add() == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !cloned {
		if err := b.fetch(ctx, false); err != nil {
			return err
		}
		if add() == nil {
			return nil
		}
	}
	// The commit may be reachable only from refs we do not mirror (a pull
	// request, say); most servers hand those out when asked by id. A failure
	// here is expected for unknown commits, so it only adds detail.
	_, fetchErr := git(ctx, b.dir, "fetch", "--quiet", "--no-write-fetch-head", "--no-auto-maintenance", "origin", commit)
	addErr := add()
	if addErr == nil {
		return nil
	}
	if ok, err := hasCommit(ctx, b.dir, commit); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("gitrepo: check out %s of %s: %w", commit, b.shown, addErr)
	}
	if fetchErr != nil {
		return fmt.Errorf("%w: %s in %s (%v)", ErrCommitNotFound, commit, b.shown, fetchErr)
	}
	return fmt.Errorf("%w: %s in %s", ErrCommitNotFound, commit, b.shown)
}

// hasCommit reports whether the repository in dir contains commit, which
// must already be validated.
func hasCommit(ctx context.Context, dir, commit string) (bool, error) {
	_, err := git(ctx, dir, "cat-file", "-e", commit+"^{commit}")
	if err == nil {
		return true, nil
	}
	if exitCode(ctx, err) != -1 {
		return false, nil
	}
	return false, fmt.Errorf("gitrepo: look up %s: %w", commit, err)
}

// insideDir reports whether path is dir or lies beneath it. Both must be
// clean absolute paths. The separator is trimmed first because "/" is the
// one clean path that already ends in it.
func insideDir(path, dir string) bool {
	sep := string(filepath.Separator)
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, sep)+sep)
}
