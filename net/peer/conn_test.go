package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

type payload struct {
	N    int      `json:"n"`
	S    string   `json:"s"`
	List []string `json:"list"`
}

func TestCallClientToServer(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	ctx := testCtx(t)

	in := payload{N: 42, S: "line\nbreak \"quoted\" ✓", List: []string{"a", "b"}}
	var out payload
	if err := cl.conn.Call(ctx, "echo", in, &out); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if out.N != in.N || out.S != in.S || len(out.List) != 2 {
		t.Errorf("echo returned %+v, want %+v", out, in)
	}
	if c := s.nextCall(t); c.method != "echo" || !strings.Contains(string(c.params), `"n":42`) {
		t.Errorf("handler saw %s %s", c.method, c.params)
	}

	var who map[string]string
	if err := cl.conn.Call(ctx, "whoami", nil, &who); err != nil || who["name"] != "server" {
		t.Errorf("whoami: %v %v", who, err)
	}
	// A nil result from the handler is sent as {}, and a nil result pointer is fine.
	if err := cl.conn.Call(ctx, "echo", nil, nil); err != nil {
		t.Errorf("echo without params or result: %v", err)
	}
	var empty map[string]any
	if err := cl.conn.Call(ctx, "echo", nil, &empty); err != nil || len(empty) != 0 {
		t.Errorf("nil result decoded to %v, %v; want {}", empty, err)
	}
}

func TestCallServerToClient(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, runnerHello("r1"))
	s := ts.nextSession(t)
	ctx := testCtx(t)

	assign := wire.Assign{JobID: "0123456789abcdef", Attempt: 1, Repo: "/srv/repo", Commit: strings.Repeat("c", 40)}
	var got wire.Assign
	if err := s.conn.Call(ctx, "echo", &assign, &got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if got != assign {
		t.Errorf("echo returned %+v", got)
	}
	if c := cl.nextCall(t); c.method != "echo" {
		t.Errorf("client handler saw %q", c.method)
	}
	var who map[string]string
	if err := s.conn.Call(ctx, "whoami", nil, &who); err != nil || who["name"] != "client" {
		t.Errorf("whoami: %v %v", who, err)
	}
}

// The Session may enqueue requests from Admit, before the welcome is written.
func TestCallFromAdmit(t *testing.T) {
	results := make(chan error, 1)
	replies := make(chan map[string]string, 1)
	ts := newServer(t, func(ts *testServer) {
		ts.admit = func(c *peer.Conn, _ *wire.Hello, _ *wire.Welcome) error {
			go func() {
				var who map[string]string
				err := c.Call(context.Background(), "whoami", nil, &who)
				replies <- who
				results <- err
			}()
			// Also a notification, queued before the welcome.
			return c.Notify(context.Background(), "early.note", map[string]int{"x": 1})
		}
	})
	cl := dial(t, ts, observerHello("obs"))
	if err := recv(t, results, "the Call from Admit"); err != nil {
		t.Fatalf("Call from Admit: %v", err)
	}
	if who := <-replies; who["name"] != "client" {
		t.Errorf("reply %v", who)
	}
	seen := map[string]bool{}
	for range 2 {
		seen[cl.nextCall(t).method] = true
	}
	if !seen["whoami"] || !seen["early.note"] {
		t.Errorf("client handler saw %v", seen)
	}
}

// Error replies carry the handler's *wire.Error code; codes that do not report a
// protocol violation leave the connection open.
func TestCallErrorReplies(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	ctx := testCtx(t)

	cases := []struct {
		method string
		params any
		code   int
		msg    string
	}{
		{"fail", map[string]int{"code": wire.CodeRefused}, wire.CodeRefused, "failed on purpose"},
		{"fail", map[string]int{"code": wire.CodeStaleAttempt}, wire.CodeStaleAttempt, "failed on purpose"},
		{"fail", map[string]int{"code": wire.CodeUnknownJob}, wire.CodeUnknownJob, "failed on purpose"},
		{"fail", map[string]int{"code": wire.CodeShuttingDown}, wire.CodeShuttingDown, "failed on purpose"},
		{"fail", map[string]int{"code": wire.CodeUnauthorized}, wire.CodeUnauthorized, "failed on purpose"},
		{"fail", map[string]int{"code": 12345}, 12345, "failed on purpose"},
		{"boom", nil, wire.CodeInternal, "kaboom"},
	}
	for dir, conn := range map[string]*peer.Conn{"client→server": cl.conn, "server→client": s.conn} {
		for _, tc := range cases {
			var out any
			err := conn.Call(ctx, tc.method, tc.params, &out)
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Errorf("%s %s: %v, want a *wire.Error", dir, tc.method, err)
				continue
			}
			if we.Code != tc.code || !strings.Contains(we.Message, tc.msg) {
				t.Errorf("%s %s: %v, want code %d and %q", dir, tc.method, we, tc.code, tc.msg)
			}
		}
		// Errors are replies: the connection carries on.
		if err := conn.Call(ctx, "echo", nil, nil); err != nil {
			t.Fatalf("%s: Call after errors: %v", dir, err)
		}
	}
	if cl.conn.Err() != nil || s.conn.Err() != nil {
		t.Fatalf("connection ended: %v / %v", cl.conn.Err(), s.conn.Err())
	}
}

// An error reply that reports a protocol violation (unknown method, invalid params,
// a second hello, ...) is delivered, and then the side that sent it closes the
// connection.
func TestViolationReplyClosesConnection(t *testing.T) {
	ts := newServer(t, nil)
	cases := []struct {
		method string
		params any
		code   int
	}{
		{"nosuch", nil, wire.CodeMethodNotFound},
		{"fail", map[string]int{"code": wire.CodeInvalidParams}, wire.CodeInvalidParams},
		{"fail", map[string]int{"code": wire.CodeParseError}, wire.CodeParseError},
		{"fail", map[string]int{"code": wire.CodeInvalidRequest}, wire.CodeInvalidRequest},
		{wire.MethodHello, observerHello("again"), wire.CodeHandshake},
	}
	for _, tc := range cases {
		cl := dial(t, ts, observerHello("obs"))
		s := ts.nextSession(t)
		err := cl.conn.Call(testCtx(t), tc.method, tc.params, nil)
		if wireCode(err) != tc.code {
			t.Errorf("%s: %v, want the reply with code %d before the close", tc.method, err, tc.code)
		}
		if err := cl.served(t); !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("%s: client Serve returned %v, want ErrPeerClosed", tc.method, err)
		}
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrProtocol) {
			t.Errorf("%s: session closed with %v, want ErrProtocol", tc.method, err)
		}
	}

	// The same from the server's side: the client closes after its violation reply.
	cl := dial(t, ts, runnerHello("r1"))
	s := ts.nextSession(t)
	if err := s.conn.Call(testCtx(t), "nosuch", nil, nil); wireCode(err) != wire.CodeMethodNotFound {
		t.Errorf("server → client nosuch: %v, want CodeMethodNotFound", err)
	}
	if err := cl.served(t); !errors.Is(err, peer.ErrProtocol) {
		t.Errorf("client Serve returned %v, want ErrProtocol", err)
	}
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("session closed with %v, want ErrPeerClosed", err)
	}
}

// A notification whose handler reports a protocol violation gets an error frame
// (there is no id to answer) and the connection is closed.
func TestViolationNotificationClosesConnection(t *testing.T) {
	ts := newServer(t, nil)
	r := rawDial(t, ts.addr)
	r.handshake(observerHello("raw"))
	s := ts.nextSession(t)
	r.writeLine(`{"jsonrpc":"2.0","method":"nosuch"}`)
	f := r.readFrame()
	if f.Error == nil || f.Error.Code != wire.CodeMethodNotFound {
		t.Fatalf("got %+v, want a CodeMethodNotFound error frame", f)
	}
	r.expectEOF()
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrProtocol) {
		t.Errorf("session closed with %v, want ErrProtocol", err)
	}
}

func TestCallResultDecodeError(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	var out struct {
		N int `json:"n"`
	}
	err := cl.conn.Call(testCtx(t), "echo", map[string]string{"n": "not a number"}, &out)
	if wireCode(err) != wire.CodeInvalidParams || !strings.Contains(err.Error(), "echo reply") {
		t.Fatalf("decoding a mismatched result: %v, want CodeInvalidParams naming the reply", err)
	}
	// A result that fails its own validation is refused too.
	var w wire.Welcome
	err = cl.conn.Call(testCtx(t), "echo", map[string]any{"heartbeat_ms": 1}, &w)
	if wireCode(err) != wire.CodeInvalidParams {
		t.Fatalf("invalid result: %v, want CodeInvalidParams", err)
	}
}

// Many Calls in flight at once, both ways, each gets its own reply.
func TestCallConcurrent(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	ctx := testCtx(t)

	const workers, calls = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for dir, conn := range map[string]*peer.Conn{"c2s": cl.conn, "s2c": s.conn} {
		for w := range workers {
			wg.Go(func() {
				for i := range calls {
					in := payload{N: w*1000 + i, S: fmt.Sprintf("%s-%d-%d", dir, w, i)}
					var out payload
					if err := conn.Call(ctx, "echo", in, &out); err != nil {
						errs <- fmt.Errorf("%s: %w", in.S, err)
						return
					}
					if out.N != in.N || out.S != in.S {
						errs <- fmt.Errorf("%s: reply %+v belongs to another call", in.S, out)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCallContext(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	defer s.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := cl.conn.Call(ctx, "block", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "block") {
		t.Fatalf("Call past its deadline: %v, want DeadlineExceeded naming the method", err)
	}
	if d := time.Since(start); d > lateTimer {
		t.Errorf("Call returned %v after its deadline", d)
	}
	// The cause is kept.
	cctx, ccancel := context.WithCancelCause(context.Background())
	ccancel(errors.New("operator gave up"))
	if err := cl.conn.Call(cctx, "echo", nil, nil); err == nil || !strings.Contains(err.Error(), "operator gave up") {
		t.Errorf("Call with a cancelled context: %v, want its cause", err)
	}

	// The late reply to the abandoned Call is dropped, and the connection goes on.
	s.Release()
	var out payload
	if err := cl.conn.Call(testCtx(t), "echo", payload{N: 7}, &out); err != nil || out.N != 7 {
		t.Fatalf("Call after an abandoned one: %+v %v", out, err)
	}
	if err := cl.conn.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

func TestSendOverOwnLimit(t *testing.T) {
	ts := newServer(t, nil)
	opts := fastOpts
	opts.MaxFrame = 256
	c, w, err := peer.Dial(testCtx(t), ts.addr, observerHello("obs"), opts)
	if err != nil {
		t.Fatal(err)
	}
	cl := serve(t, "client", c, w)
	big := payload{S: strings.Repeat("x", 300)}
	if err := cl.conn.Call(testCtx(t), "echo", big, nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("Call with params over the limit: %v", err)
	}
	if err := cl.conn.Notify(testCtx(t), "note", big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("Notify with params over the limit: %v", err)
	}
	// Nothing was sent, so the connection is fine.
	if err := cl.conn.Call(testCtx(t), "echo", payload{S: "small"}, nil); err != nil {
		t.Fatalf("small Call after refused big ones: %v", err)
	}
	// Unencodable params are refused before anything is sent.
	if err := cl.conn.Call(testCtx(t), "echo", make(chan int), nil); err == nil {
		t.Errorf("Call with unencodable params succeeded")
	}
	if err := cl.conn.Notify(testCtx(t), "note", make(chan int)); err == nil {
		t.Errorf("Notify with unencodable params succeeded")
	}
	if err := cl.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("Call after refused ones: %v", err)
	}
}

// The outgoing queue is bounded: when it is full, sending waits for room or ctx.
func TestSendQueueFull(t *testing.T) {
	cEnd, sEnd := pipe(t)
	_, welcomed := fakeServer(t, sEnd, 1000)
	c, _, err := peer.Handshake(testCtx(t), cEnd, observerHello("obs"), peer.Options{QueueLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	closedWithin(t, welcomed, waitLong, "the fake server")
	defer c.Close()
	// Not served: nothing drains the queue.
	if err := c.Notify(testCtx(t), "first", nil); err != nil {
		t.Fatalf("first Notify: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.Notify(ctx, "second", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify on a full queue: %v, want DeadlineExceeded", err)
	}
	// Closing the connection releases a blocked sender with the reason.
	errs := make(chan error, 1)
	go func() { errs <- c.Notify(context.Background(), "third", nil) }()
	c.Close()
	if err := recv(t, errs, "the blocked Notify"); !errors.Is(err, peer.ErrClosed) {
		t.Fatalf("blocked Notify after Close: %v, want ErrClosed", err)
	}
}

// A reply the handler's side cannot send (over its frame limit) must still answer
// the request, with an error, instead of leaving the caller waiting forever.
func TestOverLimitReply(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Options.MaxFrame = 512 })
	cl := dial(t, ts, observerHello("obs"))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong) // the bug never replies
	defer cancel()
	err := cl.conn.Call(ctx, "big", map[string]int{"n": 2000}, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("regression: conn.go:283-304: Conn.answer ignores the error from c.sendThenClose, so a handler result "+
			"over Options.MaxFrame is silently dropped and the caller's Call never gets a reply (%v)", err)
	}
	if wireCode(err) != wire.CodeInternal {
		t.Fatalf("Call whose reply is over the limit: %v, want a CodeInternal error reply", err)
	}
}

func TestNotify(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, runnerHello("r1"))
	s := ts.nextSession(t)
	ctx := testCtx(t)

	if err := cl.conn.Notify(ctx, wire.MethodRunnerDrain, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.conn.Notify(ctx, "job.progress", payload{N: 3}); err != nil {
		t.Fatal(err)
	}
	if c := s.nextCall(t); c.method != wire.MethodRunnerDrain || len(c.params) != 0 {
		t.Errorf("server handler saw %s %s", c.method, c.params)
	}
	if c := s.nextCall(t); c.method != "job.progress" || !strings.Contains(string(c.params), `"n":3`) {
		t.Errorf("server handler saw %s %s", c.method, c.params)
	}
	// The handler's error for a notification goes nowhere and ends nothing.
	if err := cl.conn.Notify(ctx, "boom", nil); err != nil {
		t.Fatal(err)
	}
	if c := s.nextCall(t); c.method != "boom" {
		t.Errorf("server handler saw %s", c.method)
	}

	if err := s.conn.Notify(ctx, "server.note", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if c := cl.nextCall(t); c.method != "server.note" || string(c.params) != `{"k":"v"}` {
		t.Errorf("client handler saw %s %s", c.method, c.params)
	}
	if err := cl.conn.Call(ctx, "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Heartbeat notifications keep the connection alive but never reach the handler;
// a notification that errors gets no reply.
func TestHeartbeatsNotDelivered(t *testing.T) {
	ts := newServer(t, nil)
	r := rawDial(t, ts.addr)
	r.handshake(observerHello("raw"))
	s := ts.nextSession(t)

	for range 3 {
		r.writeLine(`{"jsonrpc":"2.0","method":"heartbeat"}`)
	}
	r.writeLine(`{"jsonrpc":"2.0","method":"heartbeat","params":{"odd":true}}`)
	r.writeLine(`{"jsonrpc":"2.0","method":"boom"}`)
	r.writeLine(`{"jsonrpc":"2.0","method":"x.mark"}`)
	r.writeLine(`{"jsonrpc":"2.0","id":7,"method":"echo","params":{"n":1}}`)

	// Frames are handled in order: by the time the request is answered, everything
	// before it has been seen.
	f := r.readFrame()
	if f.ID != 7 || f.Error != nil || string(f.Result) != `{"n":1}` {
		t.Fatalf("first frame after the notifications: %+v, want the reply to 7", f)
	}
	var got []string
	for range 3 {
		got = append(got, s.nextCall(t).method)
	}
	if strings.Join(got, ",") != "boom,x.mark,echo" {
		t.Errorf("handler saw %v, want [boom x.mark echo] (no heartbeats)", got)
	}
	select {
	case c := <-s.calls:
		t.Errorf("handler saw an extra %q", c.method)
	default:
	}
}

// beatCounter counts the heartbeat frames read through a net.Conn.
type beatCounter struct {
	net.Conn
	mu    sync.Mutex
	line  []byte
	beats chan struct{}
}

func countBeats(nc net.Conn) *beatCounter {
	return &beatCounter{Conn: nc, beats: make(chan struct{}, 4096)}
}

func (b *beatCounter) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range p[:n] {
		if c != '\n' {
			if len(b.line) < 256 {
				b.line = append(b.line, c)
			}
			continue
		}
		if strings.Contains(string(b.line), `"method":"heartbeat"`) {
			select {
			case b.beats <- struct{}{}:
			default:
			}
		}
		b.line = b.line[:0]
	}
	return n, err
}

// wait waits for n heartbeats, failing early if one of conns ends.
func (b *beatCounter) wait(t *testing.T, n int, what string, conns ...*peer.Conn) {
	t.Helper()
	for i := range n {
		select {
		case <-b.beats:
		case <-conns[0].Done():
			t.Fatalf("%s: connection lost after %d heartbeats: %v", what, i, conns[0].Err())
		case <-conns[1].Done():
			t.Fatalf("%s: connection lost after %d heartbeats: %v", what, i, conns[1].Err())
		case <-time.After(waitLong):
			t.Fatalf("%s: timed out waiting for heartbeat %d", what, i+1)
		}
	}
}

// An idle connection stays up for many times its silence limit because both sides
// send heartbeats, and the heartbeats stay out of the handlers. Over net.Pipe, which
// has no buffering, so a write only completes when the other side reads.
// In a synctest bubble: the 100 ms silence limit is on the fake clock, so a
// busy machine that delays a heartbeat goroutine cannot make the peer look lost.
func TestHeartbeatsKeepIdleConnectionAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := peer.Options{Heartbeat: 20 * time.Millisecond, MaxMissed: 5}
		sessions := make(chan *session, 1)
		srv := &peer.Server{Options: opts, Logger: quietLogger,
			Admit: func(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
				s := &session{testHandler: newHandler("server"), conn: c, hello: *h, welcome: w, closed: make(chan error, 1)}
				sessions <- s
				return s, nil
			}}
		cEnd, sEnd := pipe(t)
		fromClient, fromServer := countBeats(sEnd), countBeats(cEnd)
		done := make(chan struct{})
		go func() { defer close(done); srv.ServeConn(fromClient) }()
		t.Cleanup(func() { srv.Shutdown(context.Background()); <-done })

		c, w, err := peer.Handshake(testCtx(t), fromServer, observerHello("idle"), opts)
		if err != nil {
			t.Fatal(err)
		}
		cl := serve(t, "client", c, w)
		s := recv(t, sessions, "session")

		// 12 beats each way is about 240 ms of idleness against a 100 ms silence limit.
		fromClient.wait(t, 12, "client→server", cl.conn, s.conn)
		fromServer.wait(t, 12, "server→client", cl.conn, s.conn)
		if cl.conn.Err() != nil || s.conn.Err() != nil {
			t.Fatalf("idle connection lost: client %v, server %v", cl.conn.Err(), s.conn.Err())
		}
		if err := cl.conn.Notify(testCtx(t), "x.mark", nil); err != nil {
			t.Fatal(err)
		}
		if c := s.nextCall(t); c.method != "x.mark" {
			t.Errorf("server handler saw %q first, want x.mark (heartbeats must not be delivered)", c.method)
		}
		if err := s.conn.Notify(testCtx(t), "x.mark", nil); err != nil {
			t.Fatal(err)
		}
		if c := cl.nextCall(t); c.method != "x.mark" {
			t.Errorf("client handler saw %q first, want x.mark", c.method)
		}
	})
}

// A client that goes quiet after the handshake (its socket stays open) is dropped
// with ErrHeartbeatTimeout after about MaxMissed heartbeat intervals.
func TestSilentClientTimesOut(t *testing.T) {
	const hb, missed = 20 * time.Millisecond, 3
	ts := newServer(t, func(ts *testServer) { ts.srv.Options = peer.Options{Heartbeat: hb, MaxMissed: missed} })
	r := rawDial(t, ts.addr)
	start := time.Now() // before the server can start its clock
	w := r.handshake(observerHello("mute"))
	if w.Heartbeat() != hb {
		t.Fatalf("welcome heartbeat %v", w.Heartbeat())
	}
	s := ts.nextSession(t)
	err := s.waitClosed(t)
	elapsed := time.Since(start)
	if !errors.Is(err, peer.ErrHeartbeatTimeout) {
		t.Fatalf("silent client: session closed with %v, want ErrHeartbeatTimeout", err)
	}
	t.Logf("silent client dropped after %v (limit %v)", elapsed, hb*missed)
	if limit := hb * missed; elapsed < limit || elapsed > limit+lateTimer {
		t.Errorf("silent client dropped after %v, want about %v", elapsed, limit)
	}
	r.expectEOF() // heartbeats from the server, then the close
}

// The same from the client's side: a server that stops sending is detected.
func TestSilentServerTimesOut(t *testing.T) {
	const missed = 3
	cEnd, sEnd := pipe(t)
	raw, welcomed := fakeServer(t, sEnd, 20)
	opts := peer.Options{MaxMissed: missed}
	c, w, err := peer.Handshake(testCtx(t), cEnd, observerHello("obs"), opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	closedWithin(t, welcomed, waitLong, "the fake server")
	// Read (so that the client's heartbeat writes complete) but never write.
	drained := make(chan struct{})
	go func() { defer close(drained); io.Copy(io.Discard, raw.br) }()
	t.Cleanup(func() { sEnd.Close(); <-drained })

	cl := serve(t, "client", c, w)
	err = cl.served(t)
	elapsed := time.Since(start)
	if !errors.Is(err, peer.ErrHeartbeatTimeout) {
		t.Fatalf("silent server: Serve returned %v, want ErrHeartbeatTimeout", err)
	}
	t.Logf("silent server detected after %v (limit %v)", elapsed, w.Heartbeat()*missed)
	if limit := w.Heartbeat() * missed; elapsed < limit-10*time.Millisecond || elapsed > limit+lateTimer {
		t.Errorf("silent server detected after %v, want about %v", elapsed, limit)
	}
	if !errors.Is(cl.conn.Err(), peer.ErrHeartbeatTimeout) {
		t.Errorf("Err() = %v", cl.conn.Err())
	}
}

// A peer that stalls in the middle of a frame is as silent as one that stalls
// between frames.
func TestClientStallsMidFrame(t *testing.T) {
	const hb, missed = 20 * time.Millisecond, 3
	ts := newServer(t, func(ts *testServer) { ts.srv.Options = peer.Options{Heartbeat: hb, MaxMissed: missed} })
	r := rawDial(t, ts.addr)
	r.handshake(observerHello("stall"))
	s := ts.nextSession(t)
	if _, err := r.nc.Write([]byte(`{"jsonrpc":"2.0","method":"job.out`)); err != nil {
		t.Fatal(err)
	}
	err := s.waitClosed(t)
	if errors.Is(err, peer.ErrProtocol) {
		t.Fatalf("regression: conn.go:234-238 and 311-318 (via wire/codec.go:44-57): when the read deadline expires "+
			"mid-line, bufio.Scanner returns the partial line as a final token, so a stalled peer "+
			"is reported as %v (and sent a parse-error frame) instead of ErrHeartbeatTimeout", err)
	}
	if !errors.Is(err, peer.ErrHeartbeatTimeout) {
		t.Fatalf("session closed with %v, want ErrHeartbeatTimeout", err)
	}
}

// A peer whose TCP connection closes is detected at once, not after the heartbeat
// timeout, on both sides.
func TestPeerClosedDetectedAtOnce(t *testing.T) {
	// 60 s of silence allowed: detection well inside it (and ErrPeerClosed, not
	// ErrHeartbeatTimeout) is the close noticed, however busy the machine.
	slow := peer.Options{Heartbeat: 500 * time.Millisecond, MaxMissed: 120}
	ts := newServer(t, func(ts *testServer) { ts.srv.Options = slow })

	t.Run("client closes", func(t *testing.T) {
		r := rawDial(t, ts.addr)
		r.handshake(observerHello("leaver"))
		s := ts.nextSession(t)
		start := time.Now()
		r.nc.Close()
		err := s.waitClosed(t)
		if !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("session closed with %v, want ErrPeerClosed", err)
		}
		if d := time.Since(start); d > lateTimer {
			t.Errorf("closed connection detected after %v", d)
		}
		if !errors.Is(s.conn.Err(), peer.ErrPeerClosed) {
			t.Errorf("session Conn.Err() = %v", s.conn.Err())
		}
	})

	t.Run("server closes", func(t *testing.T) {
		c, w, err := peer.Dial(testCtx(t), ts.addr, observerHello("stayer"), slow)
		if err != nil {
			t.Fatal(err)
		}
		cl := serve(t, "client", c, w)
		s := ts.nextSession(t)
		start := time.Now()
		s.conn.Close()
		if err := cl.served(t); !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("client Serve returned %v, want ErrPeerClosed", err)
		}
		if d := time.Since(start); d > lateTimer {
			t.Errorf("closed connection detected after %v", d)
		}
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrClosed) {
			t.Errorf("session closed with %v, want ErrClosed (this side closed it)", err)
		}
	})
}

func TestPendingCallsFailWhenConnectionDies(t *testing.T) {
	t.Run("client calls, server drops", func(t *testing.T) {
		ts := newServer(t, nil)
		cl := dial(t, ts, observerHello("obs"))
		s := ts.nextSession(t)
		defer s.Release()

		const n = 5
		errs := make(chan error, n)
		for range n {
			go func() { errs <- cl.conn.Call(context.Background(), "block", nil, nil) }()
		}
		if c := s.nextCall(t); c.method != "block" {
			t.Fatalf("handler got %q", c.method)
		}
		s.conn.Close()
		for range n {
			if err := recv(t, errs, "a pending Call"); !errors.Is(err, peer.ErrPeerClosed) || !strings.Contains(err.Error(), "block") {
				t.Errorf("pending Call: %v, want ErrPeerClosed naming the method", err)
			}
		}
		// Once dead, Calls fail at once with the reason.
		for range 20 {
			if err := cl.conn.Call(context.Background(), "echo", nil, nil); !errors.Is(err, peer.ErrPeerClosed) {
				t.Fatalf("Call on a dead connection: %v", err)
			}
		}
	})

	t.Run("server calls, client closes", func(t *testing.T) {
		ts := newServer(t, nil)
		cl := dial(t, ts, runnerHello("r1"))
		s := ts.nextSession(t)
		errs := make(chan error, 1)
		go func() { errs <- s.conn.Call(context.Background(), "block", nil, nil) }()
		if c := cl.nextCall(t); c.method != "block" {
			t.Fatalf("client handler got %q", c.method)
		}
		cl.conn.Close()
		if err := recv(t, errs, "the pending Call"); !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("pending Call: %v, want ErrPeerClosed", err)
		}
		cl.Release()
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("session closed with %v", err)
		}
	})

	t.Run("own side closes", func(t *testing.T) {
		ts := newServer(t, nil)
		cl := dial(t, ts, observerHello("obs"))
		s := ts.nextSession(t)
		defer s.Release()
		errs := make(chan error, 1)
		go func() { errs <- cl.conn.Call(context.Background(), "block", nil, nil) }()
		s.nextCall(t)
		cl.conn.Close()
		if err := recv(t, errs, "the pending Call"); !errors.Is(err, peer.ErrClosed) {
			t.Errorf("pending Call: %v, want ErrClosed", err)
		}
	})
}

// Notify on a connection that has ended must report it, as Call does, rather than
// queue the frame for a write loop that is gone.
func TestNotifyOnDeadConnection(t *testing.T) {
	ts := newServer(t, nil)
	var bugs []string
	for name, kill := range map[string]func(cl *client, s *session){
		"closed here":  func(cl *client, _ *session) { cl.conn.Close() },
		"peer dropped": func(_ *client, s *session) { s.conn.Close() },
	} {
		cl := dial(t, ts, observerHello("obs"))
		s := ts.nextSession(t)
		kill(cl, s)
		cl.served(t)
		reason := cl.conn.Err()
		var lost int
		for range 50 {
			err := cl.conn.Notify(context.Background(), "note", nil)
			if err == nil {
				lost++
			} else if !errors.Is(err, reason) {
				t.Errorf("%s: Notify: %v, want %v", name, err, reason)
			}
		}
		if lost > 0 {
			bugs = append(bugs, fmt.Sprintf("%s: %d of 50", name, lost))
		}
	}
	if len(bugs) > 0 {
		t.Fatalf("regression: conn.go:201-208: sendThenClose selects on c.out and c.done together, and Go picks "+
			"at random when both are ready, so Notify on a dead connection returned nil (%s) and "+
			"its frame was silently dropped", strings.Join(bugs, "; "))
	}
}

func TestConnCloseAndServeContext(t *testing.T) {
	ts := newServer(t, nil)

	// Cancelling Serve's context closes the connection with ErrClosed.
	c, _, err := peer.Dial(testCtx(t), ts.addr, observerHello("obs"), fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	s := ts.nextSession(t)
	if c.Err() != nil {
		t.Fatalf("Err on an open Conn: %v", c.Err())
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	h := peer.HandlerFunc(func(_ context.Context, method string, _ json.RawMessage) (any, error) {
		return map[string]string{"via": "HandlerFunc", "method": method}, nil
	})
	go func() { served <- c.Serve(ctx, h) }()
	if err := c.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := s.conn.Call(testCtx(t), "ping", nil, &out); err != nil || out["via"] != "HandlerFunc" || out["method"] != "ping" {
		t.Fatalf("Call to a HandlerFunc: %v %v", out, err)
	}
	cancel()
	if err := recv(t, served, "Serve"); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Serve after cancel: %v, want ErrClosed", err)
	}
	closedWithin(t, c.Done(), waitLong, "Done")
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("session closed with %v, want ErrPeerClosed", err)
	}

	// Close is idempotent and keeps the first reason; Serve on a closed Conn returns it.
	c2, _, err := peer.Dial(testCtx(t), ts.addr, observerHello("obs"), fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	ts.nextSession(t)
	c2.Close()
	c2.Close()
	closedWithin(t, c2.Done(), waitLong, "Done")
	if !errors.Is(c2.Err(), peer.ErrClosed) {
		t.Errorf("Err after Close: %v", c2.Err())
	}
	if err := c2.Serve(context.Background(), newHandler("client")); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Serve on a closed Conn: %v, want ErrClosed", err)
	}
	if err := c2.Call(context.Background(), "echo", nil, nil); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("Call on a closed Conn: %v, want ErrClosed", err)
	}
}

// Replies are matched by id; a reply nobody waits for is ignored. Here the raw side
// plays a client answering the server's requests by hand.
func TestRepliesMatchedByID(t *testing.T) {
	ts := newServer(t, nil)
	r := rawDial(t, ts.addr)
	r.handshake(runnerHello("manual"))
	s := ts.nextSession(t)

	r.writeLine(`{"jsonrpc":"2.0","id":999,"result":{}}`)
	r.writeLine(`{"jsonrpc":"2.0","id":998,"error":{"code":-32603,"message":"stray"}}`)

	type res struct {
		out payload
		err error
	}
	results := make(chan res, 2)
	for _, n := range []int{1, 2} {
		go func() {
			var out payload
			err := s.conn.Call(testCtx(t), fmt.Sprintf("m%d", n), payload{N: n}, &out)
			results <- res{out, err}
		}()
	}
	reqs := map[string]*wire.Frame{}
	for range 2 {
		f := r.readFrame()
		if f.Kind() != wire.KindRequest || f.ID == 0 {
			t.Fatalf("expected a request, got %+v", f)
		}
		reqs[f.Method] = f
	}
	if reqs["m1"] == nil || reqs["m2"] == nil || reqs["m1"].ID == reqs["m2"].ID {
		t.Fatalf("requests %+v", reqs)
	}
	// Answer in the opposite order: m2 with an error, m1 with a result.
	r.writeFrame(wire.NewErrorReply(reqs["m2"].ID, wire.Errorf(wire.CodeRefused, "busy")))
	reply, _ := wire.NewReply(reqs["m1"].ID, payload{N: 100})
	r.writeFrame(reply)
	for range 2 {
		got := recv(t, results, "a Call result")
		switch {
		case got.err == nil && got.out.N == 100:
		case wireCode(got.err) == wire.CodeRefused:
		default:
			t.Errorf("Call result %+v", got)
		}
	}
	if err := s.conn.Err(); err != nil {
		t.Fatalf("stray replies ended the connection: %v", err)
	}
}

// When the peer sends an id-less error report before closing (here: our frame was
// over its limit), the receiving Conn ends promptly, keeping what the peer reported.
func TestErrorReportFromPeerEndsConnection(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Options.MaxFrame = 512 })
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	if err := cl.conn.Notify(testCtx(t), "note", payload{S: strings.Repeat("x", 1000)}); err != nil {
		t.Fatal(err)
	}
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrProtocol) {
		t.Errorf("server side: %v, want ErrProtocol", err)
	}
	err := cl.served(t)
	if err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Fatalf("client side ended with %v, want the server's report about the size limit", err)
	}
}

// PROTOCOL.md §2: on receiving an error report, "treat the connection as lost; never
// answer it". A hand-made server sends one; the client must close without a word.
func TestErrorReportFromPeerIsNotAnswered(t *testing.T) {
	cEnd, sEnd := pipe(t)
	raw, welcomed := fakeServer(t, sEnd, 1000)
	c, w, err := peer.Handshake(testCtx(t), cEnd, observerHello("obs"), fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	closedWithin(t, welcomed, waitLong, "the fake server")
	cl := serve(t, "client", c, w)
	raw.writeLine(`{"jsonrpc":"2.0","error":{"code":-32700,"message":"malformed frame: not JSON"}}`)
	if err := cl.served(t); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("client ended with %v, want the reported error", err)
	}
	raw.expectEOF() // anything but heartbeats before the close would be an answer
	select {
	case c := <-cl.calls:
		t.Errorf("the error report reached the handler as %q", c.method)
	default:
	}
}

// Params and results are carried as raw JSON, untouched.
func TestRawJSONPassesThrough(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, observerHello("obs"))
	var out json.RawMessage
	in := json.RawMessage(`{"nested":{"a":[1,2,3]},"u":"\u00e9"}`)
	if err := cl.conn.Call(testCtx(t), "echo", in, &out); err != nil {
		t.Fatal(err)
	}
	if string(out) != string(in) {
		t.Errorf("raw params came back as %s", out)
	}
}
