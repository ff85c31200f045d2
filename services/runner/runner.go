// Package runner is Eventide's test runner: it connects out to a dispatcher, takes
// jobs into its slots, runs each in a fresh git worktree, streams the output back
// in numbered chunks and keeps each result until the dispatcher acknowledges it,
// across reconnects.
package runner

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/gitrepo"
	"github.com/eventide-ci/eventide/services/testrun"
)

// Config configures a Runner. Zero values take the defaults.
type Config struct {
	Dispatcher        string      // host:port
	TLS               *tls.Config // speak TLS to the dispatcher with it (net/tlsconf.Client); nil is plaintext
	Name              string
	Token             string
	Slots             int      // default 1
	Labels            []string // advertised to the dispatcher
	Repo              string   // clone source for every job; "" uses the URL each job carries
	WorkDir           string   // repository cache and worktrees; default ".eventide/runner"
	DispatcherTimeout time.Duration
	JobTimeout        time.Duration // default 30m, unless the repository sets one
	Grace             time.Duration // SIGTERM → SIGKILL for test processes; default 5s
	// Containment is how each job's processes are held together and killed:
	// "auto" (the default) a cgroup v2 where one can be made, else a process
	// group; "cgroup"; or "pgroup". See testrun.Containment.
	Containment string
	// HideEnv names the variables of the runner's environment a job does not
	// get: its settings and credentials (EVENTIDE_TOKEN...), which the caller
	// knows from their declarations. The job's own (JobEnvNames) it gets anyway.
	HideEnv []string
	// JobUser, when set, is the user jobs run as (by name or uid); the runner
	// must then run as root. Each worktree is given to that user.
	JobUser string
	Logger  *slog.Logger
}

// Reasons a runner stops its jobs.
var (
	ErrStopping = errors.New("runner stopping")
	errStale    = errors.New("attempt no longer current")
)

// Runner runs jobs for one dispatcher.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	cache *gitrepo.Cache

	mu       sync.Mutex
	jobs     map[string]*job
	conn     *peer.Conn
	changed  chan struct{} // closed and replaced whenever conn changes
	draining bool
	drained  chan struct{} // closed when draining and no job is left
	quit     chan struct{} // closed when Run is about to return
	wg       sync.WaitGroup
	jobsCtx  context.Context
	ident    *wire.Identity // nil until enrolled
	fatal    chan error     // a session's end that must end Run

	setupOnce sync.Once
	setupErr  error
	contain   *testrun.Containment // nil where the platform has none
	jobUser   *testrun.User        // who jobs run as; nil: the runner's user
	contained string               // what contains jobs, as logged
	leftovers testrun.Leftovers    // of an earlier runner, killed by Setup
	// staleWorktrees counts the worktrees of an earlier runner Setup removed.
	staleWorktrees int
}

// New makes a runner.
func New(cfg Config) *Runner {
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(".eventide", "runner")
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 30 * time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{
		cfg:     cfg,
		log:     cfg.Logger,
		cache:   &gitrepo.Cache{Root: filepath.Join(cfg.WorkDir, "repos")},
		jobs:    make(map[string]*job),
		changed: make(chan struct{}),
		drained: make(chan struct{}),
		quit:    make(chan struct{}),
		fatal:   make(chan error, 1),
	}
}

// Run connects and serves until ctx is cancelled (jobs in hand are cancelled), the
// runner has drained, or no dispatcher was reachable for DispatcherTimeout (it then
// returns an error wrapping peer.ErrDispatcherGone).
func (r *Runner) Run(ctx context.Context) error {
	if _, err := r.Setup(); err != nil {
		return err
	}
	r.logSetup()
	ident, err := loadIdentity(r.identityPath())
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.ident = ident
	r.mu.Unlock()
	if ident == nil {
		r.log.Info("no identity yet: enrolling with the dispatcher", "file", r.identityPath())
	}
	jobsCtx, stopJobs := context.WithCancelCause(context.Background())
	r.mu.Lock()
	r.jobsCtx = jobsCtx
	r.mu.Unlock()
	dialCtx, stopDial := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	rd := &peer.Redialer{
		Addr: r.cfg.Dispatcher, Hello: r.hello, GiveUpAfter: r.cfg.DispatcherTimeout, Logger: r.log,
		Options: peer.Options{TLS: r.cfg.TLS},
	}
	var dialWG sync.WaitGroup
	dialWG.Go(func() { gone <- rd.Run(dialCtx, r.connected) })

	select {
	case <-ctx.Done():
		err = nil
	case <-r.drained:
		r.log.Info("drained: every job finished and delivered")
	case err = <-r.fatal:
	case err = <-gone:
		if peer.Fatal(err) {
			err = r.refusal(err)
			break
		}
		if err != nil {
			r.mu.Lock()
			n := len(r.jobs)
			r.mu.Unlock()
			err = fmt.Errorf("giving up: %w (%d undelivered or unfinished jobs dropped)", err, n)
		}
	}
	stopJobs(ErrStopping)
	// Give the deliverers a moment to report cancelled jobs while still connected.
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.Grace + 2*time.Second):
	}
	close(r.quit)
	stopDial()
	dialWG.Wait()
	<-done
	return err
}

// Drain stops taking jobs; Run returns once the jobs in hand are finished and their
// results delivered.
func (r *Runner) Drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return
	}
	r.draining = true
	r.log.Info("draining: finishing jobs in hand, taking no more", "jobs", len(r.jobs))
	if c := r.conn; c != nil {
		go c.Notify(context.Background(), wire.MethodRunnerDrain, struct{}{})
	}
	r.checkDrainedLocked()
}

func (r *Runner) checkDrainedLocked() {
	if r.draining && len(r.jobs) == 0 {
		select {
		case <-r.drained:
		default:
			close(r.drained)
		}
	}
}

// hello describes the runner and the jobs it holds, for every (re)connection.
func (r *Runner) hello() *wire.Hello {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &wire.Hello{Role: wire.RoleRunner, Name: r.cfg.Name, Token: r.cfg.Token,
		Slots: r.cfg.Slots, Labels: r.cfg.Labels, Draining: r.draining,
		Identity: r.ident, Enrol: r.ident == nil}
	for _, j := range r.jobs {
		h.Jobs = append(h.Jobs, wire.HeldJob{Assign: j.a, Finished: j.isFinished()})
	}
	return h
}

// connected serves one connection to the dispatcher.
func (r *Runner) connected(ctx context.Context, c *peer.Conn, w *wire.Welcome) error {
	if w.Identity != nil {
		if err := r.enrolled(w.Identity); err != nil {
			select {
			case r.fatal <- err:
			default:
			}
			<-ctx.Done() // Run stops the redialer
			return err
		}
	}
	r.mu.Lock()
	for _, id := range w.Cancel {
		if j := r.jobs[id]; j != nil {
			r.log.Warn("dispatcher says the job moved on; dropping it", "job", id, "attempt", j.a.Attempt)
			r.dropLocked(j)
		}
	}
	r.setConnLocked(c)
	if r.draining {
		go c.Notify(ctx, wire.MethodRunnerDrain, struct{}{})
	}
	r.mu.Unlock()
	err := c.Serve(ctx, peer.HandlerFunc(r.handle))
	r.mu.Lock()
	if r.conn == c {
		r.setConnLocked(nil)
	}
	r.mu.Unlock()
	return err
}

func (r *Runner) setConnLocked(c *peer.Conn) {
	r.conn = c
	close(r.changed)
	r.changed = make(chan struct{})
}

// current returns the live connection (or nil) and a channel closed when it changes.
func (r *Runner) current() (*peer.Conn, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn, r.changed
}

func (r *Runner) handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case wire.MethodJobAssign:
		var a wire.Assign
		if err := wire.Decode(method, params, &a); err != nil {
			return nil, err
		}
		return nil, r.accept(a)
	case wire.MethodJobCancel:
		var ref wire.JobRef
		if err := wire.Decode(method, params, &ref); err != nil {
			return nil, err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		j := r.jobs[ref.JobID]
		if j == nil || j.a.Attempt != ref.Attempt {
			return nil, wire.Errorf(wire.CodeUnknownJob, "job %s attempt %d is not on this runner", ref.JobID, ref.Attempt)
		}
		j.cancel(fmt.Errorf("cancelled by the dispatcher: %s", ref.Reason))
		return nil, nil
	}
	return nil, wire.Errorf(wire.CodeMethodNotFound, "method %q is not available on a runner", method)
}

// accept takes an assignment into a free slot.
func (r *Runner) accept(a wire.Assign) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if j, ok := r.jobs[a.JobID]; ok && j.a.Attempt == a.Attempt {
		return nil // a repeated offer of what we already run
	}
	if old, ok := r.jobs[a.JobID]; ok && old.a.Attempt < a.Attempt {
		r.dropLocked(old) // the dispatcher moved on: the newer attempt wins
	}
	switch {
	case r.draining:
		return wire.Errorf(wire.CodeRefused, "runner %s is draining", r.cfg.Name)
	case r.busyLocked() >= r.cfg.Slots:
		return wire.Errorf(wire.CodeRefused, "runner %s has all %d slots busy", r.cfg.Name, r.cfg.Slots)
	case r.jobsCtx == nil || r.jobsCtx.Err() != nil:
		return wire.Errorf(wire.CodeRefused, "runner %s is stopping", r.cfg.Name)
	}
	ctx, cancel := context.WithCancelCause(r.jobsCtx)
	j := newJob(a, cancel)
	r.jobs[a.JobID] = j
	r.log.Info("job accepted", "job", a.JobID, "attempt", a.Attempt, "commit", a.Commit[:12], "branch", a.Branch)
	r.wg.Go(func() { r.execute(ctx, j) })
	r.wg.Go(func() { r.deliver(j) })
	return nil
}

// busyLocked counts the slots in use the way the dispatcher does: jobs held and not
// yet finished. A dropped attempt still dying (for up to the grace period) is not
// counted, since the dispatcher has already given its slot to other work.
func (r *Runner) busyLocked() int {
	n := 0
	for _, j := range r.jobs {
		if !j.isFinished() {
			n++
		}
	}
	return n
}

// dropLocked forgets a job whose attempt the dispatcher no longer wants.
func (r *Runner) dropLocked(j *job) {
	j.cancel(errStale)
	j.drop()
	if r.jobs[j.a.JobID] == j {
		delete(r.jobs, j.a.JobID)
	}
	r.checkDrainedLocked()
}

// forget removes a delivered job.
func (r *Runner) forget(j *job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs[j.a.JobID] == j {
		delete(r.jobs, j.a.JobID)
	}
	r.checkDrainedLocked()
}
