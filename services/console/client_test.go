package console_test

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

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/console"
	"github.com/eventide-ci/eventide/services/dispatcher"
)

// waitTime bounds every wait of these tests: nothing here takes more than a
// fraction of it unless something is wrong.
const waitTime = 5 * time.Second

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
	token      string
	dataDir    string // default: a new temporary directory
	resultsDir string
	addr       string // listen here; default 127.0.0.1:0
	noListen   bool   // in-process clients only
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
		Heartbeat:  50 * time.Millisecond,
		// Twenty missed heartbeats (1s), not three, before a peer counts as lost:
		// the tests end connections explicitly, and a loaded machine running
		// the race detector can starve a goroutine for more than 150ms.
		MaxMissed: 20,
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
	c, _, err := peer.Dial(ctx, s.addr, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1, Token: s.token},
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

// --- tests -----------------------------------------------------------------------

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

func TestSubscribeSnapshot(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		before := time.Now()
		s := startDispatcher(t, serverOpts{})
		var ids []string
		for i := range 3 {
			ids = append(ids, s.submit(t, i+1, "main"))
		}
		c := newClient(t, s, tr)
		snap, _ := subscribe(t, c)
		if snap.Server != "eventide test" {
			t.Errorf("server %q, want %q", snap.Server, "eventide test")
		}
		if snap.Address != s.addr {
			t.Errorf("address %q, want %q", snap.Address, s.addr)
		}
		if snap.StartedAt.Before(before) || snap.StartedAt.After(time.Now()) {
			t.Errorf("started_at %v, want between %v and now", snap.StartedAt, before)
		}
		if len(snap.Runners) != 0 {
			t.Errorf("runners %+v, want none", snap.Runners)
		}
		if len(snap.Jobs) != 3 {
			t.Fatalf("snapshot has %d jobs, want 3: %+v", len(snap.Jobs), snap.Jobs)
		}
		for i, j := range snap.Jobs {
			want := fmt.Sprintf("%s in queue; no runner connected", []string{"1st", "2nd", "3rd"}[i])
			if j.ID != ids[i] || j.State != wire.StateQueued || j.Waiting != want || j.Commit != commitID(i+1) ||
				j.Repo != "/r" || j.Branch != "main" || j.Attempt != 0 || j.QueuedAt.IsZero() {
				t.Errorf("snapshot job %d: %+v, want %s queued, waiting %q", i, j, ids[i], want)
			}
		}

		// With a runner holding the first job, a second console sees it busy and
		// the rest waiting for its slot.
		r1 := startRunner(t, s, "r1", nil)
		if a := r1.next(t); a.JobID != ids[0] {
			t.Fatalf("runner got %s, want %s", a.JobID, ids[0])
		}
		snap2, _ := subscribe(t, newClient(t, s, tr))
		if len(snap2.Runners) != 1 {
			t.Fatalf("runners %+v, want r1", snap2.Runners)
		}
		r := snap2.Runners[0]
		if r.Name != "r1" || r.State != wire.RunnerBusy || r.Slots != 1 || !slices.Equal(r.Jobs, ids[:1]) || r.LastSeen.IsZero() || r.Remote == "" {
			t.Errorf("runner %+v, want r1 busy with %s", r, ids[0])
		}
		if len(snap2.Jobs) != 3 {
			t.Fatalf("snapshot has %d jobs, want 3: %+v", len(snap2.Jobs), snap2.Jobs)
		}
		// The queue first, in order, then the running job.
		for i, want := range []struct{ id, waiting string }{
			{ids[1], "1st in queue; all 1 slots busy"},
			{ids[2], "2nd in queue; all 1 slots busy"},
		} {
			if j := snap2.Jobs[i]; j.ID != want.id || j.State != wire.StateQueued || j.Waiting != want.waiting {
				t.Errorf("snapshot job %d: %s %s waiting %q, want %s queued waiting %q", i, j.ID, j.State, j.Waiting, want.id, want.waiting)
			}
		}
		if j := snap2.Jobs[2]; j.ID != ids[0] || (j.State != wire.StateAssigned && j.State != wire.StateRunning) ||
			j.Runner != "r1" || j.Attempt != 1 || j.Waiting != "" {
			t.Errorf("snapshot job 2: %+v, want %s assigned or running on r1, attempt 1", j, ids[0])
		}
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

func TestEventsFollowJobsAndRunners(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)

		// A runner registering, with nothing to do.
		r1 := startRunner(t, s, "r1", nil)
		ev, _ := st.wait(t, "r1 registering", 0, runnerIs("r1"))
		if ev.Runner.State != wire.RunnerIdle || ev.Runner.Slots != 1 || len(ev.Runner.Jobs) != 0 {
			t.Errorf("first event of r1: %+v, want idle with 1 slot", ev.Runner)
		}

		// A job it runs: assigned or running (the two may be coalesced), then
		// running, with its output, then passed.
		m := st.mark()
		a := s.submit(t, 1, "main")
		as := r1.next(t)
		if as.JobID != a || as.Attempt != 1 {
			t.Fatalf("assignment %+v, want %s attempt 1", as, a)
		}
		ev, at := st.wait(t, "job A assigned or running", m, jobIs(a, wire.StateAssigned, wire.StateRunning))
		if ev.Job.Runner != "r1" || ev.Job.Attempt != 1 || ev.Job.Commit != commitID(1) {
			t.Errorf("job A event %+v, want attempt 1 on r1", ev.Job)
		}
		ev, at = st.wait(t, "job A running", at, jobIs(a, wire.StateRunning))
		if ev.Job.StartedAt.IsZero() {
			t.Errorf("running job has no started_at: %+v", ev.Job)
		}
		ev, _ = st.wait(t, "r1 busy", m, runnerIs("r1", wire.RunnerBusy))
		if !slices.Equal(ev.Runner.Jobs, []string{a}) {
			t.Errorf("busy r1 holds %v, want [%s]", ev.Runner.Jobs, a)
		}

		// A second job waits for the busy slot.
		m = st.mark()
		b := s.submit(t, 2, "main")
		ev, _ = st.wait(t, "job B queued", m, jobIs(b))
		if ev.Job.State != wire.StateQueued || ev.Job.Waiting != "all 1 slots busy" || ev.Job.Attempt != 0 {
			t.Errorf("job B event %+v, want queued waiting for all 1 slots busy", ev.Job)
		}

		// Output arrives as output events, in order.
		r1.output(t, as, 1, 0, "hello\n")
		_, at = st.wait(t, "the first output of A", at, outputIs(a, 1, 0, "hello\n"))
		r1.output(t, as, 2, 6, "world\n")
		st.wait(t, "the second output of A", at+1, outputIs(a, 1, 6, "world\n"))

		// The job passes; the runner is free again and takes B.
		m = st.mark()
		if err := r1.result(ctxT(t), as, wire.StatusPassed, 12); err != nil {
			t.Fatal(err)
		}
		ev, _ = st.wait(t, "job A passed", m, jobIs(a, wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled))
		if j := ev.Job; j.State != wire.StatusPassed || j.FinishedAt.IsZero() || j.Summary == nil || j.Summary.Passed != 2 || j.Attempt != 1 {
			t.Errorf("job A's final event %+v (summary %+v), want passed with 2 tests passed", j, j.Summary)
		}
		st.wait(t, "r1 done with A", m, func(ev wire.Event) bool { return runnerIs("r1")(ev) && ev.Runner.Done == 1 })
		bs := r1.next(t)
		if bs.JobID != b {
			t.Fatalf("r1 got %+v, want job B", bs)
		}
		st.wait(t, "job B running", m, jobIs(b, wire.StateRunning))

		// The runner is lost: it shows as lost, and B is queued again.
		m = st.mark()
		r1.conn.Close()
		st.wait(t, "r1 lost", m, runnerIs("r1", wire.RunnerLost))
		ev, _ = st.wait(t, "job B queued again", m, jobIs(b, wire.StateQueued))
		if ev.Job.Attempt != 1 || ev.Job.Runner != "" {
			t.Errorf("re-queued job B %+v, want attempt 1 (the lost one), no runner", ev.Job)
		}
		j, err := c.Job(ctxT(t), b)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Outcome != "lost" || j.Attempts[0].Runner != "r1" {
			t.Errorf("job B's attempts %+v, want one lost on r1", j.Attempts)
		}
	})
}

// A burst of changes arrives in a few batches, each job at most once per batch
// with its latest state. Coalescing is the dispatcher's, whatever the transport,
// so one (TCP) is enough: the test is the slowest here.
func TestBurstIsCoalesced(t *testing.T) {
	{
		tr := transports[0]
		const (
			n = 500
			// A few submitters at once, as observers would be; not so many that
			// the 50ms heartbeats starve on a small machine under the race detector.
			submitters = 8
			// The dispatcher's pacing of event frames (flushEvery), less a margin.
			pacing = 40 * time.Millisecond
		)
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)

		// Every fifth job is cancelled right after it is queued: the two changes
		// mostly fall into one batch, where only the latest state may remain.
		ids := make([]string, n)
		errs := make([]error, n)
		want := make(map[string]string, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for w := range submitters {
			wg.Go(func() {
				for i := w; i < n; i += submitters {
					sub, err := s.d.Submit(context.Background(), &wire.Submit{Repo: "/r", Commit: commitID(i + 1), Branch: "main"})
					state := wire.StateQueued
					if err == nil && i%5 == 0 {
						err, state = s.d.Stop(context.Background(), sub.JobID), wire.StatusCancelled
					}
					ids[i], errs[i] = sub.JobID, err
					mu.Lock()
					want[sub.JobID] = state
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}

		latest := map[string]wire.State{}
		st.until(t, "the latest state of every job", func() bool {
			clear(latest)
			for _, ev := range st.events {
				if ev.Kind == wire.EventJob {
					latest[ev.Job.ID] = ev.Job.State
				}
			}
			for id, state := range want {
				if latest[id] != wire.State(state) {
					return false
				}
			}
			return true
		})
		elapsed := time.Since(start)
		st.mu.Lock()
		var batches, jobEvents int
		for _, b := range st.batches {
			seen := map[string]bool{}
			for _, ev := range b.Events {
				if ev.Kind != wire.EventJob {
					continue
				}
				if seen[ev.Job.ID] {
					t.Errorf("job %s appears twice in one batch: not coalesced", ev.Job.ID)
				}
				seen[ev.Job.ID] = true
				jobEvents++
			}
			if len(seen) > 0 {
				batches++
			}
			if b.Dropped != 0 {
				t.Errorf("a batch reports %d dropped events", b.Dropped)
			}
		}
		st.mu.Unlock()
		t.Logf("%d job changes in %v arrived as %d events in %d batches", n+n/5, elapsed.Round(time.Millisecond), jobEvents, batches)
		if len(latest) != n {
			t.Errorf("events name %d jobs, want %d", len(latest), n)
		}
		// Frames are paced: no more than one per pacing interval (plus the
		// frames a big batch is split into).
		if limit := int(elapsed/pacing) + 4; batches > limit || batches >= n/5 {
			t.Errorf("%d jobs arrived in %d batches over %v: bursts are not coalesced (want at most %d)", n, batches, elapsed, min(limit, n/5-1))
		}
		if jobEvents >= n+n/5 {
			t.Errorf("%d changes arrived as %d events: no job's changes were coalesced", n+n/5, jobEvents)
		}
	}
}

func TestHistoryQueries(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		statuses := map[string]string{commitID(1): wire.StatusPassed, commitID(2): wire.StatusFailed,
			commitID(3): wire.StatusPassed, commitID(4): wire.StatusFailed}
		startRunner(t, s, "r1", func(a wire.Assign) string { return statuses[a.Commit] })
		branches := []string{"main", "dev", "dev", "main", "dev"}
		var ids []string
		for i := range 4 {
			id := s.submit(t, i+1, branches[i])
			ids = append(ids, id)
			st.wait(t, "job "+id+" finished", 0, jobIs(id, wire.State(statuses[commitID(i+1)])))
		}
		ctx := ctxT(t)
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "r1 draining", 0, runnerIs("r1", wire.RunnerDraining))
		ids = append(ids, s.submit(t, 5, branches[4])) // stays queued

		list := func(q wire.JobQuery) ([]string, bool) {
			t.Helper()
			l, err := c.Jobs(ctx, q)
			if err != nil {
				t.Fatalf("jobs.list %+v: %v", q, err)
			}
			var got []string
			for _, j := range l.Jobs {
				got = append(got, j.ID)
			}
			return got, l.More
		}
		check := func(what string, q wire.JobQuery, want []string, wantMore bool) {
			t.Helper()
			got, more := list(q)
			if !slices.Equal(got, want) || more != wantMore {
				t.Errorf("%s: got %v more=%v, want %v more=%v", what, got, more, want, wantMore)
			}
		}
		check("all", wire.JobQuery{}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, false)
		check("failed", wire.JobQuery{States: []string{wire.StatusFailed}}, []string{ids[3], ids[1]}, false)
		check("branch dev", wire.JobQuery{Branch: "dev"}, []string{ids[4], ids[2], ids[1]}, false)
		check("passed or queued on dev", wire.JobQuery{Branch: "dev", States: []string{wire.StatusPassed, wire.StateQueued}},
			[]string{ids[4], ids[2]}, false)
		check("commit", wire.JobQuery{Commit: commitID(3)}, []string{ids[2]}, false)
		check("page 1", wire.JobQuery{Limit: 2}, []string{ids[4], ids[3]}, true)
		check("page 2", wire.JobQuery{Limit: 2, Before: ids[3]}, []string{ids[2], ids[1]}, true)
		check("page 3", wire.JobQuery{Limit: 2, Before: ids[1]}, []string{ids[0]}, false)

		l, err := c.Jobs(ctx, wire.JobQuery{Commit: commitID(2)})
		if err != nil || len(l.Jobs) != 1 {
			t.Fatalf("jobs.list by commit: %+v %v", l, err)
		}
		if j := l.Jobs[0]; j.State != wire.StatusFailed || j.Runner != "r1" || j.Branch != "dev" || j.Summary == nil ||
			j.Summary.Failed != 1 || j.ExitCode != 1 || j.FinishedAt.IsZero() || len(j.Attempts) != 0 {
			t.Errorf("listed job %+v, want failed on r1 with its summary and no attempts", j)
		}

		// job.get: the job with its attempts.
		j, err := c.Job(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if j.ID != ids[1] || j.State != wire.StatusFailed || j.Attempt != 1 || j.Summary == nil || j.Summary.Failed != 1 ||
			!slices.Equal(j.Summary.Failing, []string{"test_bad (t.T.test_bad)"}) || j.ExitCode != 1 {
			t.Errorf("job.get: %+v", j)
		}
		if len(j.Attempts) != 1 {
			t.Fatalf("attempts %+v, want 1", j.Attempts)
		}
		if a := j.Attempts[0]; a.N != 1 || a.Runner != "r1" || a.Assigned.IsZero() || a.Ended.IsZero() || a.Outcome != wire.StatusFailed {
			t.Errorf("attempt %+v, want 1 on r1, ended failed", a)
		}
		q, err := c.Job(ctx, ids[4])
		if err != nil || q.State != wire.StateQueued || q.Attempt != 0 || len(q.Attempts) != 0 {
			t.Errorf("job.get of the queued job: %+v %v", q, err)
		}
		_, err = c.Job(ctx, "0123456789abcdef")
		wantCode(t, "job.get of an unknown job", err, wire.CodeUnknownJob)

		// job.log: all of it, then in pieces.
		out := outputFor(wire.Assign{Commit: commitID(2)})
		lc, err := c.Log(ctx, wire.LogQuery{JobID: ids[1]})
		if err != nil {
			t.Fatal(err)
		}
		if lc.JobID != ids[1] || lc.Attempt != 1 || lc.Data != out || lc.Offset != 0 || lc.Next != int64(len(out)) ||
			lc.End != int64(len(out)) || lc.Start != 0 || !lc.Final {
			t.Errorf("job.log: %+v, want all of %q, final", lc, out)
		}
		p1, err := c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 1, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		p2, err := c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 1, Offset: p1.Next})
		if err != nil {
			t.Fatal(err)
		}
		if p1.Data != out[:10] || p1.Next != 10 || p2.Offset != 10 || p2.Data != out[10:] || p2.Next != int64(len(out)) || !p2.Final {
			t.Errorf("job.log in pieces: %+v then %+v, want %q then %q", p1, p2, out[:10], out[10:])
		}
		_, err = c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 2})
		wantCode(t, "job.log of an attempt that never was", err, wire.CodeUnknownJob)
	})
}

// job.get reports how much output each attempt has stored.
func TestJobAttemptLogBytes(t *testing.T) {
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	_, st := subscribe(t, c)
	startRunner(t, s, "r1", passAll)
	id := s.submit(t, 1, "main")
	st.wait(t, "job passed", 0, jobIs(id, wire.StatusPassed))
	j, err := c.Job(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(outputFor(wire.Assign{Commit: commitID(1)})))
	if len(j.Attempts) != 1 || j.Attempts[0].LogBytes != want {
		t.Errorf("attempts %+v, want one with log_bytes %d", j.Attempts, want)
	}
}

// A running job's log is not final, and grows.
func TestLogOfRunningJob(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		r1 := startRunner(t, s, "r1", nil)
		id := s.submit(t, 1, "main")
		a := r1.next(t)
		r1.output(t, a, 1, 0, "first\n")
		st.wait(t, "output", 0, outputIs(id, 1, 0, "first\n"))
		lc, err := c.Log(ctxT(t), wire.LogQuery{JobID: id})
		if err != nil {
			t.Fatal(err)
		}
		if lc.Data != "first\n" || lc.Next != 6 || lc.End != 6 || lc.Final || lc.Attempt != 1 {
			t.Errorf("log of a running job: %+v, want %q, not final", lc, "first\n")
		}
		r1.output(t, a, 2, 6, "second\n")
		lc, err = c.Log(ctxT(t), wire.LogQuery{JobID: id, Offset: lc.Next})
		if err != nil {
			t.Fatal(err)
		}
		if lc.Data != "second\n" || lc.Offset != 6 || lc.Next != 13 || lc.Final {
			t.Errorf("log read on: %+v, want %q from 6", lc, "second\n")
		}
	})
}

func TestRetry(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)

		id := s.submit(t, 1, "main")
		a1 := r1.next(t)
		if err := r1.finish(ctx, a1, wire.StatusFailed, "boom\n"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "attempt 1 failed", 0, jobIs(id, wire.StatusFailed))

		m := st.mark()
		info, err := c.Retry(ctx, id)
		if err != nil {
			t.Fatalf("retry of a finished job: %v", err)
		}
		if info.ID != id || info.State != wire.StateQueued || info.Summary != nil || !info.FinishedAt.IsZero() {
			t.Errorf("retry reply %+v, want the job queued again without its old result", info)
		}
		// The runner gets the new attempt, which passes.
		a2 := r1.next(t)
		if a2.JobID != id || a2.Attempt != 2 {
			t.Fatalf("assignment after retry %+v, want %s attempt 2", a2, id)
		}
		// Retrying a job that is queued or running is refused.
		_, err = c.Retry(ctx, id)
		wantCode(t, "retry of a running job", err, wire.CodeRefused)
		if err := r1.finish(ctx, a2, wire.StatusPassed, "fixed\n"); err != nil {
			t.Fatal(err)
		}
		ev, _ := st.wait(t, "attempt 2 passed", m, jobIs(id, wire.StatusPassed))
		if ev.Job.Attempt != 2 {
			t.Errorf("passed event %+v, want attempt 2", ev.Job)
		}
		j, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != wire.StatusPassed || j.Attempt != 2 || len(j.Attempts) != 2 ||
			j.Attempts[0].Outcome != wire.StatusFailed || j.Attempts[1].Outcome != wire.StatusPassed || j.Attempts[1].N != 2 {
			t.Errorf("job after retry: %+v attempts %+v, want attempt 1 failed, attempt 2 passed", j, j.Attempts)
		}
		// Each attempt keeps its own log.
		for n, want := range map[int]string{1: "boom\n", 2: "fixed\n", 0: "fixed\n"} {
			lc, err := c.Log(ctx, wire.LogQuery{JobID: id, Attempt: n})
			if err != nil || lc.Data != want || !lc.Final {
				t.Errorf("log of attempt %d: %+v %v, want %q", n, lc, err, want)
			}
		}

		// A queued job cannot be retried.
		m = st.mark()
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "r1 draining", m, runnerIs("r1", wire.RunnerDraining))
		q := s.submit(t, 2, "main")
		_, err = c.Retry(ctx, q)
		wantCode(t, "retry of a queued job", err, wire.CodeRefused)

		// Nor a finished job whose commit is queued again as another job.
		again := s.submit(t, 1, "main")
		if again == id {
			t.Fatal("a finished commit's resubmission got the old job's id")
		}
		_, err = c.Retry(ctx, id)
		wantCode(t, "retry while the commit is queued as another job", err, wire.CodeRefused)
		_, err = c.Retry(ctx, "0123456789abcdef")
		wantCode(t, "retry of an unknown job", err, wire.CodeUnknownJob)
	})
}

// After a retry, the snapshot still lists each job once.
func TestSnapshotListsRetriedJobOnce(t *testing.T) {
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	_, st := subscribe(t, c)
	startRunner(t, s, "r1", passAll)
	id := s.submit(t, 1, "main")
	st.wait(t, "attempt 1 passed", 0, jobIs(id, wire.StatusPassed))
	m := st.mark()
	if _, err := c.Retry(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	st.wait(t, "attempt 2 passed", m, func(ev wire.Event) bool { return jobIs(id, wire.StatusPassed)(ev) && ev.Job.Attempt == 2 })
	snap, _ := subscribe(t, newClient(t, s, transports[0]))
	n := 0
	for _, j := range snap.Jobs {
		if j.ID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the snapshot lists the retried job %d times, want once: %+v", n, snap.Jobs)
	}
}

func TestStop(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)

		running := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "job running", 0, jobIs(running, wire.StateRunning))

		// A queued job ends at once.
		m := st.mark()
		queued := s.submit(t, 2, "main")
		st.wait(t, "second job queued", m, jobIs(queued, wire.StateQueued))
		if err := c.Stop(ctx, queued); err != nil {
			t.Fatalf("stop of a queued job: %v", err)
		}
		ev, _ := st.wait(t, "queued job cancelled", m, jobIs(queued, wire.StatusCancelled))
		if ev.Job.Reason == "" || ev.Job.FinishedAt.IsZero() {
			t.Errorf("cancelled event %+v, want a reason and finished_at", ev.Job)
		}
		if j, err := c.Job(ctx, queued); err != nil || j.State != wire.StatusCancelled || j.Attempt != 0 {
			t.Errorf("job.get of the cancelled job: %+v %v", j, err)
		}

		// A running job is cancelled on its runner, whose result ends it.
		if err := c.Stop(ctx, running); err != nil {
			t.Fatalf("stop of a running job: %v", err)
		}
		select {
		case ref := <-r1.cancels:
			if ref.JobID != running || ref.Attempt != a.Attempt {
				t.Errorf("job.cancel %+v, want %s attempt %d", ref, running, a.Attempt)
			}
		case <-time.After(waitTime):
			t.Fatal("the runner got no job.cancel")
		}
		if j, err := c.Job(ctx, running); err != nil || j.State != wire.StateRunning {
			t.Errorf("before the runner reports, the job is %+v %v, want still running", j.State, err)
		}
		m = st.mark()
		if err := r1.result(ctx, a, wire.StatusCancelled, 0); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "running job cancelled", m, jobIs(running, wire.StatusCancelled))
		if j, err := c.Job(ctx, running); err != nil || j.State != wire.StatusCancelled || len(j.Attempts) != 1 ||
			j.Attempts[0].Outcome != wire.StatusCancelled {
			t.Errorf("job.get of the stopped job: %+v %v", j, err)
		}
		st.wait(t, "r1 idle again", m, runnerIs("r1", wire.RunnerIdle))

		// A job that has ended cannot be stopped.
		wantCode(t, "stop of a finished job", c.Stop(ctx, running), wire.CodeRefused)
		wantCode(t, "stop of an unknown job", c.Stop(ctx, "0123456789abcdef"), wire.CodeUnknownJob)
	})
}

// Jobs cancelled while queued no longer count in the queue positions the snapshot
// shows, and a cancelled job that is retried is queued once.
func TestSnapshotQueueAfterStop(t *testing.T) {
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	subscribe(t, c)
	ctx := ctxT(t)
	a := s.submit(t, 1, "main")
	b := s.submit(t, 2, "main")
	if err := c.Stop(ctx, a); err != nil {
		t.Fatal(err)
	}
	snap, _ := subscribe(t, newClient(t, s, transports[0]))
	for _, j := range snap.Jobs {
		if j.ID == b && j.Waiting != "1st in queue; no runner connected" {
			t.Errorf("the only queued job shows as %q, want %q", j.Waiting, "1st in queue; no runner connected")
		}
	}
	if _, err := c.Retry(ctx, a); err != nil {
		t.Fatalf("retry of a cancelled job: %v", err)
	}
	snap, _ = subscribe(t, newClient(t, s, transports[0]))
	var queued []string
	for _, j := range snap.Jobs {
		if j.State == wire.StateQueued {
			queued = append(queued, j.ID+" ("+j.Waiting+")")
		}
	}
	want := []string{b + " (1st in queue; no runner connected)", a + " (2nd in queue; no runner connected)"}
	if !slices.Equal(queued, want) {
		t.Errorf("queued jobs in the snapshot: %v, want %v", queued, want)
	}
}

func TestDrain(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)
		first := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "first job running", 0, jobIs(first, wire.StateRunning))

		m := st.mark()
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatalf("drain: %v", err)
		}
		ev, _ := st.wait(t, "r1 draining", m, runnerIs("r1", wire.RunnerDraining))
		if !slices.Equal(ev.Runner.Jobs, []string{first}) {
			t.Errorf("draining r1 holds %v, want its job %s", ev.Runner.Jobs, first)
		}
		second := s.submit(t, 2, "main")
		ev, _ = st.wait(t, "second job queued", m, jobIs(second))
		if ev.Job.State != wire.StateQueued || ev.Job.Waiting != "every runner is draining" {
			t.Errorf("second job %+v, want queued because every runner is draining", ev.Job)
		}

		// It finishes what it has, and takes nothing more.
		m = st.mark()
		if err := r1.finish(ctx, a, wire.StatusPassed, "ok\n"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "first job passed", m, jobIs(first, wire.StatusPassed))
		st.wait(t, "r1 done, still draining", m, func(ev wire.Event) bool {
			return runnerIs("r1", wire.RunnerDraining)(ev) && ev.Runner.Done == 1 && len(ev.Runner.Jobs) == 0
		})
		if j, err := c.Job(ctx, second); err != nil || j.State != wire.StateQueued {
			t.Errorf("second job with only a draining runner: %+v %v, want queued", j, err)
		}
		snap, _ := subscribe(t, newClient(t, s, tr))
		for _, j := range snap.Jobs {
			if j.ID == second && (j.State != wire.StateQueued || j.Waiting != "1st in queue; every runner is draining") {
				t.Errorf("snapshot shows the second job as %s, %q", j.State, j.Waiting)
			}
		}
		// A live runner takes it; had the drained one been given it meanwhile, the
		// live one would get nothing.
		r2 := startRunner(t, s, "r2", nil)
		if got := r2.next(t); got.JobID != second {
			t.Fatalf("r2 got %+v, want the second job", got)
		}
		select {
		case got := <-r1.assigns:
			t.Errorf("the draining runner was given %+v", got)
		default:
		}
		wantCode(t, "drain of an unknown runner", c.Drain(ctx, "nobody"), wire.CodeRefused)
	})
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

// A console subscribes again to a dispatcher restarted on the same address with the
// same data directory, and finds the history from before the restart.
func TestResubscribeAfterRestart(t *testing.T) {
	s1 := startDispatcher(t, serverOpts{})
	c := newClient(t, s1, transports[0])
	snap1, st := subscribe(t, c)
	r1 := startRunner(t, s1, "r1", passAll)
	var ids []string
	for i := range 3 {
		id := s1.submit(t, i+1, "main")
		ids = append(ids, id)
		st.wait(t, "job "+id+" passed", 0, jobIs(id, wire.StatusPassed))
	}
	s1.shutdown(t)
	st.waitClosed(t)
	select { // the runner lost its dispatcher too
	case <-r1.served:
	case <-time.After(waitTime):
		t.Fatal("the runner's connection outlived the dispatcher")
	}
	if _, err := c.Job(ctxT(t), ids[0]); !errors.Is(err, console.ErrNotConnected) {
		t.Errorf("request while the dispatcher is down: %v, want ErrNotConnected", err)
	}

	s2 := startDispatcher(t, serverOpts{addr: s1.addr, dataDir: s1.dataDir, resultsDir: s1.resultsDir})
	snap2, st2 := subscribe(t, c)
	if !snap2.StartedAt.After(snap1.StartedAt) || snap2.Address != s1.addr {
		t.Errorf("snapshot after the restart: started %v (before: %v), address %q", snap2.StartedAt, snap1.StartedAt, snap2.Address)
	}
	if len(snap2.Runners) != 0 {
		t.Errorf("runners after the restart: %+v, want none", snap2.Runners)
	}
	// The recent finished jobs, newest first.
	var got []string
	for _, j := range snap2.Jobs {
		if j.State != wire.StatusPassed || j.Attempt != 1 || j.Runner != "r1" || j.FinishedAt.IsZero() {
			t.Errorf("job after the restart: %+v, want passed on r1", j)
		}
		got = append(got, j.ID)
	}
	if want := []string{ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
		t.Errorf("snapshot jobs after the restart: %v, want %v", got, want)
	}
	// And the new connection works: queries and events.
	if j, err := c.Job(ctxT(t), ids[1]); err != nil || j.State != wire.StatusPassed || len(j.Attempts) != 1 {
		t.Errorf("job.get after the restart: %+v %v", j, err)
	}
	id := s2.submit(t, 9, "main")
	st2.wait(t, "a job submitted after the restart", 0, jobIs(id, wire.StateQueued))
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

// A runner slow to acknowledge a cancel delays the reply to job.stop, not the
// console's connection: it stays up, with its events, over either transport.
func TestStopWithSlowRunnerKeepsConsole(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		hold := make(chan struct{})
		r1 := startRunnerHolding(t, s, "r1", nil, hold)
		id := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "job running", 0, jobIs(id, wire.StateRunning))

		stopped := make(chan error, 1)
		go func() { stopped <- c.Stop(context.Background(), id) }()
		select {
		case <-r1.cancels:
		case <-time.After(waitTime):
			t.Fatal("the runner got no job.cancel")
		}
		// The runner takes ten heartbeat intervals to answer; the console's
		// connection must not end meanwhile. (A timed wait on purpose: this is
		// the slowness under test, and it ends early if the connection does.)
		closed := make(chan struct{})
		go func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			for !st.closed {
				ch := st.changed
				st.mu.Unlock()
				<-ch
				st.mu.Lock()
			}
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(500 * time.Millisecond):
		}
		close(hold)
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("stop with a slow runner: %v", err)
			}
		case <-time.After(waitTime):
			t.Fatal("stop did not return")
		}
		if err := r1.result(ctxT(t), a, wire.StatusCancelled, 0); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "the job cancelled", 0, jobIs(id, wire.StatusCancelled))
	})
}
