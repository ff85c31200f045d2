package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Repo is a repository being observed. A local repository is read in
// place; a remote one is read from a bare mirror that [Repo.Refresh]
// updates. A Repo is safe for concurrent use.
type Repo struct {
	url    string     // what runners should clone
	shown  string     // url for messages, without its password
	dir    string     // where git commands run
	mirror *bareClone // nil for a local repository
}

// Open opens the repository at urlOrPath.
//
// A URL (anything with "://", or user@host:path) must pass [CheckRepoURL];
// its bare mirror lives under mirrorRoot, named like [Cache] clones, and is
// cloned on first use. An existing mirror is not fetched: call
// [Repo.Refresh] before reading.
//
// Anything else is a local path, made absolute; it must be the top of a
// git repository (a work tree or a bare repository), or the error wraps
// [ErrNotRepo]. mirrorRoot is unused then.
func Open(ctx context.Context, urlOrPath, mirrorRoot string) (*Repo, error) {
	if isRemote(urlOrPath) {
		return openMirror(ctx, urlOrPath, mirrorRoot)
	}
	if urlOrPath == "" {
		return nil, fmt.Errorf("%w: empty path", ErrNotRepo)
	}
	path, err := filepath.Abs(urlOrPath)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: open %s: %w", urlOrPath, err)
	}
	if err := CheckRepoURL(path); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotRepo, path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s: not a directory", ErrNotRepo, path)
	}
	// The ceiling stops git from searching upwards, so a plain directory
	// that merely sits inside some other repository is not mistaken for
	// one (runners would clone the enclosing repository instead).
	check := invocation{
		dir:  path,
		args: []string{"rev-parse", "--absolute-git-dir"},
		env:  []string{"GIT_CEILING_DIRECTORIES=" + filepath.Dir(path)},
	}
	if _, err := check.run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gitrepo: open %s: %w", path, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNotRepo, path, err)
	}
	return &Repo{url: path, shown: path, dir: path}, nil
}

func openMirror(ctx context.Context, url, mirrorRoot string) (*Repo, error) {
	b, err := newBareClone(mirrorRoot, url)
	if err != nil {
		return nil, err
	}
	unlock, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := b.ensure(ctx); err != nil {
		return nil, err
	}
	return &Repo{url: url, shown: b.shown, dir: b.dir, mirror: &b}, nil
}

// isRemote reports whether s names a repository by URL rather than by
// local path, following git's own distinction.
func isRemote(s string) bool {
	return strings.Contains(s, "://") || isSCPLike(s)
}

// URL returns what runners should clone: the absolute path of a local
// repository, or the URL of a remote one.
func (r *Repo) URL() string { return r.url }

// Refresh fetches a remote repository's branches and tags into the mirror,
// pruning deleted ones, and follows a change of its default branch. For a
// local repository it does nothing: reads already see the live state.
func (r *Repo) Refresh(ctx context.Context) error {
	if r.mirror == nil {
		return nil
	}
	unlock, err := r.mirror.acquire(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.mirror.fetch(ctx, true); err != nil {
		return err
	}
	return r.syncHead(ctx)
}

// syncHead points the mirror's HEAD at the remote's default branch. Fetch
// never updates HEAD in git 2.39, so without this [Repo.Head] would report
// the default branch as of the first clone forever.
func (r *Repo) syncHead(ctx context.Context) error {
	out, err := git(ctx, r.dir, "ls-remote", "--symref", "origin", "HEAD")
	if err != nil {
		return fmt.Errorf("gitrepo: default branch of %s: %w", r.shown, err)
	}
	var target string
	for _, line := range strings.Split(string(out), "\n") {
		if ref, ok := strings.CutPrefix(line, "ref: "); ok {
			target, _, _ = strings.Cut(ref, "\t")
			break
		}
	}
	// No symref: an empty repository, or a server too old to say. The
	// target comes from the network, so it must stay within refs/heads;
	// symbolic-ref validates the rest of the name.
	if !strings.HasPrefix(target, "refs/heads/") {
		return nil
	}
	if cur, err := git(ctx, r.dir, "symbolic-ref", "--quiet", "HEAD"); err == nil && strings.TrimSpace(string(cur)) == target {
		return nil
	}
	if _, err := git(ctx, r.dir, "symbolic-ref", "HEAD", target); err != nil {
		return fmt.Errorf("gitrepo: set default branch of %s: %w", r.shown, err)
	}
	return nil
}

// Branches maps each branch's short name (without refs/heads/) to the
// commit it points at.
func (r *Repo) Branches(ctx context.Context) (map[string]string, error) {
	branches, _, err := r.Refs(ctx)
	return branches, err
}

// Refs is [Repo.Branches] plus the branch HEAD is on ("" when detached, or
// when HEAD's branch has no commit yet), read by one git command.
func (r *Repo) Refs(ctx context.Context) (branches map[string]string, head string, err error) {
	// The full refname is stripped by hand because %(refname:short) turns
	// into "heads/x" when a tag is also called x. %(HEAD) is "*" for the
	// branch HEAD points at.
	out, err := git(ctx, r.dir, "for-each-ref", "--format=%(objecttype)%00%(refname)%00%(objectname)%00%(HEAD)", "refs/heads")
	if err != nil {
		return nil, "", fmt.Errorf("gitrepo: list branches of %s: %w", r.shown, err)
	}
	branches = make(map[string]string)
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		fields := strings.Split(string(line), "\x00")
		if len(fields) != 4 {
			return nil, "", fmt.Errorf("gitrepo: list branches of %s: unexpected line %q", r.shown, line)
		}
		typ, ref, id := fields[0], fields[1], fields[2]
		name, ok := strings.CutPrefix(ref, "refs/heads/")
		// A branch pointing at something other than a commit is not
		// something a runner could test.
		if !ok || typ != "commit" || !ValidCommit(id) {
			continue
		}
		branches[name] = id
		if fields[3] == "*" {
			head = name
		}
	}
	return branches, head, nil
}

// Head returns the branch HEAD is on and the commit it points at. branch is
// "" when HEAD is detached; for a mirror it is the remote's default branch.
// A HEAD without commits gives an error wrapping [ErrEmptyRepo].
func (r *Repo) Head(ctx context.Context) (branch, commit string, err error) {
	out, err := git(ctx, r.dir, "symbolic-ref", "--quiet", "HEAD")
	switch {
	case err == nil:
		ref := strings.TrimSpace(string(out))
		branch = strings.TrimPrefix(ref, "refs/heads/")
	case exitCode(ctx, err) == 1:
		// Exit status 1 with --quiet means detached.
	default:
		return "", "", fmt.Errorf("gitrepo: HEAD of %s: %w", r.shown, err)
	}
	out, err = git(ctx, r.dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		if exitCode(ctx, err) == 1 {
			return "", "", fmt.Errorf("%w: %s (HEAD is %q)", ErrEmptyRepo, r.shown, branch)
		}
		return "", "", fmt.Errorf("gitrepo: HEAD of %s: %w", r.shown, err)
	}
	commit = strings.TrimSpace(string(out))
	if !ValidCommit(commit) {
		return "", "", fmt.Errorf("gitrepo: HEAD of %s: unexpected object id %q", r.shown, commit)
	}
	return branch, commit, nil
}
