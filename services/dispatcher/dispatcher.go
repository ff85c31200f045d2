// Package dispatcher owns Eventide's job queue, its runner registry and the results:
// it queues submitted commits, leases each to a free runner slot, fences late
// results by attempt, re-queues the jobs of lost runners and writes result files.
package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	ResultsDir       string        // default "test_results"
	MaxAttempts      int           // default 3
	Heartbeat        time.Duration // default 1s
	MaxMissed        int           // default 3
	LeaseTimeout     time.Duration // a runner must accept an assignment within this; default 5s
	HandshakeTimeout time.Duration // default 5s
	Token            string
	MaxLogBytes      int64 // per attempt; default 32 MiB
	KeepFinished     int   // finished jobs kept in memory (their files stay); default 10,000
	Logger           *slog.Logger
	Version          string
}

// Dispatcher is the central service. Its zero value is not usable; call New.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	srv     *peer.Server
	results *resultWriter

	mu      sync.Mutex
	jobs    map[string]*Job
	active  map[string]*Job // by repo+commit, for jobs still queued or running
	queue   queue
	runners map[string]*runner // by name
	closing bool               // Shutdown has begun
	done    queue              // finished job ids, oldest first, for eviction

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes a dispatcher; it creates the results directory.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.ResultsDir == "" {
		cfg.ResultsDir = "test_results"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.LeaseTimeout <= 0 {
		cfg.LeaseTimeout = 5 * time.Second
	}
	if cfg.KeepFinished <= 0 {
		cfg.KeepFinished = 10000
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rw, err := newResultWriter(cfg.ResultsDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Logger,
		results: rw,
		jobs:    make(map[string]*Job),
		active:  make(map[string]*Job),
		runners: make(map[string]*runner),
		wake:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	d.srv = &peer.Server{
		Admit:            d.admit,
		Token:            cfg.Token,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Options:          peer.Options{Heartbeat: cfg.Heartbeat, MaxMissed: cfg.MaxMissed},
		Name:             "eventide " + cfg.Version,
		Logger:           cfg.Logger,
	}
	d.wg.Go(d.scheduleLoop)
	return d, nil
}

// Serve accepts clients on l until Shutdown; it then returns peer.ErrServerClosed.
func (d *Dispatcher) Serve(l net.Listener) error { return d.srv.Serve(l) }

// ServeConn serves one in-process connection (one end of a net.Pipe).
func (d *Dispatcher) ServeConn(c net.Conn) { d.srv.ServeConn(c) }

// Shutdown closes every connection and stops the scheduler. Jobs in flight stay with
// their runners, which keep their results until a dispatcher is back.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	err := d.srv.Shutdown(ctx)
	d.cancel()
	d.wg.Wait()
	return err
}

// Submit queues a commit unless the same repository and commit is already queued or
// running; it is what an observer's commit.submit does.
func (d *Dispatcher) Submit(s *wire.Submit) (wire.Submitted, error) {
	if err := s.Validate(); err != nil {
		return wire.Submitted{}, wire.Errorf(wire.CodeInvalidParams, "%s: %v", wire.MethodCommitSubmit, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := s.Repo + "\x00" + s.Commit
	if j, ok := d.active[key]; ok {
		return wire.Submitted{JobID: j.ID, Duplicate: true}, nil
	}
	j := &Job{
		ID: newJobID(), Repo: s.Repo, Commit: s.Commit, Branch: s.Branch,
		Author: s.Author, Message: s.Message, State: StateQueued, QueuedAt: time.Now(),
	}
	d.jobs[j.ID] = j
	d.active[key] = j
	d.queue.pushBack(j.ID)
	d.log.Info("job queued", "job", j.ID, "commit", short(j.Commit), "branch", j.Branch, "queue", d.queue.len())
	d.kick()
	return wire.Submitted{JobID: j.ID}, nil
}

// Job returns a copy of a job.
func (d *Dispatcher) Job(id string) (Job, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j, ok := d.jobs[id]
	if !ok {
		return Job{}, false
	}
	c := *j
	c.Attempts = append([]Attempt(nil), j.Attempts...)
	return c, true
}

// Jobs returns copies of all jobs.
func (d *Dispatcher) Jobs() []Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Job, 0, len(d.jobs))
	for _, j := range d.jobs {
		c := *j
		c.Attempts = append([]Attempt(nil), j.Attempts...)
		out = append(out, c)
	}
	return out
}

// kick wakes the scheduler; callers hold d.mu or not, it never blocks.
func (d *Dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func newJobID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func short(commit string) string { return commit[:min(len(commit), 12)] }

// errStale is the reply to anything about an attempt that is no longer current.
func errStale(jobID string, got, current int) error {
	return wire.Errorf(wire.CodeStaleAttempt, "job %s attempt %d is no longer current (current attempt %d)", jobID, got, current)
}

var errUnknownJob = errors.New("unknown job")

func errNoJob(id string) error {
	return wire.Errorf(wire.CodeUnknownJob, "job %s: %v", id, errUnknownJob)
}

// checkDir makes sure dir exists and is writable, with an error that says which.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("results directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// finishedLocked remembers that j has ended and forgets the oldest finished jobs
// beyond KeepFinished, so that memory stays bounded however long the dispatcher runs
// (their result files stay on disk).
func (d *Dispatcher) finishedLocked(j *Job) {
	d.done.pushBack(j.ID)
	for d.done.len() > d.cfg.KeepFinished {
		id := d.done.popFront()
		if old, ok := d.jobs[id]; ok && !old.State.Active() {
			delete(d.jobs, id)
		}
	}
}
