package console_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/console"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dispatcher"
)

// waitTime bounds every wait of these tests: nothing here takes more than a
// fraction of it unless something is wrong.
const waitTime = testkit.Patience

// --- a real dispatcher --------------------------------------------------------

type server struct {
	d          *dispatcher.Dispatcher
	addr       string // "" when not listening
	token      string
	dataDir    string
	resultsDir string
	served     chan struct{}
	once       sync.Once
	obsOnce    sync.Once
	obs        *peer.Conn
}

type serverOpts struct {
	token      string
	dataDir    string // default: a new temporary directory
	resultsDir string
	addr       string // listen here; default 127.0.0.1:0
	noListen   bool   // in-process clients only
	tls        *tls.Config
}

func startDispatcher(t *testing.T, o serverOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	if o.resultsDir == "" {
		o.resultsDir = filepath.Join(t.TempDir(), "results")
	}
	d, err := dispatcher.New(dispatcher.Config{
		ResultsDir: o.resultsDir,
		DataDir:    o.dataDir,
		// The product's heartbeat: the tests end connections explicitly, and a
		// busy machine running the race detector can starve a goroutine for
		// longer than a few short intervals.
		Heartbeat: time.Second,
		Token:     o.token,
		TLS:       o.tls,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:   "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{d: d, token: o.token, dataDir: o.dataDir, resultsDir: o.resultsDir}
	if !o.noListen {
		addr := o.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			d.Shutdown(context.Background())
			t.Fatal(err)
		}
		s.addr = l.Addr().String()
		s.served = make(chan struct{})
		go func() {
			defer close(s.served)
			d.Serve(l)
		}()
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// shutdown stops the dispatcher once, and waits for its accept loop.
func (s *server) shutdown(t *testing.T) {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		if err := s.d.Shutdown(ctx); err != nil {
			t.Errorf("dispatcher shutdown: %v", err)
		}
		if s.served != nil {
			select {
			case <-s.served:
			case <-ctx.Done():
				t.Error("Serve did not return after Shutdown")
			}
		}
	})
}

func commitID(n int) string { return fmt.Sprintf("%040x", n) }

// submit queues commit n on branch, as an observer does, and returns the job's id.
func (s *server) submit(t *testing.T, n int, branch string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	var sub wire.Submitted
	err := s.observer(t).Call(ctx, wire.MethodCommitSubmit, &wire.Submit{Repo: "/r", Commit: commitID(n), Branch: branch}, &sub)
	if err != nil {
		t.Fatalf("submit %d: %v", n, err)
	}
	if sub.Duplicate {
		t.Fatalf("submit %d: reported as a duplicate of %s", n, sub.JobID)
	}
	return sub.JobID
}

// observer is the server's observer connection, made on first use through an
// in-process pipe, so that it needs no listener.
func (s *server) observer(t *testing.T) *peer.Conn {
	t.Helper()
	s.obsOnce.Do(func() {
		a, b := net.Pipe()
		go s.d.ServeConn(a)
		c, _, err := peer.Handshake(ctxT(t), b, &wire.Hello{Role: wire.RoleObserver, Name: "test-observer", Token: s.token},
			peer.Options{MaxMissed: 20}) // as the dispatcher's, above
		if err != nil {
			t.Fatalf("observer: %v", err)
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			c.Serve(context.Background(), peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }))
		}()
		t.Cleanup(func() { c.Close(); <-served })
		s.obs = c
	})
	if s.obs == nil {
		t.Fatal("no observer connection")
	}
	return s.obs
}

// --- consoles over both transports -----------------------------------------------

type transport struct {
	name string
	dial func(s *server, token string) *console.Client
}

var transports = []transport{
	{"tcp", func(s *server, token string) *console.Client { return console.Dial(s.addr, token, "test-console") }},
	{"pipe", func(s *server, token string) *console.Client { return console.InProcess(s.d, token, "test-console") }},
}

// forEachTransport runs f over TCP and over a pipe, side by side: each has its own
// dispatcher.
func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

// newClient makes a console client of s, closed at cleanup.
func newClient(t *testing.T, s *server, tr transport) *console.Client {
	t.Helper()
	c := tr.dial(s, s.token)
	t.Cleanup(c.Close)
	return c
}

// subscribe subscribes for the rest of the test: Subscribe's context is the
// subscription's lifetime.
func subscribe(t *testing.T, c *console.Client) (*wire.Snapshot, *stream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	snap, ch, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return snap, collect(ch)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

// wantCode checks that err is a *wire.Error with code.
func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("%s: got error %v, want code %d", what, err, code)
	}
}

// --- the event stream, recorded -------------------------------------------------

// stream records the batches a subscription delivers; it drains the channel at
// once, as a console must (the client's read loop waits for it).
type stream struct {
	mu      sync.Mutex
	batches []wire.Events
	events  []wire.Event
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

func collect(ch <-chan wire.Events) *stream {
	s := &stream{changed: make(chan struct{})}
	go func() {
		for evs := range ch {
			s.mu.Lock()
			s.batches = append(s.batches, evs)
			s.events = append(s.events, evs.Events...)
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}()
	return s
}

// until waits until cond (called with the stream locked) holds.
func (s *stream) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, ch, closed := cond(), s.changed, s.closed
		s.mu.Unlock()
		if ok {
			return
		}
		if closed {
			t.Fatalf("%s: the events channel closed first; events: %s", what, s.dump())
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("%s: not within %v; events: %s", what, waitTime, s.dump())
		}
	}
}

// wait returns the first event at index from or later that matches, and its index.
func (s *stream) wait(t *testing.T, what string, from int, match func(wire.Event) bool) (wire.Event, int) {
	t.Helper()
	var ev wire.Event
	at := -1
	s.until(t, what, func() bool {
		for i := from; i < len(s.events); i++ {
			if match(s.events[i]) {
				ev, at = s.events[i], i
				return true
			}
		}
		return false
	})
	return ev, at
}

func (s *stream) waitClosed(t *testing.T) {
	t.Helper()
	s.until(t, "the events channel to close", func() bool { return s.closed })
}

func (s *stream) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, ev := range s.events[max(0, len(s.events)-40):] {
		switch {
		case ev.Job != nil:
			fmt.Fprintf(&b, "\n  job %s %s attempt %d", ev.Job.ID, ev.Job.State, ev.Job.Attempt)
		case ev.Runner != nil:
			fmt.Fprintf(&b, "\n  runner %s %s jobs %v", ev.Runner.Name, ev.Runner.State, ev.Runner.Jobs)
		case ev.Output != nil:
			fmt.Fprintf(&b, "\n  output %s/%d @%d %q", ev.Output.JobID, ev.Output.Attempt, ev.Output.Offset, ev.Output.Data)
		}
	}
	return fmt.Sprintf("%d events in %d batches (last 40):%s", len(s.events), len(s.batches), b.String())
}

func jobIs(id string, states ...wire.State) func(wire.Event) bool {
	return func(ev wire.Event) bool {
		return ev.Kind == wire.EventJob && ev.Job != nil && ev.Job.ID == id && (len(states) == 0 || slices.Contains(states, ev.Job.State))
	}
}

func TestRequestsBeforeSubscribeAreNotConnected(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		ctx := ctxT(t)
		id := "0123456789abcdef"
		checks := map[string]error{}
		_, checks["job.get"] = c.Job(ctx, id)
		_, checks["jobs.list"] = c.Jobs(ctx, wire.JobQuery{})
		_, checks["job.log"] = c.Log(ctx, wire.LogQuery{JobID: id})
		_, checks["job.retry"] = c.Retry(ctx, id)
		checks["job.stop"] = c.Stop(ctx, id)
		checks["runner.stop"] = c.Drain(ctx, "r1")
		_, checks["runner.revoke"] = c.Revoke(ctx, id)
		for m, err := range checks {
			if !errors.Is(err, console.ErrNotConnected) {
				t.Errorf("%s before Subscribe: %v, want ErrNotConnected", m, err)
			}
		}
	})
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{token: "right-token"})
		c := tr.dial(s, "wrong-token")
		t.Cleanup(c.Close)
		_, ch, err := c.Subscribe(ctxT(t))
		if ch != nil {
			t.Error("a refused Subscribe returned an events channel")
		}
		wantCode(t, "subscribe with a wrong token", err, wire.CodeUnauthorized)
		if _, err := c.Job(ctxT(t), "0123456789abcdef"); !errors.Is(err, console.ErrNotConnected) {
			t.Errorf("request after a refused Subscribe: %v, want ErrNotConnected", err)
		}
		// The right token works.
		good := newClient(t, s, tr)
		subscribe(t, good)
	})
}

// A dispatcher that does not listen serves in-process consoles all the same.
func TestInProcessWithoutListener(t *testing.T) {
	s := startDispatcher(t, serverOpts{noListen: true})
	c := newClient(t, s, transports[1])
	snap, st := subscribe(t, c)
	if snap.Address != "" || snap.Server != "eventide test" || len(snap.Jobs) != 0 {
		t.Errorf("snapshot %+v, want no address and no jobs", snap)
	}
	id := s.submit(t, 1, "main")
	ev, _ := st.wait(t, "the submitted job", 0, jobIs(id))
	if ev.Job.State != wire.StateQueued || ev.Job.Waiting != "no runner connected" {
		t.Errorf("job event %+v, want queued with no runner connected", ev.Job)
	}
}

func TestShutdownClosesEvents(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		s.shutdown(t)
		st.waitClosed(t)
		if _, err := c.Jobs(ctxT(t), wire.JobQuery{}); !errors.Is(err, console.ErrNotConnected) {
			t.Errorf("request after the dispatcher shut down: %v, want ErrNotConnected", err)
		}
		if _, _, err := c.Subscribe(ctxT(t)); err == nil {
			t.Error("Subscribe to a dispatcher that shut down succeeded")
		}
	})
}

// A second Subscribe replaces the first connection: the old stream ends.
func TestSubscribeAgainReplacesConnection(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, old := subscribe(t, c)
		_, cur := subscribe(t, c)
		old.waitClosed(t)
		id := s.submit(t, 1, "main")
		cur.wait(t, "job on the new stream", 0, jobIs(id, wire.StateQueued))
		if _, err := c.Job(ctxT(t), id); err != nil {
			t.Errorf("request on the new connection: %v", err)
		}
		c.Close()
		cur.waitClosed(t)
		if _, err := c.Job(ctxT(t), id); !errors.Is(err, console.ErrNotConnected) {
			t.Errorf("request after Close: %v, want ErrNotConnected", err)
		}
	})
}

// Subscribe's context is the subscription's: when it ends, so do the events and
// the connection.
func TestSubscribeContextEndsSubscription(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, ch, err := c.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := collect(ch)
		id := s.submit(t, 1, "main")
		st.wait(t, "the submitted job", 0, jobIs(id, wire.StateQueued))
		cancel()
		st.waitClosed(t)
		if _, err := c.Job(ctxT(t), id); !errors.Is(err, console.ErrNotConnected) {
			t.Errorf("request after the subscription's context ended: %v, want ErrNotConnected", err)
		}
		// A new subscription on the same client works.
		snap, st2 := subscribe(t, c)
		if len(snap.Jobs) != 1 || snap.Jobs[0].ID != id {
			t.Errorf("snapshot %+v, want job %s", snap.Jobs, id)
		}
		id2 := s.submit(t, 2, "main")
		st2.wait(t, "a job on the new subscription", 0, jobIs(id2, wire.StateQueued))
	})
}

// A console reaches a TLS dispatcher with DialTLS, and only so; the in-process
// client of the same dispatcher stays on its pipe.
func TestConsoleOverTLS(t *testing.T) {
	cert, err := tlsconf.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startDispatcher(t, serverOpts{tls: tlsconf.Server(cert)})
	pin, err := tlsconf.Client(tlsconf.CertFingerprint(cert), "", "")
	if err != nil {
		t.Fatal(err)
	}
	id := s.submit(t, 1, "main")
	for name, c := range map[string]*console.Client{
		"tls":  console.DialTLS(s.addr, "", "tls-console", pin),
		"pipe": console.InProcess(s.d, "", "pipe-console"),
	} {
		t.Cleanup(c.Close)
		snap, _ := subscribe(t, c)
		if len(snap.Jobs) != 1 || snap.Jobs[0].ID != id {
			t.Fatalf("%s: snapshot jobs %+v, want %s", name, snap.Jobs, id)
		}
	}
	plain := console.Dial(s.addr, "", "plain-console")
	t.Cleanup(plain.Close)
	if _, _, err := plain.Subscribe(ctxT(t)); !peer.Fatal(err) || !strings.Contains(err.Error(), "requires TLS") {
		t.Fatalf("a plaintext console of a TLS dispatcher: %v, want a fatal TLS-required refusal", err)
	}
}
