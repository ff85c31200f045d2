package peer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

func TestFatal(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), false},
		{io.EOF, false},
		{context.DeadlineExceeded, false},
		{peer.ErrProtocol, false},
		{wire.Errorf(wire.CodeUnauthorized, "x"), true},
		{wire.Errorf(wire.CodeVersionUnsupported, "x"), true},
		{wire.Errorf(wire.CodeInvalidParams, "x"), true},
		{fmt.Errorf("dial: %w", wire.Errorf(wire.CodeUnauthorized, "x")), true},
		{wire.Errorf(wire.CodeHandshake, "x"), false},
		{wire.Errorf(wire.CodeShuttingDown, "x"), false},
		{wire.Errorf(wire.CodeInternal, "x"), false},
		{wire.Errorf(wire.CodeParseError, "x"), false},
		{wire.Errorf(wire.CodeRefused, "x"), false},
	}
	for _, tc := range cases {
		if got := peer.Fatal(tc.err); got != tc.want {
			t.Errorf("Fatal(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestDialNoServer(t *testing.T) {
	addr := reserveAddr(t)
	_, _, err := peer.Dial(testCtx(t), addr, observerHello("obs"), fastOpts)
	if err == nil || peer.Fatal(err) {
		t.Fatalf("Dial to a closed port: %v, want a non-fatal error", err)
	}
}

// Handshake's own checks of what the server answers, against hand-made servers.
func TestHandshakeClientSide(t *testing.T) {
	cases := []struct {
		name  string
		reply string // the server's line after reading the hello; "" closes instead
		check func(error) bool
	}{
		{"refusal", `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nope"}}`,
			func(err error) bool { return wireCode(err) == wire.CodeUnauthorized }},
		{"reply to another id", `{"jsonrpc":"2.0","id":2,"result":{"session_id":"s","heartbeat_ms":100}}`,
			func(err error) bool { return errors.Is(err, peer.ErrProtocol) }},
		{"a request instead of a reply", `{"jsonrpc":"2.0","id":1,"method":"job.assign","params":{}}`,
			func(err error) bool { return errors.Is(err, peer.ErrProtocol) }},
		{"not json", `HTTP/1.1 400 Bad Request`,
			func(err error) bool { return errors.Is(err, wire.ErrMalformed) }},
		{"heartbeat too short", `{"jsonrpc":"2.0","id":1,"result":{"session_id":"s","heartbeat_ms":5}}`,
			func(err error) bool { return wireCode(err) == wire.CodeInvalidParams }},
		{"bad cancel list", `{"jsonrpc":"2.0","id":1,"result":{"session_id":"s","heartbeat_ms":100,"cancel":["../x"]}}`,
			func(err error) bool { return wireCode(err) == wire.CodeInvalidParams }},
		{"closed", "", func(err error) bool { return errors.Is(err, io.EOF) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cEnd, sEnd := pipe(t)
			raw := newRaw(t, sEnd)
			go func() {
				if _, err := raw.readLine(); err != nil {
					return
				}
				if tc.reply == "" {
					sEnd.Close()
					return
				}
				io.WriteString(sEnd, tc.reply+"\n")
			}()
			c, _, err := peer.Handshake(testCtx(t), cEnd, observerHello("obs"), fastOpts)
			if err == nil {
				c.Close()
				t.Fatalf("Handshake succeeded")
			}
			if !tc.check(err) {
				t.Errorf("Handshake: %v", err)
			}
		})
	}
}

// A server that cannot tell the hello's id answers with an error frame without one
// (as peer.Server does for a handshake timeout or an over-limit hello). Handshake
// documents that it returns such a refusal as the *wire.Error.
func TestHandshakeErrorNotification(t *testing.T) {
	cEnd, sEnd := pipe(t)
	raw := newRaw(t, sEnd)
	go func() {
		if _, err := raw.readLine(); err == nil {
			io.WriteString(sEnd, `{"jsonrpc":"2.0","error":{"code":-32002,"message":"no hello within 5s"}}`+"\n")
		}
	}()
	_, _, err := peer.Handshake(testCtx(t), cEnd, observerHello("obs"), fastOpts)
	if wireCode(err) != wire.CodeHandshake {
		t.Fatalf("Handshake: %v, want the server's id-less *wire.Error (CodeHandshake)", err)
	}
}

func TestHandshakeContext(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		cEnd, sEnd := pipe(t)
		raw := newRaw(t, sEnd)
		readHello := make(chan struct{})
		go func() { raw.readLine(); close(readHello) }() // reads the hello, never answers
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() {
			_, _, err := peer.Handshake(ctx, cEnd, observerHello("obs"), fastOpts)
			errs <- err
		}()
		recv(t, readHello, "the hello")
		cancel()
		if err := recv(t, errs, "Handshake to return"); err == nil {
			t.Fatal("Handshake succeeded")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		cEnd, sEnd := pipe(t)
		raw := newRaw(t, sEnd)
		go raw.readLine()
		ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := peer.Handshake(ctx, cEnd, observerHello("obs"), fastOpts)
		if err == nil {
			t.Fatal("Handshake succeeded")
		}
		// Below Handshake's own 10 s deadline, so that it is the context's that
		// fired; a busy machine may make the 80 ms one seconds late.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Handshake returned after %v, past its 80ms deadline", d)
		}
	})
}

// --- Redialer -------------------------------------------------------------------

// logSink passes log messages to a channel, so that a test can wait for one.
type logSink struct{ msgs chan string }

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	select {
	case l.msgs <- r.Message:
	default:
	}
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

type dialedConn struct {
	*testHandler
	conn    *peer.Conn
	welcome *wire.Welcome
	served  chan error // what the connection's Serve returned
}

type redial struct {
	rd     *peer.Redialer
	hellos atomic.Int32
	logs   chan string
	conns  chan *dialedConn
	done   chan struct{}
	err    error // Run's result, set before done is closed
	cancel context.CancelFunc
}

// startRedialer runs a Redialer to addr until the test ends. Each connection it
// makes is served with a test handler and announced on conns. The hello of attempt
// n is observerHello("rn") unless configure sets Hello (then hellos is not counted).
func startRedialer(t *testing.T, addr string, configure func(*redial)) *redial {
	t.Helper()
	r := &redial{logs: make(chan string, 1024), conns: make(chan *dialedConn, 64), done: make(chan struct{})}
	r.rd = &peer.Redialer{
		Addr:       addr,
		Options:    fastOpts,
		MaxBackoff: 40 * time.Millisecond,
		Logger:     slog.New(&logSink{msgs: r.logs}),
		Hello: func() *wire.Hello {
			return observerHello(fmt.Sprintf("r%d", r.hellos.Add(1)))
		},
	}
	if configure != nil {
		configure(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = r.rd.Run(ctx, func(ctx context.Context, c *peer.Conn, w *wire.Welcome) error {
			dc := &dialedConn{testHandler: newHandler("redialer"), conn: c, welcome: w, served: make(chan error, 1)}
			r.conns <- dc
			err := c.Serve(ctx, dc)
			dc.served <- err
			return err
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitLong):
			t.Errorf("Redialer.Run did not return after cancel")
		}
	})
	return r
}

// wait waits for Run to return and gives its result.
func (r *redial) wait(t *testing.T) error {
	t.Helper()
	closedWithin(t, r.done, waitLong, "Redialer.Run to return")
	return r.err
}

// stop cancels Run's context and checks that Run returns nil.
func (r *redial) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

func (r *redial) waitLog(t *testing.T, substr string) {
	t.Helper()
	for {
		if msg := recv(t, r.logs, fmt.Sprintf("log %q", substr)); strings.Contains(msg, substr) {
			return
		}
	}
}

func (r *redial) noConn(t *testing.T) {
	t.Helper()
	select {
	case dc := <-r.conns:
		t.Fatalf("unexpected connection, session %s", dc.welcome.SessionID)
	default:
	}
}

// reserveAddr returns a loopback address with nothing listening on it.
func reserveAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// relisten listens on addr again, retrying briefly: a dialer's connection attempt
// can hold the port for a moment.
func relisten(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// Started before any server exists, the Redialer connects once one listens.
func TestRedialerWaitsForServer(t *testing.T) {
	addr := reserveAddr(t)
	r := startRedialer(t, addr, nil)
	r.waitLog(t, "waiting for the dispatcher") // at least one attempt has failed
	r.noConn(t)

	ts := serveOn(t, relisten(t, addr), nil)
	dc := recv(t, r.conns, "the Redialer's connection")
	s := ts.nextSession(t)
	r.waitLog(t, "connected to the dispatcher")
	if dc.welcome.SessionID != s.welcome.SessionID {
		t.Errorf("connected with session %s, the server admitted %s", dc.welcome.SessionID, s.welcome.SessionID)
	}
	if n := r.hellos.Load(); n < 2 || s.hello.Name != fmt.Sprintf("r%d", n) {
		t.Errorf("%d hellos, session hello %q: want the last attempt's hello", n, s.hello.Name)
	}
	var who map[string]string
	if err := dc.conn.Call(testCtx(t), "whoami", nil, &who); err != nil || who["name"] != "server" {
		t.Errorf("Call over the redialed connection: %v %v", who, err)
	}
	if err := s.conn.Call(testCtx(t), "whoami", nil, &who); err != nil || who["name"] != "redialer" {
		t.Errorf("Call from the server: %v %v", who, err)
	}
	r.stop(t)
	if err := recv(t, dc.served, "the connection's Serve"); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("connection ended with %v, want ErrClosed", err)
	}
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("session closed with %v, want ErrPeerClosed", err)
	}
}

func TestRedialerReconnects(t *testing.T) {
	ts := newServer(t, nil)
	r := startRedialer(t, ts.addr, nil)

	dc1 := recv(t, r.conns, "first connection")
	s1 := ts.nextSession(t)

	// The server drops the connection: the Redialer says hello again.
	s1.conn.Close()
	if err := recv(t, dc1.served, "the first connection to end"); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("first connection ended with %v, want ErrPeerClosed", err)
	}
	r.waitLog(t, "lost the dispatcher")
	dc2 := recv(t, r.conns, "second connection")
	s2 := ts.nextSession(t)
	if dc2.welcome.SessionID == dc1.welcome.SessionID || dc2.welcome.SessionID != s2.welcome.SessionID {
		t.Errorf("sessions %s then %s (server %s)", dc1.welcome.SessionID, dc2.welcome.SessionID, s2.welcome.SessionID)
	}
	if s1.hello.Name != "r1" || s2.hello.Name != "r2" {
		t.Errorf("hellos %q, %q: Hello must be called for every attempt", s1.hello.Name, s2.hello.Name)
	}
	if !errors.Is(dc1.conn.Err(), peer.ErrPeerClosed) {
		t.Errorf("old Conn Err %v", dc1.conn.Err())
	}
	if err := dc2.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("Call on the new connection: %v", err)
	}

	// The whole server goes away and comes back on the same address.
	addr := ts.addr
	if err := ts.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, dc2.served, "the second connection to end"); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("second connection ended with %v, want ErrPeerClosed", err)
	}
	ts2 := serveOn(t, relisten(t, addr), nil)
	dc3 := recv(t, r.conns, "connection to the restarted server")
	s3 := ts2.nextSession(t)
	if dc3.welcome.SessionID != s3.welcome.SessionID {
		t.Errorf("session %s, server %s", dc3.welcome.SessionID, s3.welcome.SessionID)
	}
	if err := dc3.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("Call after the restart: %v", err)
	}
	r.stop(t)
}

func TestRedialerGivesUp(t *testing.T) {
	const giveUp = 150 * time.Millisecond
	addr := reserveAddr(t)
	start := time.Now()
	r := startRedialer(t, addr, func(r *redial) { r.rd.GiveUpAfter = giveUp; r.rd.MaxBackoff = 30 * time.Millisecond })
	err := r.wait(t)
	elapsed := time.Since(start)
	if !errors.Is(err, peer.ErrDispatcherGone) || !strings.Contains(err.Error(), addr) ||
		!strings.Contains(err.Error(), giveUp.String()) {
		t.Fatalf("Run: %v, want ErrDispatcherGone naming %s and %v", err, addr, giveUp)
	}
	t.Logf("gave up after %v (GiveUpAfter %v)", elapsed, giveUp)
	if elapsed < giveUp || elapsed > giveUp+lateTimer {
		t.Errorf("gave up after %v, want just after %v", elapsed, giveUp)
	}
	if n := r.hellos.Load(); n < 2 {
		t.Errorf("gave up after %d attempts, want it to keep trying until GiveUpAfter", n)
	}
	r.noConn(t)
}

// GiveUpAfter counts from when the connection was lost, not from Run's start.
func TestRedialerGivesUpAfterLosingServer(t *testing.T) {
	const giveUp = 150 * time.Millisecond
	ts := newServer(t, nil)
	r := startRedialer(t, ts.addr, func(r *redial) { r.rd.GiveUpAfter = giveUp; r.rd.MaxBackoff = 30 * time.Millisecond })
	dc := recv(t, r.conns, "the connection")
	ts.nextSession(t)
	<-time.After(giveUp + 50*time.Millisecond) // stay connected for longer than GiveUpAfter
	if err := dc.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.shutdown(); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	err := r.wait(t)
	if !errors.Is(err, peer.ErrDispatcherGone) {
		t.Fatalf("Run: %v, want ErrDispatcherGone", err)
	}
	// (Run's clock starts when it notices the loss, a moment before lost was taken.)
	if d := time.Since(lost); d < giveUp/2 {
		t.Errorf("gave up %v after losing the server, want about %v", d, giveUp)
	}
}

func TestRedialerFatalRefusal(t *testing.T) {
	cases := []struct {
		name  string
		hello func(n int32) *wire.Hello
		code  int
	}{
		{"wrong token", func(int32) *wire.Hello { h := observerHello("obs"); h.Token = "wrong"; return h }, wire.CodeUnauthorized},
		{"no token", func(int32) *wire.Hello { return observerHello("obs") }, wire.CodeUnauthorized},
		{"bad version", func(int32) *wire.Hello {
			h := observerHello("obs")
			h.Token, h.ProtocolVersion = "s3cret", 99
			return h
		}, wire.CodeVersionUnsupported},
		{"bad name", func(int32) *wire.Hello { h := observerHello("../x"); h.Token = "s3cret"; return h }, wire.CodeInvalidParams},
	}
	ts := newServer(t, func(ts *testServer) { ts.srv.Token = "s3cret" })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			r := startRedialer(t, ts.addr, func(r *redial) {
				r.rd.Hello = func() *wire.Hello { return tc.hello(attempts.Add(1)) }
			})
			err := r.wait(t)
			if wireCode(err) != tc.code {
				t.Fatalf("Run: %v, want the server's refusal with code %d", err, tc.code)
			}
			if n := attempts.Load(); n != 1 {
				t.Errorf("%d attempts, want 1: a fatal refusal must not be retried", n)
			}
			r.noConn(t)
			ts.noSession(t)
		})
	}
}

// Refusals that may go away (the server is busy or stopping) are retried.
func TestRedialerRetriesNonFatalRefusal(t *testing.T) {
	var refusals atomic.Int32
	ts := newServer(t, func(ts *testServer) {
		ts.admit = func(*peer.Conn, *wire.Hello, *wire.Welcome) error {
			if refusals.Add(1) <= 2 {
				return wire.Errorf(wire.CodeShuttingDown, "restarting")
			}
			return nil
		}
	})
	r := startRedialer(t, ts.addr, nil)
	dc := recv(t, r.conns, "the connection")
	s := ts.nextSession(t)
	if s.hello.Name != "r3" || r.hellos.Load() != 3 {
		t.Errorf("admitted %q after %d hellos, want r3 after 3", s.hello.Name, r.hellos.Load())
	}
	if err := dc.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
}

func TestRedialerContextCancelled(t *testing.T) {
	t.Run("while waiting for a server", func(t *testing.T) {
		r := startRedialer(t, reserveAddr(t), func(r *redial) { r.rd.MaxBackoff = time.Second })
		r.waitLog(t, "waiting for the dispatcher")
		start := time.Now()
		r.stop(t)
		// Not waiting out a backoff (at most MaxBackoff, 1 s, +50% jitter) would
		// pass too; the bound catches a Run that does not watch ctx at all.
		if d := time.Since(start); d > lateTimer {
			t.Errorf("Run took %v to notice the cancel", d)
		}
	})
	t.Run("while connected", func(t *testing.T) {
		ts := newServer(t, nil)
		r := startRedialer(t, ts.addr, nil)
		dc := recv(t, r.conns, "the connection")
		s := ts.nextSession(t)
		r.stop(t)
		if err := recv(t, dc.served, "Serve"); !errors.Is(err, peer.ErrClosed) {
			t.Errorf("connection ended with %v, want ErrClosed", err)
		}
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("session closed with %v, want ErrPeerClosed", err)
		}
		r.noConn(t)
	})
	t.Run("already cancelled", func(t *testing.T) {
		ts := newServer(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rd := &peer.Redialer{Addr: ts.addr, Hello: func() *wire.Hello { return observerHello("obs") }, Logger: quietLogger}
		err := rd.Run(ctx, func(context.Context, *peer.Conn, *wire.Welcome) error {
			t.Error("connected with a cancelled context")
			return nil
		})
		if err != nil {
			t.Errorf("Run with a cancelled context: %v, want nil", err)
		}
	})
	t.Run("with GiveUpAfter pending", func(t *testing.T) {
		r := startRedialer(t, reserveAddr(t), func(r *redial) { r.rd.GiveUpAfter = time.Minute })
		r.waitLog(t, "waiting for the dispatcher")
		r.stop(t) // nil, not ErrDispatcherGone
	})
}

// A connection that ends as soon as it is made (the server drops it after the
// welcome, or connected fails at once) must not make the Redialer reconnect in a
// tight loop: the doc promises capped exponential backoff between reconnections.
func TestRedialerBacksOffWhenConnectionsEndAtOnce(t *testing.T) {
	ts := newServer(t, nil)
	const want = 10
	var n atomic.Int32
	reached := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	rd := &peer.Redialer{Addr: ts.addr, Options: fastOpts, Logger: quietLogger, MaxBackoff: time.Second,
		Hello: func() *wire.Hello { return observerHello("flappy") }}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- rd.Run(ctx, func(context.Context, *peer.Conn, *wire.Welcome) error {
			if n.Add(1) == want {
				close(reached)
			}
			return errors.New("session setup failed")
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var elapsed time.Duration
	select {
	case <-reached:
		elapsed = time.Since(start)
	case <-time.After(time.Second):
		// Backing off: fewer than want connections in a second is what we expect.
		return
	}
	// With a 50 ms initial interval growing by 1.5x (±50% jitter), 10 connections
	// take at least ~25+37+56+... ms > 400 ms.
	if elapsed < 200*time.Millisecond {
		t.Fatalf("regression: client.go:128-163: every established connection resets the backoff (a new "+
			"backoff.Retry per loop, and a successful dial never waits), so a connection that "+
			"ends at once is retried in a tight loop: %d connections in %v", want, elapsed)
	}
}
