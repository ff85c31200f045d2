package observer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/services/gitrepo"
)

// Notified is one commit that Notify submitted.
type Notified struct {
	Branch, Commit, JobID string
	Duplicate             bool // the dispatcher already had it queued or running
}

// RepoError is a failure of Notify that is the user's to fix: a repository or
// a branch that does not exist. Any other failure is the dispatcher's or the
// network's.
type RepoError struct{ Err error }

func (e *RepoError) Error() string { return e.Err.Error() }
func (e *RepoError) Unwrap() error { return e.Err }

// Notify submits the tips of branches of cfg.Repo (of HEAD's branch when none
// is named) once, as an observer would, and returns what it submitted even when
// it fails part way: the work of a git hook, so that a commit is tested at once
// instead of at an observer's next look. Branches may be given as refs/heads/X.
func Notify(ctx context.Context, cfg Config, branches []string) ([]Notified, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	repo, err := gitrepo.Open(ctx, cfg.Repo, filepath.Join(cfg.DataDir, "mirrors"))
	if err == nil {
		err = repo.Refresh(ctx)
	}
	if err != nil {
		return nil, &RepoError{err}
	}
	targets, err := tips(ctx, repo, cfg.Repo, branches)
	if err != nil {
		return nil, &RepoError{err}
	}
	conn, _, err := peer.Dial(ctx, cfg.Dispatcher, cfg.hello(), peer.Options{TLS: cfg.TLS})
	if err != nil {
		return nil, fmt.Errorf("dispatcher %s: %w", cfg.Dispatcher, err)
	}
	var served sync.WaitGroup
	served.Go(func() { conn.Serve(ctx, servesNothing) })
	defer func() { conn.Close(); served.Wait() }()
	var done []Notified
	for _, tg := range targets {
		c, err := repo.Commit(ctx, tg.commit)
		if err != nil {
			return done, err
		}
		got, err := submit(ctx, conn, repo.URL(), tg.branch, c)
		if err != nil {
			return done, fmt.Errorf("submitting %s: %w", c.ID, err)
		}
		done = append(done, Notified{Branch: tg.branch, Commit: c.ID, JobID: got.JobID, Duplicate: got.Duplicate})
	}
	return done, nil
}

type tip struct{ branch, commit string }

// tips finds the commit at the tip of each branch, or HEAD's when none is named.
func tips(ctx context.Context, repo *gitrepo.Repo, name string, branches []string) ([]tip, error) {
	if len(branches) == 0 {
		b, c, err := repo.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return []tip{{b, c}}, nil
	}
	all, err := repo.Branches(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []tip
	for _, ref := range branches {
		b := strings.TrimPrefix(ref, "refs/heads/")
		c, ok := all[b]
		if !ok {
			return nil, fmt.Errorf("no branch %q in %s", ref, name)
		}
		out = append(out, tip{b, c})
	}
	return out, nil
}
