// The tests of this package that are outside it (events_test.go,
// session_console_test.go) drive a real dispatcher as people do: through the
// console's client, over TCP and over an in-process pipe, with runners that speak
// the protocol.
package dispatcher_test

import (
	"context"
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
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/repoallow"
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
}

type serverOpts struct {
	token       string
	dataDir     string // default: a new temporary directory
	resultsDir  string
	addr        string   // listen here; default 127.0.0.1:0
	noListen    bool     // in-process clients only
	allow       []string // --allow-repo patterns
	maxQueued   int      // --max-queued-per-client
	maxAttempts int      // --max-attempts
}

func startDispatcher(t *testing.T, o serverOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	if o.resultsDir == "" {
		o.resultsDir = filepath.Join(t.TempDir(), "results")
	}
	allow, err := repoallow.New(o.allow)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatcher.New(dispatcher.Config{
		AllowRepos:         allow,
		MaxQueuedPerClient: o.maxQueued,
		MaxAttempts:        o.maxAttempts,
		ResultsDir:         o.resultsDir,
		DataDir:            o.dataDir,
		// The product's heartbeat: the tests end connections explicitly, and a
		// busy machine running the race detector can starve a goroutine for
		// longer than a few short intervals.
		Heartbeat: time.Second,
		// A reply waits for its commit at most StoreWait; past it a real runner
		// sends again, these tests' clients do not. A commit of thousands of
		// records under -race on a loaded machine can take longer than the
		// product's 10 s: what bounds it here is the tests' patience.
		StoreWait: waitTime,
		Token:     o.token,
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
		// Serve records the address in its goroutine: a console on a pipe
		// could otherwise subscribe before it and see none.
		for deadline := time.Now().Add(waitTime); d.ListenAt() == ""; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Serve did not begin within %v", waitTime)
			}
		}
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

// submit queues commit n on branch and returns the job's id.
func (s *server) submit(t *testing.T, n int, branch string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	sub, err := s.d.Submit(ctx, &wire.Submit{Repo: "/r", Commit: commitID(n), Branch: branch})
	if err != nil {
		t.Fatalf("submit %d: %v", n, err)
	}
	if sub.Duplicate {
		t.Fatalf("submit %d: reported as a duplicate of %s", n, sub.JobID)
	}
	return sub.JobID
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

// mark is the index the next event will have.
func (s *stream) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
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

func runnerIs(name string, states ...string) func(wire.Event) bool {
	return func(ev wire.Event) bool {
		return ev.Kind == wire.EventRunner && ev.Runner != nil && ev.Runner.Name == name &&
			(len(states) == 0 || slices.Contains(states, ev.Runner.State))
	}
}

func outputIs(id string, attempt int, off int64, data string) func(wire.Event) bool {
	return func(ev wire.Event) bool {
		o := ev.Output
		return ev.Kind == wire.EventOutput && o != nil && o.JobID == id && o.Attempt == attempt && o.Offset == off && o.Data == data
	}
}

// --- fake runners over the real protocol ----------------------------------------------

type fakeRunner struct {
	name    string
	conn    *peer.Conn
	assigns chan wire.Assign
	cancels chan wire.JobRef
	// holdCancel, when set, delays the reply to job.cancel until it is closed:
	// a runner slow to acknowledge a cancel.
	holdCancel <-chan struct{}
	// auto, when set, picks the status each assignment ends with; the runner then
	// sends its output and result at once.
	auto   func(wire.Assign) string
	served chan struct{}
	wg     sync.WaitGroup
	logf   func(string, ...any)
}

// startRunner connects a one-slot runner to s over TCP.
func startRunner(t *testing.T, s *server, name string, auto func(wire.Assign) string) *fakeRunner {
	t.Helper()
	return startRunnerHolding(t, s, name, auto, nil)
}

// startRunnerHolding is startRunner with a runner that answers job.cancel only once
// holdCancel is closed.
func startRunnerHolding(t *testing.T, s *server, name string, auto func(wire.Assign) string, holdCancel <-chan struct{}) *fakeRunner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	c, _, err := peer.Dial(ctx, s.addr, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1, Token: s.token, Identity: s.d.TestIdentity(name)},
		peer.Options{MaxMissed: 20}) // as the dispatcher's, above
	if err != nil {
		t.Fatalf("runner %s: %v", name, err)
	}
	fr := &fakeRunner{name: name, conn: c, assigns: make(chan wire.Assign, 64), cancels: make(chan wire.JobRef, 64),
		auto: auto, holdCancel: holdCancel, served: make(chan struct{}), logf: t.Logf}
	go func() {
		defer close(fr.served)
		c.Serve(context.Background(), peer.HandlerFunc(fr.handle))
	}()
	t.Cleanup(func() {
		c.Close()
		<-fr.served
		fr.wg.Wait()
	})
	return fr
}

// handle runs on the connection's read loop: it answers at once and leaves any
// call back to the dispatcher to another goroutine.
func (fr *fakeRunner) handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case wire.MethodJobAssign:
		var a wire.Assign
		if err := wire.Decode(method, params, &a); err != nil {
			return nil, err
		}
		fr.assigns <- a
		if fr.auto != nil {
			status := fr.auto(a)
			fr.wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTime)
				defer cancel()
				if err := fr.finish(ctx, a, status, outputFor(a)); err != nil {
					fr.logf("runner %s finishing %s: %v", fr.name, a.JobID, err)
				}
			})
		}
	case wire.MethodJobCancel:
		var ref wire.JobRef
		if err := wire.Decode(method, params, &ref); err != nil {
			return nil, err
		}
		fr.cancels <- ref
		if fr.holdCancel != nil {
			select {
			case <-fr.holdCancel:
			case <-ctx.Done():
			case <-fr.conn.Done():
			}
		}
	}
	return nil, nil
}

func outputFor(a wire.Assign) string {
	return fmt.Sprintf("running tests of %s\nRan 2 tests\n", a.Commit[:8])
}

// finish sends output (if any) and then the result.
func (fr *fakeRunner) finish(ctx context.Context, a wire.Assign, status, output string) error {
	if output != "" {
		if err := fr.conn.Call(ctx, wire.MethodJobOutput, &wire.Output{JobID: a.JobID, Attempt: a.Attempt, Seq: 1, Data: output}, nil); err != nil {
			return err
		}
	}
	return fr.result(ctx, a, status, int64(len(output)))
}

func (fr *fakeRunner) result(ctx context.Context, a wire.Assign, status string, outputBytes int64) error {
	now := time.Now()
	res := &wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: status, StartedAt: now, FinishedAt: now, OutputBytes: outputBytes}
	switch status {
	case wire.StatusPassed:
		res.Summary = wire.Summary{Passed: 2}
	case wire.StatusFailed:
		res.ExitCode = 1
		res.Summary = wire.Summary{Passed: 1, Failed: 1, Failing: []string{"test_bad (t.T.test_bad)"}}
	}
	return fr.conn.Call(ctx, wire.MethodJobResult, res, nil)
}

func (fr *fakeRunner) output(t *testing.T, a wire.Assign, seq uint64, off int64, data string) {
	t.Helper()
	if err := fr.conn.Call(ctxT(t), wire.MethodJobOutput, &wire.Output{JobID: a.JobID, Attempt: a.Attempt, Seq: seq, Offset: off, Data: data}, nil); err != nil {
		t.Fatalf("runner %s: output: %v", fr.name, err)
	}
}

func (fr *fakeRunner) next(t *testing.T) wire.Assign {
	t.Helper()
	select {
	case a := <-fr.assigns:
		return a
	case <-time.After(waitTime):
		t.Fatalf("runner %s: no assignment within %v", fr.name, waitTime)
		return wire.Assign{}
	}
}

func passAll(wire.Assign) string { return wire.StatusPassed }
