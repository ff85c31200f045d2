package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

func timeAfter(t *testing.T) <-chan time.Time {
	t.Helper()
	return time.After(testkit.Patience)
}

// waitLimit bounds every wait of the tests that run a runner against a fake
// dispatcher: a reconnect alone may take a few seconds of backoff, and a busy
// machine many times that.
const waitLimit = testkit.Patience

// logged reports whether the list has an entry with msg about job.
func logged(list []testkit.LogEntry, msg, job string) bool {
	return slices.ContainsFunc(list, func(e testkit.LogEntry) bool { return e.Message == msg && e.Attrs["job"] == job })
}

// newGitRepo makes a real repository with one commit of files and returns its
// directory and the commit's id.
func newGitRepo(t *testing.T, files map[string]string) (dir, commit string) {
	t.Helper()
	r := testkit.NewRepo(t, "main")
	return r.Dir, r.Commit("tests", files)
}

// frame is a job.output, job.tests or job.result request as the fake
// dispatcher read it.
type frame struct {
	conn   int // the admitted connection it came on, from 1
	method string
	out    wire.Output    // for job.output
	tests  wire.TestChunk // for job.tests
	res    wire.Result    // for job.result
}

func (f frame) String() string {
	switch f.method {
	case wire.MethodJobOutput:
		return fmt.Sprintf("conn %d %s seq %d offset %d %q", f.conn, f.method, f.out.Seq, f.out.Offset, f.out.Data)
	case wire.MethodJobTests:
		return fmt.Sprintf("conn %d %s seq %d (%d tests)", f.conn, f.method, f.tests.Seq, len(f.tests.Tests))
	}
	return fmt.Sprintf("conn %d %s %s output_bytes %d", f.conn, f.method, f.res.Status, f.res.OutputBytes)
}

// ack is the fake dispatcher's answer to frames[n]; err nil means it acknowledged it.
type ack struct {
	n   int
	err error
}

// assigned is the outcome of the fake's job.assign call.
type assigned struct {
	conn *peer.Conn
	err  error
}

// fakeDispatcher is a dispatcher reduced to what a runner's delivery sees, built on
// the real peer.Server over loopback TCP. It offers one job to the first runner it
// admits, and answers job.output and job.result, like the dispatcher, with deferred
// replies: reply decides each answer, on the reply's own goroutine.
type fakeDispatcher struct {
	addr   string
	job    wire.Assign
	srv    *peer.Server
	ln     net.Listener
	served chan error

	// version, when set, is the protocol version the fake's welcome says it
	// speaks, whatever this build's wire.ProtocolVersion.
	version int
	// admit, when set, may refuse a hello; n is how many connections were admitted
	// before. It is called with mu held.
	admit func(n int, h *wire.Hello) error
	// reply answers frames[n]; nil acknowledges it. ctx ends with the connection.
	reply func(ctx context.Context, n int, f frame) error

	frames   testkit.List[frame]
	acks     testkit.List[ack]
	ended    testkit.List[int] // connections whose session has ended
	assigned chan assigned

	mu      sync.Mutex
	conns   int
	offered bool
	wg      sync.WaitGroup
}

// startFake starts a fake dispatcher offering job; configure, if not nil, sets its
// policies before it accepts anyone. It is shut down when the test ends.
func startFake(t *testing.T, job wire.Assign, configure func(*fakeDispatcher)) *fakeDispatcher {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd := &fakeDispatcher{addr: ln.Addr().String(), job: job, ln: ln,
		served: make(chan error, 1), assigned: make(chan assigned, 1)}
	if configure != nil {
		configure(fd)
	}
	fd.srv = &peer.Server{Admit: fd.admitHello, Name: "fake-dispatcher", Logger: discardLogger()}
	go func() { fd.served <- fd.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := fd.srv.Shutdown(ctx); err != nil {
			t.Errorf("fake dispatcher shutdown: %v", err)
		}
		ln.Close() // in case Serve had not registered it yet
		select {
		case <-fd.served:
		case <-time.After(waitLimit):
			t.Error("fake dispatcher's Serve did not return")
		}
		fd.wg.Wait()
	})
	return fd
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (fd *fakeDispatcher) admitHello(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
	if fd.version != 0 {
		w.ProtocolVersion = fd.version
	}
	if h.Role != wire.RoleRunner {
		return nil, wire.Errorf(wire.CodeRefused, "the fake dispatcher takes runners only, not a %s", h.Role)
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.admit != nil {
		if err := fd.admit(fd.conns, h); err != nil {
			return nil, err
		}
	}
	fd.conns++
	s := &fakeSession{fd: fd, n: fd.conns}
	if !fd.offered {
		fd.offered = true
		// Not from Admit itself: the reply can only be read once the connection
		// is served.
		fd.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			err := c.Call(ctx, wire.MethodJobAssign, &fd.job, nil)
			fd.assigned <- assigned{c, err}
		})
	}
	return s, nil
}

// waitAssigned waits for the runner to take the job and returns the connection it
// was offered on.
func (fd *fakeDispatcher) waitAssigned(t *testing.T) *peer.Conn {
	t.Helper()
	select {
	case a := <-fd.assigned:
		if a.err != nil {
			t.Fatalf("job.assign: %v", a.err)
		}
		return a.conn
	case <-time.After(waitLimit):
		t.Fatalf("the runner did not connect and take the job within %v", waitLimit)
		return nil
	}
}

// waitEnded waits until the session of every connection admitted so far has
// ended, so that every frame the runner sent has been read. It is for after the
// runner has stopped.
func (fd *fakeDispatcher) waitEnded(t *testing.T) {
	t.Helper()
	fd.ended.WaitFor(t, waitLimit, "the runner's connections to end", func(l []int) bool {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		return len(l) == fd.conns
	})
}

type fakeSession struct {
	fd *fakeDispatcher
	n  int
}

func (s *fakeSession) Handle(_ context.Context, method string, params json.RawMessage) (any, error) {
	f := frame{conn: s.n, method: method}
	switch method {
	case wire.MethodJobOutput:
		if err := wire.Decode(method, params, &f.out); err != nil {
			return nil, err
		}
	case wire.MethodJobResult:
		if err := wire.Decode(method, params, &f.res); err != nil {
			return nil, err
		}
	case wire.MethodJobTests:
		if v := s.fd.version; v != 0 && v < wire.VersionTestRecords {
			return nil, wire.Errorf(wire.CodeMethodNotFound, "protocol %d has no %q", v, method)
		}
		if err := wire.Decode(method, params, &f.tests); err != nil {
			return nil, err
		}
	case wire.MethodRunnerDrain:
		return nil, nil
	default:
		return nil, wire.Errorf(wire.CodeMethodNotFound, "the fake dispatcher does not serve %q", method)
	}
	n := s.fd.frames.Add(f)
	return peer.Later(func(ctx context.Context) (any, error) {
		var err error
		if s.fd.reply != nil {
			err = s.fd.reply(ctx, n, f)
		}
		s.fd.acks.Add(ack{n, err})
		return nil, err
	}), nil
}

func (s *fakeSession) Closed(error) { s.fd.ended.Add(s.n) }

// runHandle is a runner running against a fake dispatcher.
type runHandle struct {
	r    *Runner
	logs *testkit.LogRecorder
	done chan struct{}
	err  error // Run's, once done is closed
}

// startRunner runs a runner for the test, against addr, taking its jobs from repo.
// It is stopped, and waited for, when the test ends; its log is shown if the test
// failed.
func startRunner(t *testing.T, addr, repo string) *runHandle {
	t.Helper()
	h := &runHandle{logs: testkit.NewLogRecorder(), done: make(chan struct{})}
	h.r = New(Config{
		Dispatcher: addr, Name: "runner-1", Repo: repo, WorkDir: t.TempDir(),
		Grace:  time.Second, // the longest Run waits for deliverers is Grace+2s
		Logger: h.logs.Logger(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(h.done)
		h.err = h.r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(waitLimit):
			t.Errorf("the runner's Run did not return within %v of being cancelled", waitLimit)
		}
		if t.Failed() {
			list := h.logs.Entries()
			for _, e := range list {
				t.Logf("runner log: %v", e)
			}
		}
	})
	return h
}

// drain asks the runner to drain and waits for Run to return, which it does only
// once it holds no job.
func (h *runHandle) drain(t *testing.T) {
	t.Helper()
	h.r.Drain()
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("Run after draining: %v", h.err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Run did not return within %v of Drain: the runner still holds a job", waitLimit)
	}
}
