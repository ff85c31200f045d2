package dispatcher

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/auth"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/services/repoallow"
	"github.com/eventide-ci/eventide/services/store"
)

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	ResultsDir string // default "test_results"
	// NoResultFiles keeps results in the store only: no file per job in ResultsDir.
	NoResultFiles bool
	// DataDir holds the store (eventide.db) when Store is nil; default ".eventide".
	DataDir string
	// Store is where the state is kept; nil opens SQLite in DataDir, which the
	// dispatcher then closes on Shutdown.
	Store            store.Store
	MaxAttempts      int           // default 3
	Heartbeat        time.Duration // default 1s
	MaxMissed        int           // default 3
	LeaseTimeout     time.Duration // a runner must accept an assignment within this; default 5s
	HandshakeTimeout time.Duration // default 5s
	// MaxHandshakes and MaxHandshakesPerSource bound the connections that have
	// not said hello, in all and per source address; 0 takes net/peer's defaults.
	MaxHandshakes          int
	MaxHandshakesPerSource int
	// ReclaimWindow is how long after a start the jobs that were running wait for
	// their runners to report them before they are queued again; default
	// Heartbeat × MaxMissed, at least 2s.
	ReclaimWindow time.Duration
	// StoreWait bounds how long a reply waits for the store (a full disk); after
	// it the peer gets an error and sends again later. Default 10s.
	StoreWait time.Duration
	// LogRetention removes the logs of jobs finished longer ago (results stay);
	// 0 keeps them forever.
	LogRetention time.Duration
	// Token is the shared token, admitting every role; TokenFile names a file
	// of more tokens, each admitting the roles its line lists (see net/auth),
	// which ReloadTokens reads again.
	Token     string
	TokenFile string
	// AllowRepos restricts the repositories jobs may name; nil allows all.
	AllowRepos *repoallow.List
	// MaxQueuedPerClient bounds the jobs each credential may have waiting in the
	// queue; default 10,000.
	MaxQueuedPerClient int
	// TLS, when set, is required of every client that connects over the
	// network (net/tlsconf.Server); ServeConn's stay plaintext.
	TLS          *tls.Config
	MaxLogBytes  int64 // per attempt: a head (headLimit) and the tail; default 32 MiB
	KeepFinished int   // finished jobs kept in memory (the store has them all); default 10,000
	Logger       *slog.Logger
	Version      string
}

// Dispatcher is the central service. Its zero value is not usable; call New.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	srv     *peer.Server
	keys    *auth.Keyring
	st      store.Store
	ownsSt  bool
	results *resultWriter

	mu       sync.Mutex
	jobs     map[string]*job
	active   map[string]*job // by repo+commit, for jobs still queued or running
	queue    queue
	runners  map[string]*runner // by name
	orphans  map[string]*job    // running when the last dispatcher stopped; not yet reported
	ids      identities         // runner identities issued
	closing  bool               // Shutdown has begun
	done     queue              // finished job ids, oldest first, for eviction
	seqLo    int64              // lowest queue seq given out (retries go before it)
	seqHi    int64              // highest
	started  time.Time
	listenAt string
	subs     map[*subscriber]struct{} // consoles following events
	outMem   int64                    // bytes of output kept in jobs' out
	lastID   uint64                   // the last job id given out, as a number

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes a dispatcher: it opens the store, resumes what it holds (queued jobs
// stay queued; running ones wait ReclaimWindow for their runners) and creates the
// results directory.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.ResultsDir == "" {
		cfg.ResultsDir = "test_results"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".eventide"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.MaxMissed <= 0 {
		cfg.MaxMissed = 3
	}
	if cfg.LeaseTimeout <= 0 {
		cfg.LeaseTimeout = 5 * time.Second
	}
	if cfg.ReclaimWindow <= 0 {
		cfg.ReclaimWindow = max(cfg.Heartbeat*time.Duration(cfg.MaxMissed), 2*time.Second)
	}
	if cfg.StoreWait <= 0 {
		cfg.StoreWait = 10 * time.Second
	}
	if cfg.KeepFinished <= 0 {
		cfg.KeepFinished = 10000
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = 32 << 20
	}
	if cfg.MaxQueuedPerClient <= 0 {
		cfg.MaxQueuedPerClient = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}
	var rw *resultWriter
	if !cfg.NoResultFiles {
		var err error
		if rw, err = newResultWriter(cfg.ResultsDir); err != nil {
			return nil, err
		}
	}
	st, owns := cfg.Store, false
	if st == nil {
		sq, err := store.OpenSQLite(cfg.DataDir, store.Options{Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		st, owns = sq, true
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Logger,
		st:      st,
		ownsSt:  owns,
		results: rw,
		keys:    keys,
		jobs:    make(map[string]*job),
		active:  make(map[string]*job),
		runners: make(map[string]*runner),
		orphans: make(map[string]*job),
		started: time.Now(),
		wake:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	if rw != nil {
		rw.st, rw.log, rw.ctx = st, cfg.Logger, ctx
	}
	if err := d.resume(); err != nil {
		cancel()
		if owns {
			st.Close()
		}
		return nil, err
	}
	d.srv = &peer.Server{
		Admit:                  d.admit,
		Keys:                   keys,
		HandshakeTimeout:       cfg.HandshakeTimeout,
		MaxHandshakes:          cfg.MaxHandshakes,
		MaxHandshakesPerSource: cfg.MaxHandshakesPerSource,
		// A short outgoing queue: its buffer is allocated up front for each of
		// what may be thousands of connections, and the write loop empties it in
		// one write anyway.
		Options: peer.Options{Heartbeat: cfg.Heartbeat, MaxMissed: cfg.MaxMissed, QueueLen: 32},
		Name:    "eventide " + cfg.Version,
		Logger:  cfg.Logger,
		TLS:     cfg.TLS,
	}
	d.wg.Go(d.scheduleLoop)
	d.wg.Go(d.results.loop)
	d.wg.Go(d.housekeeping)
	d.kick()
	return d, nil
}

// Serve accepts clients on l until Shutdown; it then returns peer.ErrServerClosed.
func (d *Dispatcher) Serve(l net.Listener) error {
	d.mu.Lock()
	d.listenAt = l.Addr().String()
	d.mu.Unlock()
	return d.srv.Serve(l)
}

// ServeConn serves one in-process connection (one end of a net.Pipe).
func (d *Dispatcher) ServeConn(c net.Conn) { d.srv.ServeConn(c) }

// StopAssigning gives no more jobs to runners, while still recording what they
// report: a console that hosts runners calls it before stopping them, so that
// their interrupted jobs are queued again, not handed to a runner that is
// stopping too. Shutdown follows.
func (d *Dispatcher) StopAssigning() {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
}

// Shutdown closes every connection, stops the scheduler, writes the result files
// due and closes the store. Jobs in flight stay with their runners, which keep
// their results until a dispatcher is back.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	err := d.srv.Shutdown(ctx)
	d.cancel()
	d.wg.Wait()
	d.results.flush()
	if d.ownsSt {
		err = errors.Join(err, d.st.Close())
	}
	return err
}

// findJob returns a copy of a job, from memory or, for an old one, the store.
func (d *Dispatcher) findJob(id string) (Job, bool) {
	d.mu.Lock()
	j, ok := d.jobs[id]
	if ok {
		c := j.copy()
		d.mu.Unlock()
		return c, true
	}
	d.mu.Unlock()
	sj, err := d.st.Job(d.ctx, id)
	return sj, err == nil
}

// Jobs returns copies of the jobs in memory: the active ones and the latest
// finished ones.
func (d *Dispatcher) Jobs() []Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Job, 0, len(d.jobs))
	for _, j := range d.jobs {
		out = append(out, j.copy())
	}
	return out
}

// newJobIDLocked returns an id that sorts in creation order: the milliseconds since
// the epoch, then 20 bits that start at random in each millisecond and only grow.
// The store keys every table by job id, and ids in creation order keep a batch's
// writes at the end of each index, sharing pages; random ids put each job's rows
// on pages of their own, so every commit wrote (and synced) several pages per job.
func (d *Dispatcher) newJobIDLocked() string {
	var b [4]byte
	rand.Read(b[:])
	id := uint64(time.Now().UnixMilli())<<20 | uint64(binary.BigEndian.Uint32(b[:]))&(1<<20-1)
	if id <= d.lastID { // the same millisecond, or the clock went back
		id = d.lastID + 1
	}
	d.lastID = id
	return fmt.Sprintf("%016x", id)
}
