package peer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// Timings. Heartbeats are short so that the suite is fast; MaxMissed is generous in
// tests that are not about heartbeats, so that a slow -race run on a loaded machine
// (a process starved of CPU for a second is not rare there) never loses a peer.
const (
	testHeartbeat = 25 * time.Millisecond
	testMaxMissed = 200              // 5 s of silence before a peer is lost
	waitLong      = testkit.Patience // upper bound for anything that should happen
)

var fastOpts = peer.Options{Heartbeat: testHeartbeat, MaxMissed: testMaxMissed}

var quietLogger = slog.New(slog.DiscardHandler)

// TestMain fails the run when a goroutine of this package outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(waitLong); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of net/peer still running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitNoLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			mine := strings.Contains(g, "eventide/net/peer.") || strings.Contains(g, "eventide/net/peer_test.")
			if mine && !strings.Contains(g, "peer_test.waitNoLeaks") && !strings.Contains(g, "peer_test.TestMain") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		<-time.After(10 * time.Millisecond) // poll: goroutines give no signal when they end
	}
}

func observerHello(name string) *wire.Hello {
	return &wire.Hello{Role: wire.RoleObserver, Name: name}
}

func runnerHello(name string) *wire.Hello {
	return &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 2, Labels: []string{"os=linux"}}
}

// testCtx is a context that ends with the test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for one value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLong):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// lateTimer is how late a test lets a short timer (a deadline of 20-150 ms)
// fire before it fails, where lateness is not the property: on a loaded machine
// under the race detector a goroutine can wait seconds for a CPU. Tests that
// need to tell the timer from a longer one say so next to their bound.
const lateTimer = 30 * time.Second

// closedWithin fails unless ch is closed within d.
func closedWithin(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// --- handlers -------------------------------------------------------------------

// call is one Handle invocation as a handler saw it.
type call struct {
	method string
	params json.RawMessage
}

// testHandler answers a small fixed vocabulary and records every invocation
// (requests and notifications) on calls.
//
//	echo      → the params
//	fail      → *wire.Error with the code in params {"code":n}
//	boom      → a plain error (the peer sees CodeInternal)
//	big       → a result of params {"n":n} bytes
//	block     → waits until release is closed or the handler's ctx ends
//	later     → a deferred reply (peer.Later) of the params, once release is closed;
//	            if the connection ends first, its wait reports that on ended
//	nosuch    → *wire.Error CodeMethodNotFound (a protocol violation: the Conn closes)
//	anything else → nil (accepted)
type testHandler struct {
	name    string
	calls   chan call
	release chan struct{}
	once    sync.Once
	ended   chan error // deferred waits ended by the connection's end
}

func newHandler(name string) *testHandler {
	return &testHandler{name: name, calls: make(chan call, 1024), release: make(chan struct{}), ended: make(chan error, 64)}
}

func (h *testHandler) Release() { h.once.Do(func() { close(h.release) }) }

func (h *testHandler) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	select {
	case h.calls <- call{method, append(json.RawMessage(nil), params...)}:
	default:
		panic("testHandler: call log full")
	}
	switch method {
	case "echo":
		if len(params) == 0 {
			return nil, nil
		}
		return params, nil
	case "whoami":
		return map[string]string{"name": h.name}, nil
	case "fail":
		var p struct{ Code int }
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, err
		}
		return nil, wire.Errorf(p.Code, "failed on purpose")
	case "boom":
		return nil, errors.New("kaboom")
	case "big":
		var p struct{ N int }
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, err
		}
		return map[string]string{"data": strings.Repeat("x", p.N)}, nil
	case "block":
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return nil, nil
	case "later":
		echo := append(json.RawMessage(nil), params...)
		return peer.Later(func(ctx context.Context) (any, error) {
			select {
			case <-h.release:
				return echo, nil
			case <-ctx.Done():
				h.ended <- ctx.Err()
				return nil, ctx.Err()
			}
		}), nil
	case "nosuch":
		return nil, wire.Errorf(wire.CodeMethodNotFound, "%s: no such method", method)
	}
	return nil, nil
}

// nextCall returns the next invocation the handler saw.
func (h *testHandler) nextCall(t testing.TB) call {
	t.Helper()
	return recv(t, h.calls, h.name+" handler call")
}

// --- server ---------------------------------------------------------------------

// session is what testServer's Admit attaches to each connection.
type session struct {
	*testHandler
	conn    *peer.Conn
	hello   wire.Hello
	welcome *wire.Welcome
	closed  chan error    // receives the Closed reason, once
	gate    chan struct{} // when not nil, Closed waits for it to close
	nClosed int
	mu      sync.Mutex
}

func (s *session) Closed(err error) {
	s.mu.Lock()
	s.nClosed++
	n := s.nClosed
	s.mu.Unlock()
	if n != 1 {
		panic(fmt.Sprintf("Session.Closed called %d times", n))
	}
	if s.gate != nil {
		<-s.gate
	}
	s.closed <- err
}

// waitClosed returns the reason the session's connection ended.
func (s *session) waitClosed(t testing.TB) error {
	t.Helper()
	return recv(t, s.closed, "Session.Closed")
}

type testServer struct {
	srv      *peer.Server
	ln       net.Listener
	addr     string
	sessions chan *session
	serveErr chan error
	// admit, when set, runs before the session is made; an error refuses the client.
	admit func(c *peer.Conn, h *wire.Hello, w *wire.Welcome) error
	// closeGate, when set, holds every session's Closed until it is closed.
	closeGate chan struct{}

	stopOnce sync.Once
	stopErr  error // Shutdown's result
	served   error // Serve's result
}

// newServer starts a Server on 127.0.0.1:0. configure may change it before Serve.
// The server is shut down when the test ends, and Serve must then return
// ErrServerClosed.
func newServer(t testing.TB, configure func(*testServer)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, configure)
}

// serveOn is newServer on a given listener.
func serveOn(t testing.TB, ln net.Listener, configure func(*testServer)) *testServer {
	t.Helper()
	ts := &testServer{sessions: make(chan *session, 64), serveErr: make(chan error, 1)}
	ts.srv = &peer.Server{
		Options:          fastOpts,
		Name:             "eventide-test",
		HandshakeTimeout: 10 * time.Second, // a dial's hello can be slow on a busy machine
		Logger:           quietLogger,
	}
	ts.srv.Admit = func(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
		if ts.admit != nil {
			if err := ts.admit(c, h, w); err != nil {
				return nil, err
			}
		}
		s := &session{testHandler: newHandler("server"), conn: c, hello: *h, welcome: w,
			closed: make(chan error, 1), gate: ts.closeGate}
		ts.sessions <- s
		return s, nil
	}
	if configure != nil {
		configure(ts)
	}
	ts.ln, ts.addr = ln, ln.Addr().String()
	go func() { ts.serveErr <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		if ts.closeGate != nil {
			select {
			case <-ts.closeGate:
			default:
				close(ts.closeGate)
			}
		}
		if err := ts.shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if !errors.Is(ts.served, peer.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", ts.served)
		}
	})
	return ts
}

// shutdown shuts the server down once and waits for Serve to return; it returns
// Shutdown's result, and leaves Serve's in ts.served.
func (ts *testServer) shutdown() error {
	ts.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		ts.stopErr = ts.srv.Shutdown(ctx)
		select {
		case ts.served = <-ts.serveErr:
		case <-time.After(waitLong):
			ts.served = errors.New("Serve did not return after Shutdown")
		}
	})
	return ts.stopErr
}

// nextSession waits for the next admitted session.
func (ts *testServer) nextSession(t testing.TB) *session {
	t.Helper()
	return recv(t, ts.sessions, "an admitted session")
}

// noSession checks that nothing was admitted.
func (ts *testServer) noSession(t testing.TB) {
	t.Helper()
	select {
	case s := <-ts.sessions:
		t.Fatalf("unexpectedly admitted %q", s.hello.Name)
	default:
	}
}

// --- client ---------------------------------------------------------------------

type client struct {
	*testHandler
	conn    *peer.Conn
	welcome *wire.Welcome
	done    chan struct{} // closed when Serve has returned
	err     error         // Serve's result, set before done is closed
	cancel  context.CancelFunc
}

// serve runs c with a test handler until the test ends.
func serve(t testing.TB, name string, c *peer.Conn, w *wire.Welcome) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cl := &client{testHandler: newHandler(name), conn: c, welcome: w, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(cl.done)
		cl.err = c.Serve(ctx, cl)
	}()
	t.Cleanup(func() {
		cancel()
		cl.Release()
		select {
		case <-cl.done:
		case <-time.After(waitLong):
			t.Errorf("client Serve did not return")
		}
	})
	return cl
}

// served waits for Serve to return and gives its result.
func (cl *client) served(t testing.TB) error {
	t.Helper()
	closedWithin(t, cl.done, waitLong, "client Serve to return")
	return cl.err
}

// dial connects a served client to ts.
func dial(t testing.TB, ts *testServer, hello *wire.Hello) *client {
	t.Helper()
	c, w, err := peer.Dial(testCtx(t), ts.addr, hello, fastOpts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return serve(t, "client", c, w)
}

// dialErr dials ts and expects a refusal.
func dialErr(t testing.TB, addr string, hello *wire.Hello) error {
	t.Helper()
	c, _, err := peer.Dial(testCtx(t), addr, hello, fastOpts)
	if err == nil {
		c.Close()
		t.Fatalf("Dial succeeded, want a refusal")
	}
	return err
}

// wireCode returns the code of the *wire.Error in err's chain, or 0.
func wireCode(err error) int {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// --- raw connections ------------------------------------------------------------

// rawConn speaks the protocol by hand, to do what a well-behaved peer would not.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func newRaw(t testing.TB, nc net.Conn) *rawConn {
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) writeLine(s string) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(waitLong))
	if _, err := io.WriteString(r.nc, s+"\n"); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r *rawConn) writeFrame(f *wire.Frame) {
	r.t.Helper()
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		r.t.Fatal(err)
	}
	r.writeLine(strings.TrimSuffix(string(b), "\n"))
}

// readLine returns the next line, or the read error.
func (r *rawConn) readLine() (string, error) {
	r.nc.SetReadDeadline(time.Now().Add(waitLong))
	line, err := r.br.ReadString('\n')
	if err != nil {
		return line, err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// readFrame returns the next frame that is not a heartbeat. It decodes with
// encoding/json rather than wire.ParseFrame so that error frames with id 0 (which
// the peer sends when it cannot tell the id) come through as they are.
func (r *rawConn) readFrame() *wire.Frame {
	r.t.Helper()
	for {
		line, err := r.readLine()
		if err != nil {
			r.t.Fatalf("raw read: %v (partial %q)", err, line)
		}
		var f wire.Frame
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			r.t.Fatalf("raw read: %q is not JSON: %v", line, err)
		}
		if f.Method == wire.MethodHeartbeat && f.ID == 0 {
			continue
		}
		return &f
	}
}

// expectEOF reads (skipping heartbeats) until the peer closes; any other frame fails.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	for {
		line, err := r.readLine()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.t.Fatalf("the peer did not close the connection")
			}
			return // EOF or reset: closed
		}
		if !strings.Contains(line, `"method":"heartbeat"`) {
			r.t.Fatalf("unexpected frame before close: %q", line)
		}
	}
}

// hello sends a hello request with id 1 and returns the reply frame.
func (r *rawConn) hello(params any) *wire.Frame {
	r.t.Helper()
	f, err := wire.NewRequest(1, wire.MethodHello, params)
	if err != nil {
		r.t.Fatal(err)
	}
	r.writeFrame(f)
	return r.readFrame()
}

// handshake does a successful hello and returns the welcome.
func (r *rawConn) handshake(h *wire.Hello) *wire.Welcome {
	r.t.Helper()
	if h.ProtocolVersion == 0 {
		h.ProtocolVersion = wire.ProtocolVersion
	}
	reply := r.hello(h)
	if reply.Error != nil || reply.ID != 1 {
		r.t.Fatalf("hello refused: %+v %v", reply, reply.Error)
	}
	var w wire.Welcome
	if err := json.Unmarshal(reply.Result, &w); err != nil {
		r.t.Fatal(err)
	}
	return &w
}

// pipe returns the two ends of a net.Pipe, closed when the test ends.
func pipe(t testing.TB) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// fakeServer answers a hello on nc with a welcome (heartbeat hbMS) and returns a
// raw view of the connection for the rest of the test.
func fakeServer(t testing.TB, nc net.Conn, hbMS int64) (*rawConn, <-chan struct{}) {
	r := newRaw(t, nc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		line, err := r.readLine()
		if err != nil {
			t.Errorf("fake server: read hello: %v", err)
			return
		}
		f, err := wire.ParseFrame([]byte(line))
		if err != nil || f.Method != wire.MethodHello {
			t.Errorf("fake server: first frame %q: %v", line, err)
			return
		}
		reply, _ := wire.NewReply(f.ID, &wire.Welcome{SessionID: "fake", ProtocolVersion: 1, HeartbeatMS: hbMS, Server: "fake"})
		b, _ := wire.AppendFrame(nil, reply)
		if _, err := nc.Write(b); err != nil {
			t.Errorf("fake server: write welcome: %v", err)
		}
	}()
	return r, done
}
