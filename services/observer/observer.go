// Package observer watches a git repository and submits every new commit on every
// branch to the dispatcher, oldest first, remembering on disk what it submitted.
package observer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/gitrepo"
)

// Config configures an Observer.
type Config struct {
	Dispatcher string
	TLS        *tls.Config // speak TLS to the dispatcher with it (net/tlsconf.Client); nil is plaintext
	Token      string
	Name       string
	Repo       string        // local path or URL
	Interval   time.Duration // default 5s
	LatestOnly bool          // submit only each branch's newest commit
	DataDir    string        // state and mirrors; default ".eventide/observer"
	MaxNew     int           // commits submitted per branch per look at most; default 100
	NoWatch    bool          // poll only, not watching a local repository for ref changes; see watch.go
	// DispatcherTimeout ends Run with an error wrapping peer.ErrDispatcherGone
	// after this long without a connection; 0 waits for ever.
	DispatcherTimeout time.Duration
	Logger            *slog.Logger
}

// Observer submits new commits of one repository.
type Observer struct {
	cfg  Config
	log  *slog.Logger
	repo *gitrepo.Repo
	st   *state
	lock *dirlock.Lock // on st's file, from New until Run returns

	mu      sync.Mutex
	conn    *peer.Conn
	connect chan struct{}  // signalled on each new connection
	pos     *wire.Position // the dispatcher's record, fetched on connecting, for look to apply

	badBranch map[string]struct{} // branches whose names the protocol refuses
}

// New opens the repository and the saved state, and locks the state against a
// second observer of the repository in DataDir (a *dirlock.HeldError), until Run
// returns; errors here are the user's to fix (a path that is not a repository, a
// corrupt state file, an observer already running).
func New(ctx context.Context, cfg Config) (*Observer, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(".eventide", "observer")
	}
	if cfg.MaxNew <= 0 {
		cfg.MaxNew = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	repo, err := gitrepo.Open(ctx, cfg.Repo, filepath.Join(cfg.DataDir, "mirrors"))
	if err != nil {
		return nil, err
	}
	if err := wire.CheckRepo(repo.URL()); err != nil {
		return nil, fmt.Errorf("repository %s cannot be sent to runners: %w", cfg.Repo, err)
	}
	lock, err := dirlock.Acquire(lockPath(cfg.DataDir, repo.URL()), "the observer's state for "+cfg.Repo)
	if err != nil {
		return nil, err
	}
	st, err := loadState(cfg.DataDir, repo.URL())
	if err != nil {
		lock.Release()
		return nil, err
	}
	return &Observer{cfg: cfg, log: cfg.Logger, repo: repo, st: st, lock: lock, connect: make(chan struct{}, 1),
		badBranch: make(map[string]struct{})}, nil
}

// Run watches until ctx is cancelled (it then returns nil), or until no
// dispatcher was reachable for DispatcherTimeout: it returns an error wrapping
// peer.ErrDispatcherGone. Either way what it submitted is saved.
func (o *Observer) Run(ctx context.Context) error {
	defer o.lock.Release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rd := &peer.Redialer{
		Addr:        o.cfg.Dispatcher,
		Hello:       o.cfg.hello,
		GiveUpAfter: o.cfg.DispatcherTimeout,
		Logger:      o.log,
		Options:     peer.Options{TLS: o.cfg.TLS},
	}
	var wg sync.WaitGroup
	var dialErr error
	wg.Go(func() {
		dialErr = rd.Run(ctx, o.connected)
		cancel()
	})
	defer wg.Wait()

	// wake is signalled when the watcher sees a ref change. The watcher is in
	// place before the first look, so that no change can fall between the two.
	wake := make(chan struct{}, 1)
	watching := false
	if !o.cfg.NoWatch {
		rw, err := watchRefs(ctx, o.repo.URL(), o.log)
		switch {
		case err == nil:
			watching = true
			wg.Go(func() { rw.run(ctx, wake) })
		case errors.Is(err, errRemoteRepo): // a mirror changes only when fetched
		case ctx.Err() == nil:
			o.log.Warn("cannot watch the repository; polling only", "repo", o.repo.URL(), "err", err)
		}
	}

	o.log.Info("observing", "repo", o.repo.URL(), "interval", o.cfg.Interval, "latest_only", o.cfg.LatestOnly, "watch", watching)
	t := time.NewTicker(o.cfg.Interval)
	defer t.Stop()
	for {
		if err := o.look(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("look at repository", "repo", o.repo.URL(), "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			// Each acknowledged commit was saved as it came; a look cut short
			// may still hold a branch's tip past them, or a deleted branch.
			if o.st.Started {
				if err := o.st.save(); err != nil {
					o.log.Error("saving what was submitted", "err", err)
				}
			}
			if dialErr != nil {
				return fmt.Errorf("giving up: %w", dialErr)
			}
			return nil
		case <-t.C:
		case <-o.connect: // deliver what is pending at once
		case <-wake: // a ref changed: look at once
		}
	}
}

func (o *Observer) connected(ctx context.Context, c *peer.Conn, w *wire.Welcome) error {
	// The dispatcher's store says which commit it last accepted on each branch:
	// that is where to resume, whatever happened to this observer's own state
	// file (lost, or behind after a crash between a submission and its save).
	var pos wire.Position
	var asking sync.WaitGroup
	defer asking.Wait() // before conn is cleared below, so it is not set again after
	asking.Go(func() {
		// Served concurrently: Call needs the connection's read loop running.
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := fmt.Errorf("the dispatcher speaks protocol version %d; positions came in 3", w.ProtocolVersion)
		if w.ProtocolVersion >= 3 {
			err = c.Call(callCtx, wire.MethodObserverPosition, &wire.PositionQuery{Repo: o.repo.URL()}, &pos)
		}
		if err == nil {
			err = pos.Validate()
		}
		o.mu.Lock()
		if err == nil {
			o.pos = &pos
		} else {
			// An older dispatcher, or none of this repository: the state file
			// alone says where to resume.
			o.log.Info("dispatcher gave no position; resuming from the state file", "err", err)
		}
		o.conn = c
		o.mu.Unlock()
		select {
		case o.connect <- struct{}{}:
		default:
		}
	})
	err := c.Serve(ctx, servesNothing)
	asking.Wait()
	o.mu.Lock()
	o.conn = nil
	o.mu.Unlock()
	return err
}

// applyPosition takes the dispatcher's record as the starting point where it has
// one: for each branch it knows, the commit it last accepted.
func (o *Observer) applyPosition(pos *wire.Position) error {
	if !pos.Known {
		return nil
	}
	if o.st.Branches == nil {
		o.st.Branches = make(map[string]string)
	}
	changed := !o.st.Started
	for b, c := range pos.Branches {
		if o.st.Branches[b] != c {
			o.log.Info("resuming from the dispatcher's position", "branch", b, "commit", c[:12], "state file had", o.st.Branches[b])
			o.st.Branches[b] = c
			changed = true
		}
	}
	o.st.Started = true
	if changed {
		return o.st.save()
	}
	return nil
}

var errNotConnected = errors.New("not connected to the dispatcher")

// look finds what is new and submits it, oldest first, saving progress after each
// acknowledged commit, and stops at the first failure so nothing is skipped.
func (o *Observer) look(ctx context.Context) error {
	o.mu.Lock()
	conn, pos := o.conn, o.pos
	o.pos = nil
	o.mu.Unlock()
	if conn == nil {
		return nil // the dialer logs why; we look again once connected
	}
	if pos != nil {
		if err := o.applyPosition(pos); err != nil {
			return err
		}
	}
	if err := o.repo.Refresh(ctx); err != nil {
		return err
	}
	if !o.st.Started {
		return o.firstLook(ctx, conn)
	}
	branches, head, err := o.repo.Refs(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(branches))
	for b := range branches {
		names = append(names, b)
	}
	// HEAD's branch first, so that its new commits are labelled with it rather than
	// with a branch made on top of them since the last look.
	slices.SortFunc(names, func(a, b string) int {
		if (a == head) != (b == head) {
			if a == head {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	// Tips known before this look, deleted branches' included: a branch merged and
	// deleted since the last look must still exclude its already-tested commits.
	seen := make([]string, 0, len(o.st.Branches))
	for _, c := range o.st.Branches {
		seen = append(seen, c)
	}
	changed := false
	for b := range o.st.Branches {
		if _, ok := branches[b]; !ok {
			delete(o.st.Branches, b) // deleted branch
			changed = true
		}
	}
	for _, b := range names {
		tip := branches[b]
		if o.st.Branches[b] == tip {
			continue
		}
		if err := wire.CheckBranch(b); err != nil {
			if _, warned := o.badBranch[b]; !warned {
				o.log.Error("branch name cannot be sent; not testing it", "err", err)
			}
			o.badBranch[b] = struct{}{}
			continue
		}
		if err := o.submitBranch(ctx, conn, b, tip, seen); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return o.st.save()
	}
	return nil
}

func (o *Observer) submitBranch(ctx context.Context, conn *peer.Conn, branch, tip string, seen []string) error {
	exclude := slices.Clone(seen)
	for _, c := range o.st.Branches {
		exclude = append(exclude, c)
	}
	commits, err := o.repo.NewCommits(ctx, tip, exclude, o.cfg.MaxNew)
	if err != nil {
		return err
	}
	if o.cfg.LatestOnly && len(commits) > 1 {
		commits = commits[len(commits)-1:]
	}
	for _, c := range commits {
		if err := o.submit(ctx, conn, branch, c); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeInvalidParams {
				return err
			}
			// The dispatcher will never take this one: say so and go on, rather
			// than retry it forever and test nothing after it.
			o.log.Error("dispatcher refused a commit; skipping it", "commit", c.ID, "branch", branch, "err", err)
		}
		o.st.Branches[branch] = c.ID
		if err := o.st.save(); err != nil {
			return err
		}
	}
	o.st.Branches[branch] = tip
	return nil
}

// firstLook submits only HEAD, and records every branch as seen.
func (o *Observer) firstLook(ctx context.Context, conn *peer.Conn) error {
	branch, head, err := o.repo.Head(ctx)
	if errors.Is(err, gitrepo.ErrEmptyRepo) {
		return nil // nothing to test yet
	}
	if err != nil {
		return err
	}
	branches, err := o.repo.Branches(ctx)
	if err != nil {
		return err
	}
	c, err := o.repo.Commit(ctx, head)
	if err != nil {
		return err
	}
	if err := wire.CheckBranch(branch); err != nil {
		o.log.Error("HEAD's branch name cannot be sent; submitting HEAD without it", "err", err)
		branch = ""
	}
	if err := o.submit(ctx, conn, branch, c); err != nil {
		return err
	}
	o.st.Branches = branches
	o.st.Started = true
	return o.st.save()
}

func (o *Observer) submit(ctx context.Context, conn *peer.Conn, branch string, c gitrepo.Commit) error {
	got, err := o.submitPatiently(ctx, conn, branch, c)
	if err != nil {
		return fmt.Errorf("submit %s on %s: %w", c.ID[:12], branch, err)
	}
	o.log.Info("commit submitted", "commit", c.ID[:12], "branch", branch, "job", got.JobID, "duplicate", got.Duplicate)
	return nil
}

// submitPatiently offers a commit until the dispatcher takes it: while this
// observer's credential has its quota of jobs queued (wire.CodeOverQuota) it
// offers it again with backoff, as runners take jobs. The same commit is offered
// again and nothing after it, so no commit is lost or sent out of order; and a
// commit is queued once however often it is offered.
func (o *Observer) submitPatiently(ctx context.Context, conn *peer.Conn, branch string, c gitrepo.Commit) (wire.Submitted, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 5*time.Second
	refused := 0
	got, err := backoff.Retry(ctx, func() (wire.Submitted, error) {
		got, err := submit(ctx, conn, o.repo.URL(), branch, c)
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeOverQuota {
			return got, backoff.Permanent(err)
		}
		if refused++; refused == 1 {
			o.log.Info("dispatcher's queue quota reached; offering the commit again with backoff", "commit", c.ID[:12], "err", we.Message)
		}
		return got, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if refused > 0 && err == nil {
		o.log.Info("dispatcher took the commit after its queue quota", "commit", c.ID[:12], "offers refused", refused)
	}
	return got, err
}

// submit offers one commit of repo to the dispatcher: the observer's and
// notify's one way of doing it.
func submit(ctx context.Context, conn *peer.Conn, repo, branch string, c gitrepo.Commit) (wire.Submitted, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sub := &wire.Submit{Repo: repo, Commit: c.ID, Branch: branch,
		Author: wire.Clip(c.Author, wire.MaxAuthorLen), Message: wire.Clip(c.Message, wire.MaxMessageLen), Time: c.Time}
	var got wire.Submitted
	err := conn.Call(ctx, wire.MethodCommitSubmit, sub, &got)
	return got, err
}

// hello is how an observer (or notify) introduces itself.
func (c Config) hello() *wire.Hello {
	return &wire.Hello{Role: wire.RoleObserver, Name: c.Name, Token: c.Token}
}

// servesNothing answers the dispatcher's requests: an observer serves none.
var servesNothing = peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) {
	return nil, wire.Errorf(wire.CodeMethodNotFound, "an observer serves no requests")
})
