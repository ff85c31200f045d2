package peer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

var sessionIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestHandshakeWelcome(t *testing.T) {
	ts := newServer(t, nil)
	hello := runnerHello("host-1")
	cl := dial(t, ts, hello)
	w := cl.welcome

	if !sessionIDRE.MatchString(w.SessionID) {
		t.Errorf("session id %q: want 16 lowercase hex characters", w.SessionID)
	}
	if w.HeartbeatMS != testHeartbeat.Milliseconds() || w.Heartbeat() != testHeartbeat {
		t.Errorf("heartbeat_ms %d (%v), want %d", w.HeartbeatMS, w.Heartbeat(), testHeartbeat.Milliseconds())
	}
	if w.ProtocolVersion != wire.ProtocolVersion {
		t.Errorf("protocol_version %d, want %d", w.ProtocolVersion, wire.ProtocolVersion)
	}
	if w.Server != "eventide-test" {
		t.Errorf("server %q, want the Server.Name", w.Server)
	}
	if len(w.Cancel) != 0 {
		t.Errorf("cancel %v, want none", w.Cancel)
	}
	if hello.ProtocolVersion != wire.ProtocolVersion {
		t.Errorf("Dial sent protocol_version %d, want the default %d", hello.ProtocolVersion, wire.ProtocolVersion)
	}

	// The session saw the hello as sent and the welcome as received.
	s := ts.nextSession(t)
	if s.hello.Name != "host-1" || s.hello.Role != wire.RoleRunner || s.hello.Slots != 2 ||
		!slices.Equal(s.hello.Labels, []string{"os=linux"}) || s.hello.ProtocolVersion != wire.ProtocolVersion {
		t.Errorf("Admit got hello %+v", s.hello)
	}
	if s.welcome.SessionID != w.SessionID {
		t.Errorf("Admit's welcome has session %q, the client got %q", s.welcome.SessionID, w.SessionID)
	}
	if got := cl.conn.RemoteAddr().String(); got != ts.addr {
		t.Errorf("client RemoteAddr %s, want %s", got, ts.addr)
	}
	if h, _, _ := net.SplitHostPort(s.conn.RemoteAddr().String()); h != "127.0.0.1" {
		t.Errorf("server RemoteAddr %s", s.conn.RemoteAddr())
	}
	if cl.conn.Err() != nil || s.conn.Err() != nil {
		t.Errorf("Err on open connections: %v / %v", cl.conn.Err(), s.conn.Err())
	}

	// Every connection gets its own session id.
	seen := map[string]bool{w.SessionID: true}
	for range 5 {
		id := dial(t, ts, observerHello("obs")).welcome.SessionID
		if seen[id] || !sessionIDRE.MatchString(id) {
			t.Errorf("session id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}

func TestHandshakeDefaultHeartbeat(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Options = peer.Options{} })
	c, w, err := peer.Dial(testCtx(t), ts.addr, observerHello("obs"), peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if w.HeartbeatMS != 1000 {
		t.Errorf("heartbeat_ms %d with default Options, want 1000", w.HeartbeatMS)
	}
}

func TestAdmitFillsWelcome(t *testing.T) {
	job := "0123456789abcdef"
	ts := newServer(t, func(ts *testServer) {
		ts.admit = func(c *peer.Conn, h *wire.Hello, w *wire.Welcome) error {
			if len(h.Jobs) != 1 || h.Jobs[0].JobID != job || !h.Jobs[0].Finished {
				return wire.Errorf(wire.CodeInvalidParams, "held jobs %+v", h.Jobs)
			}
			if c.RemoteAddr() == nil || c.Err() != nil {
				return errors.New("Admit got a Conn that is not open")
			}
			w.Cancel = []string{job}
			return nil
		}
	})
	hello := runnerHello("r1")
	hello.Jobs = []wire.HeldJob{{Assign: wire.Assign{JobID: job, Attempt: 2, Repo: "/srv/repo",
		Commit: strings.Repeat("a", 40)}, Finished: true}}
	cl := dial(t, ts, hello)
	if !slices.Equal(cl.welcome.Cancel, []string{job}) {
		t.Errorf("welcome cancel %v, want [%s]", cl.welcome.Cancel, job)
	}
}

func TestAdmitRefusal(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		code  int
		msg   string
		fatal bool
	}{
		{"wire error", wire.Errorf(wire.CodeShuttingDown, "come back later"), wire.CodeShuttingDown, "come back later", false},
		{"wrapped wire error", errors.Join(errors.New("ctx"), wire.Errorf(wire.CodeUnauthorized, "banned")), wire.CodeUnauthorized, "banned", true},
		{"plain error", errors.New("database down"), wire.CodeInternal, "database down", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admitted := make(chan *peer.Conn, 1)
			ts := newServer(t, func(ts *testServer) {
				ts.admit = func(c *peer.Conn, _ *wire.Hello, _ *wire.Welcome) error {
					admitted <- c
					return tc.err
				}
			})
			err := dialErr(t, ts.addr, observerHello("obs"))
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tc.code {
				t.Fatalf("Dial error %v, want a *wire.Error with code %d", err, tc.code)
			}
			if !strings.Contains(we.Message, tc.msg) {
				t.Errorf("message %q lost the Admit error %q", we.Message, tc.msg)
			}
			if peer.Fatal(err) != tc.fatal {
				t.Errorf("Fatal(%v) = %v, want %v", err, !tc.fatal, tc.fatal)
			}
			c := recv(t, admitted, "Admit")
			ts.noSession(t)
			// The refused connection is never served: its Conn stays unused.
			if c.Err() != nil {
				t.Errorf("refused Conn Err = %v", c.Err())
			}
		})
	}
}

func TestProtocolVersion(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Token = "s3cret" })

	// Through Dial: the refusal is a fatal *wire.Error.
	for _, v := range []int{wire.ProtocolVersion + 1, 99, -1} {
		h := observerHello("obs")
		h.ProtocolVersion = v
		h.Token = "wrong" // the version is checked before the token
		err := dialErr(t, ts.addr, h)
		if wireCode(err) != wire.CodeVersionUnsupported || !peer.Fatal(err) {
			t.Errorf("version %d: %v, want fatal CodeVersionUnsupported", v, err)
		}
	}

	// By hand: 0 and a missing version are refused too (Dial would fill in the default).
	for _, params := range []string{
		`{"role":"observer","name":"obs","token":"s3cret","protocol_version":0}`,
		`{"role":"observer","name":"obs","token":"s3cret"}`,
		`{"role":"observer","name":"obs","token":"s3cret","protocol_version":null}`,
	} {
		r := rawDial(t, ts.addr)
		reply := r.hello(json.RawMessage(params))
		if reply.Error == nil || reply.Error.Code != wire.CodeVersionUnsupported || reply.ID != 1 {
			t.Errorf("%s: reply %+v %v, want CodeVersionUnsupported for id 1", params, reply, reply.Error)
		}
		r.expectEOF()
	}
	// The refusal says which side to upgrade.
	for v, want := range map[int]string{-1: "upgrade the client", wire.ProtocolVersion + 1: "upgrade the dispatcher"} {
		h := observerHello("obs")
		h.ProtocolVersion = v
		err := dialErr(t, ts.addr, h)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("version %d: %v, want it to say %q", v, err, want)
		}
	}
	ts.noSession(t)

	// The current version is accepted.
	h := observerHello("obs")
	h.ProtocolVersion = wire.ProtocolVersion
	h.Token = "s3cret"
	dial(t, ts, h)
	ts.nextSession(t)
}

func TestToken(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Token = "s3cret" })
	for _, tok := range []string{"", "wrong", "s3cret ", "S3CRET", "s3cre"} {
		h := observerHello("obs")
		h.Token = tok
		err := dialErr(t, ts.addr, h)
		if wireCode(err) != wire.CodeUnauthorized || !peer.Fatal(err) {
			t.Errorf("token %q: %v, want fatal CodeUnauthorized", tok, err)
		}
	}
	// The token is checked before the payload, so a stranger learns nothing about
	// what a valid hello looks like.
	bad := &wire.Hello{Role: "admin", Name: "../x", Token: "wrong"}
	if err := dialErr(t, ts.addr, bad); wireCode(err) != wire.CodeUnauthorized {
		t.Errorf("bad hello with wrong token: %v, want CodeUnauthorized", err)
	}
	ts.noSession(t)

	h := runnerHello("r1")
	h.Token = "s3cret"
	dial(t, ts, h)
	if s := ts.nextSession(t); s.hello.Token != "s3cret" {
		t.Errorf("session hello token %q", s.hello.Token)
	}
}

func TestEmptyServerTokenAdmitsAll(t *testing.T) {
	ts := newServer(t, nil)
	for _, tok := range []string{"", "anything", strings.Repeat("t", wire.MaxTokenLen)} {
		h := observerHello("obs")
		h.Token = tok
		dial(t, ts, h)
		ts.nextSession(t)
	}
}

func TestInvalidHello(t *testing.T) {
	ts := newServer(t, nil)
	cases := map[string]*wire.Hello{
		"bad role":             {Role: "admin", Name: "x"},
		"no role":              {Name: "x"},
		"empty name":           {Role: wire.RoleObserver},
		"name with slash":      {Role: wire.RoleObserver, Name: "../x"},
		"name with space":      {Role: wire.RoleObserver, Name: "a b"},
		"name too long":        {Role: wire.RoleObserver, Name: strings.Repeat("n", wire.MaxNameLen+1)},
		"runner without slots": {Role: wire.RoleRunner, Name: "r"},
		"observer with slots":  {Role: wire.RoleObserver, Name: "o", Slots: 1},
		"bad label":            {Role: wire.RoleRunner, Name: "r", Slots: 1, Labels: []string{"a b"}},
		"token too long":       {Role: wire.RoleObserver, Name: "o", Token: strings.Repeat("t", wire.MaxTokenLen+1)},
	}
	for name, h := range cases {
		err := dialErr(t, ts.addr, h)
		if wireCode(err) != wire.CodeInvalidParams || !peer.Fatal(err) {
			t.Errorf("%s: %v, want fatal CodeInvalidParams", name, err)
		}
	}
	// Params that are not an object make the frame unreadable (since version 4).
	for _, params := range []string{`[1,2]`, `"hello"`, `null`} {
		r := rawDial(t, ts.addr)
		reply := r.hello(json.RawMessage(params))
		if reply.Error == nil || reply.Error.Code != wire.CodeParseError || reply.ID != 0 {
			t.Errorf("params %s: reply %+v, want CodeParseError without an id", params, reply.Error)
		}
		r.expectEOF()
	}
	// Params that are not a hello object: wrong types, or names in another case.
	for _, params := range []string{`{"protocol_version":1,"token":5}`, `{"protocol_version":"1"}`,
		`{"role":"observer","Name":"obs","protocol_version":1}`} {
		r := rawDial(t, ts.addr)
		reply := r.hello(json.RawMessage(params))
		if reply.Error == nil || reply.Error.Code != wire.CodeInvalidParams {
			t.Errorf("params %s: reply %+v, want CodeInvalidParams", params, reply.Error)
		}
		r.expectEOF()
	}
	ts.noSession(t)
}

func TestFirstFrameNotHello(t *testing.T) {
	ts := newServer(t, nil)
	cases := map[string]struct {
		line string
		code int
	}{
		"heartbeat":          {`{"jsonrpc":"2.0","method":"heartbeat"}`, wire.CodeHandshake},
		"other request":      {`{"jsonrpc":"2.0","id":1,"method":"commit.submit","params":{}}`, wire.CodeHandshake},
		"hello notification": {`{"jsonrpc":"2.0","method":"hello","params":{"role":"observer","name":"o","protocol_version":1}}`, wire.CodeHandshake},
		"reply":              {`{"jsonrpc":"2.0","id":1,"result":{}}`, wire.CodeHandshake},
		"not json":           {`GET / HTTP/1.1`, wire.CodeParseError},
		"not a frame":        {`{"jsonrpc":"1.0","id":1,"method":"hello"}`, wire.CodeInvalidRequest},
	}
	for name, tc := range cases {
		r := rawDial(t, ts.addr)
		r.writeLine(tc.line)
		f := r.readFrame()
		if f.Error == nil || f.Error.Code != tc.code || f.Error.Message == "" {
			t.Errorf("%s: got %+v (%v), want an error frame with code %d", name, f, f.Error, tc.code)
		}
		r.expectEOF()
	}
	ts.noSession(t)
}

func TestHandshakeTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	ts := newServer(t, func(ts *testServer) { ts.srv.HandshakeTimeout = timeout })

	start := time.Now()
	r := rawDial(t, ts.addr) // connects and says nothing
	f := r.readFrame()
	elapsed := time.Since(start)
	// The message names the timeout: it is this one that fired, not the 5 s default.
	if f.Error == nil || f.Error.Code != wire.CodeHandshake || !strings.Contains(f.Error.Message, "no hello within "+timeout.String()) {
		t.Errorf("got %+v (%v), want a CodeHandshake error naming %v", f, f.Error, timeout)
	}
	t.Logf("dropped after %v (timeout %v)", elapsed, timeout)
	if elapsed < timeout-10*time.Millisecond || elapsed > timeout+lateTimer {
		t.Errorf("dropped after %v, want about %v", elapsed, timeout)
	}
	r.expectEOF()
	ts.noSession(t)

	// A client that does say hello in time is not affected by the deadline later
	// on. Its own server has a longer timeout, so that a busy machine's slow
	// hello is still in time.
	const inTime = time.Second
	ts = newServer(t, func(ts *testServer) { ts.srv.HandshakeTimeout = inTime })
	cl := dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)
	<-time.After(inTime + timeout) // let the handshake deadline pass (a wait, not synchronisation)
	if err := cl.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("Call after the handshake deadline: %v", err)
	}
	if err := s.conn.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

// A client that starts a hello and stalls is just as late as one that says nothing.
func TestHandshakeTimeoutPartialHello(t *testing.T) {
	const timeout = 100 * time.Millisecond
	ts := newServer(t, func(ts *testServer) { ts.srv.HandshakeTimeout = timeout })
	r := rawDial(t, ts.addr)
	if _, err := r.nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"hel`)); err != nil {
		t.Fatal(err)
	}
	f := r.readFrame()
	r.expectEOF()
	ts.noSession(t)
	if f.Error == nil {
		t.Fatalf("got %+v, want an error frame", f)
	}
	if f.Error.Code == wire.CodeParseError {
		t.Fatalf("regression: server.go:229-239 (via wire/codec.go:44-57): when the hello deadline expires "+
			"mid-line, bufio.Scanner hands out the partial line as a final token, so the client is "+
			"told %v instead of CodeHandshake \"no hello within %v\"", f.Error, timeout)
	}
	if f.Error.Code != wire.CodeHandshake {
		t.Fatalf("got %v, want CodeHandshake", f.Error)
	}
}

// A line that is not a frame, after the handshake, is answered with an error frame
// and ends that connection only.
func TestMalformedAfterHandshake(t *testing.T) {
	ts := newServer(t, nil)
	other := dial(t, ts, observerHello("other"))
	otherSess := ts.nextSession(t)

	cases := map[string]struct {
		line string
		code int
	}{
		"not json":      {`{"jsonrpc":"2.0","method":`, wire.CodeParseError},
		"binary":        {"\x00\xff\xfe", wire.CodeParseError},
		"wrong jsonrpc": {`{"jsonrpc":"1.0","method":"x"}`, wire.CodeInvalidRequest},
		"id zero reply": {`{"jsonrpc":"2.0","id":0,"result":{}}`, wire.CodeInvalidRequest},
		// Strict decoding (version 4) holds for methods that take no params too.
		"null params":    {`{"jsonrpc":"2.0","method":"runner.drain","params":null}`, wire.CodeParseError},
		"array params":   {`{"jsonrpc":"2.0","id":2,"method":"console.subscribe","params":[]}`, wire.CodeParseError},
		"duplicate name": {`{"jsonrpc":"2.0","id":2,"id":3,"method":"echo"}`, wire.CodeParseError},
		"invalid UTF-8":  {"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":{\"n\":\"\xff\"}}", wire.CodeParseError},
		"name in caps":   {`{"JSONRPC":"2.0","id":2,"method":"echo"}`, wire.CodeInvalidRequest},
	}
	for name, tc := range cases {
		r := rawDial(t, ts.addr)
		r.handshake(observerHello("bad"))
		s := ts.nextSession(t)
		r.writeLine(tc.line)
		f := r.readFrame()
		if f.Error == nil || f.Error.Code != tc.code {
			t.Errorf("%s: got %+v (%v), want an error frame with code %d", name, f, f.Error, tc.code)
		}
		r.expectEOF()
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrProtocol) {
			t.Errorf("%s: session closed with %v, want ErrProtocol", name, err)
		}

		// The other client on the same server is unaffected.
		var out map[string]string
		if err := other.conn.Call(testCtx(t), "whoami", nil, &out); err != nil || out["name"] != "server" {
			t.Fatalf("%s: other client's Call: %v %v", name, out, err)
		}
		if err := otherSess.conn.Err(); err != nil {
			t.Fatalf("%s: other session ended: %v", name, err)
		}
	}
}

func TestOverLimitFrame(t *testing.T) {
	const limit = 512
	ts := newServer(t, func(ts *testServer) { ts.srv.Options.MaxFrame = limit })
	other := dial(t, ts, observerHello("other"))
	ts.nextSession(t)

	r := rawDial(t, ts.addr)
	r.handshake(observerHello("big"))
	s := ts.nextSession(t)

	// A frame of exactly the limit is fine.
	head, tail := `{"jsonrpc":"2.0","method":"pad","params":{"p":"`, `"}}`
	exact := head + strings.Repeat("p", limit-len(head)-len(tail)) + tail
	r.writeLine(exact)
	if c := s.nextCall(t); c.method != "pad" {
		t.Fatalf("handler got %q", c.method)
	}

	// One byte more is not. (Exactly limit+1 bytes, so that the server has read
	// everything it was sent when it closes, and the close is a clean FIN.)
	if _, err := r.nc.Write([]byte(strings.Repeat("x", limit+1))); err != nil {
		t.Fatal(err)
	}
	f := r.readFrame()
	if f.Error == nil || f.Error.Code != wire.CodeParseError || !strings.Contains(f.Error.Message, "limit") {
		t.Fatalf("got %+v (%v), want a CodeParseError error frame about the limit", f, f.Error)
	}
	r.expectEOF()
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrProtocol) {
		t.Errorf("session closed with %v, want ErrProtocol", err)
	}
	if err := other.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("other client: %v", err)
	}
}

// A hello over the server's frame limit is refused; the refusal must reach a client
// using Handshake as a *wire.Error, as Dial documents ("A refusal is returned as a
// *wire.Error").
func TestOverLimitHelloRefusal(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Options.MaxFrame = 256 })
	h := observerHello("obs")
	h.Token = strings.Repeat("t", 600)
	err := dialErr(t, ts.addr, h)
	if wireCode(err) != wire.CodeParseError {
		t.Fatalf("Dial with an over-limit hello: %v, want the server's id-less *wire.Error "+
			"with CodeParseError", err)
	}
	ts.noSession(t)
}

func TestShutdown(t *testing.T) {
	ts := newServer(t, nil)
	var clients []*client
	var sessions []*session
	for _, name := range []string{"a", "b"} {
		clients = append(clients, dial(t, ts, observerHello(name)))
		sessions = append(sessions, ts.nextSession(t))
	}
	// A client over net.Pipe through ServeConn.
	cEnd, sEnd := pipe(t)
	serveConnDone := make(chan struct{})
	go func() { defer close(serveConnDone); ts.srv.ServeConn(sEnd) }()
	pc, pw, err := peer.Handshake(testCtx(t), cEnd, observerHello("piped"), fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients, serve(t, "piped", pc, pw))
	sessions = append(sessions, ts.nextSession(t))
	// A connection still in its handshake.
	half := rawDial(t, ts.addr)
	// A call in flight, from a client to a server handler that blocks.
	inflight := make(chan error, 1)
	go func() { inflight <- clients[0].conn.Call(context.Background(), "block", nil, nil) }()
	if c := sessions[0].nextCall(t); c.method != "block" {
		t.Fatalf("handler got %q", c.method)
	}

	if err := ts.shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !errors.Is(ts.served, peer.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", ts.served)
	}
	closedWithin(t, serveConnDone, waitLong, "ServeConn to return")
	var wrongReason []error
	for i, s := range sessions {
		// Shutdown waits for the sessions, so Closed has already been called.
		select {
		case err := <-s.closed:
			if !errors.Is(err, peer.ErrClosed) && !errors.Is(err, peer.ErrPeerClosed) {
				t.Errorf("session %d closed with %v", i, err)
			} else if !errors.Is(err, peer.ErrClosed) {
				wrongReason = append(wrongReason, err)
			}
		default:
			t.Errorf("session %d: Closed not called before Shutdown returned", i)
		}
	}
	for i, cl := range clients {
		err := cl.served(t)
		if !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("client %d: Serve returned %v, want ErrPeerClosed", i, err)
		}
	}
	// Shutdown cancels the handlers' context, so the blocked handler may just manage
	// to reply before its connection is closed; otherwise the Call fails.
	if err := recv(t, inflight, "the in-flight Call"); err != nil && !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("in-flight Call: %v, want ErrPeerClosed (or a reply)", err)
	}
	half.expectEOF()

	// After Shutdown: no more listening, serving or accepting.
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the listener still accepts")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ts.srv.Serve(ln); !errors.Is(err, peer.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	a, b := pipe(t)
	ts.srv.ServeConn(a) // returns at once, closing a
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Errorf("ServeConn after Shutdown left the connection open")
	}
	if err := ts.srv.Shutdown(testCtx(t)); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if len(wrongReason) > 0 {
		t.Fatalf("regression: server.go:152-157 with conn.go:218-224 and 323-328: on Shutdown %d of %d sessions were told %v "+
			"(\"the peer closed the connection\") instead of ErrClosed: Shutdown closes the net.Conn "+
			"right after cancelling the context, and the read loop can see the closed socket before "+
			"Serve's watcher goroutine records ErrClosed", len(wrongReason), len(sessions), wrongReason[0])
	}
}

// Session.Closed must report a server shutdown as ErrClosed ("this side closed the
// connection"), so that the owner can tell a shutdown from a lost client.
func TestShutdownReasonIsErrClosed(t *testing.T) {
	const n = 20
	ts := newServer(t, nil)
	var sessions []*session
	for range n {
		dial(t, ts, observerHello("obs"))
		sessions = append(sessions, ts.nextSession(t))
	}
	if err := ts.shutdown(); err != nil {
		t.Fatal(err)
	}
	var wrong []error
	for _, s := range sessions {
		if err := s.waitClosed(t); !errors.Is(err, peer.ErrClosed) {
			wrong = append(wrong, err)
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("regression: server.go:152-157 with conn.go:218-224 and 323-328: %d of %d sessions closed by Shutdown were "+
			"told %v instead of ErrClosed", len(wrong), n, wrong[0])
	}
}

func TestShutdownWaitsForSessions(t *testing.T) {
	gate := make(chan struct{})
	ts := newServer(t, func(ts *testServer) { ts.closeGate = gate })
	dial(t, ts, observerHello("obs"))
	s := ts.nextSession(t)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a session still closing: %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-s.closed:
		t.Fatalf("Closed finished while held: %v", err)
	default:
	}
	close(gate)
	if err := ts.shutdown(); err != nil {
		t.Fatalf("Shutdown after the session finished: %v", err)
	}
	s.waitClosed(t)
}

// When the welcome cannot be written (here Admit closes the connection), the
// Session is still told, once, that its connection ended.
func TestWelcomeWriteFails(t *testing.T) {
	ts := newServer(t, func(ts *testServer) {
		ts.admit = func(c *peer.Conn, _ *wire.Hello, _ *wire.Welcome) error {
			c.Close()
			return nil
		}
	})
	r := rawDial(t, ts.addr)
	f, err := wire.NewRequest(1, wire.MethodHello, &wire.Hello{Role: wire.RoleObserver, Name: "obs", ProtocolVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.writeFrame(f)
	r.expectEOF()
	s := ts.nextSession(t)
	if err := s.waitClosed(t); err == nil {
		t.Fatalf("Closed(nil) for a connection that never got its welcome")
	}
}

// Closing the listener from outside (not through Shutdown) must end Serve; it must
// not retry Accept on a listener that can never accept again.
func TestServeReturnsWhenListenerClosed(t *testing.T) {
	srv := &peer.Server{Logger: quietLogger, Admit: func(*peer.Conn, *wire.Hello, *wire.Welcome) (peer.Session, error) {
		return nil, errors.New("no")
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	ln.Close()
	select {
	case err := <-done:
		done <- err // for the cleanup's receive
		if err == nil {
			t.Errorf("Serve returned nil")
		}
	case <-time.After(waitLong): // the bug retries for ever
		t.Fatal("regression: server.go:84-93: Serve treats net.ErrClosed from Accept as a temporary " +
			"failure and retries forever (sleeping up to 1s between tries) when the listener is " +
			"closed by its owner instead of by Shutdown")
	}
}

func TestServeConnOverPipe(t *testing.T) {
	sessions := make(chan *session, 1)
	srv := &peer.Server{
		Options: fastOpts, Name: "piped", Logger: quietLogger,
		Admit: func(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
			s := &session{testHandler: newHandler("server"), conn: c, hello: *h, welcome: w, closed: make(chan error, 1)}
			sessions <- s
			return s, nil
		},
	}
	cEnd, sEnd := pipe(t)
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeConn(sEnd) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(testCtx(t)); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
	})

	c, w, err := peer.Handshake(testCtx(t), cEnd, runnerHello("pipe-runner"), fastOpts)
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	if w.Server != "piped" || w.HeartbeatMS != testHeartbeat.Milliseconds() || !sessionIDRE.MatchString(w.SessionID) {
		t.Errorf("welcome %+v", w)
	}
	cl := serve(t, "client", c, w)
	s := recv(t, sessions, "session")

	var out map[string]string
	if err := cl.conn.Call(testCtx(t), "whoami", nil, &out); err != nil || out["name"] != "server" {
		t.Fatalf("client → server: %v %v", out, err)
	}
	if err := s.conn.Call(testCtx(t), "whoami", nil, &out); err != nil || out["name"] != "client" {
		t.Fatalf("server → client: %v %v", out, err)
	}
	cl.conn.Close()
	if err := s.waitClosed(t); !errors.Is(err, peer.ErrPeerClosed) {
		t.Errorf("session closed with %v, want ErrPeerClosed", err)
	}
	closedWithin(t, done, waitLong, "ServeConn to return")
	if err := cl.served(t); !errors.Is(err, peer.ErrClosed) {
		t.Errorf("client Serve: %v, want ErrClosed", err)
	}
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// Connections that never say hello are bounded per source and in all; past a bound
// the oldest is dropped with CodeCrowded, so a client that says hello at once gets
// in however many silent ones others hold open.
func TestCrowdedHandshakes(t *testing.T) {
	ts := newServer(t, func(ts *testServer) {
		ts.srv.MaxHandshakes, ts.srv.MaxHandshakesPerSource = 4, 2
		ts.srv.HandshakeTimeout = time.Minute
	})
	const perSource = 10
	crowded := make(chan bool, 2*perSource)
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		for range perSource {
			nc := dialFrom(t, src, ts.addr)
			go func() {
				nc.SetReadDeadline(time.Now().Add(waitLong))
				line, _ := bufio.NewReader(nc).ReadString('\n')
				crowded <- strings.Contains(line, `"code":-32007`)
			}()
		}
	}
	// 20 silent, 2 per source kept: 16 dropped, whatever the order of arrival.
	for i := range 16 {
		if !recv(t, crowded, "a dropped connection") {
			t.Fatalf("connection %d got something other than CodeCrowded", i)
		}
	}
	// A client that says hello is admitted, from a third address; the newest of
	// the silent ones are still waiting (one more is dropped to make room).
	cl := dial(t, ts, observerHello("real"))
	ts.nextSession(t)
	if err := cl.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	if !recv(t, crowded, "the drop that made room") {
		t.Fatal("not CodeCrowded")
	}
	select {
	case <-crowded:
		t.Fatal("more connections dropped than made room")
	default:
	}
}

// Before its hello is read, a connection may send no more than wire.MaxHelloSize:
// a longer line is refused as soon as that much has arrived, without waiting for
// its end or buffering the rest.
func TestHelloSizeLimit(t *testing.T) {
	ts := newServer(t, nil)
	r := rawDial(t, ts.addr)
	go r.nc.Write([]byte(strings.Repeat("x", wire.MaxFrameSize))) // no newline; fails once refused
	f := r.readFrame()
	if f.Error == nil || f.Error.Code != wire.CodeParseError || !strings.Contains(f.Error.Message, "(65536 bytes)") {
		t.Fatalf("got %+v (%v), want CodeParseError naming the hello limit", f, f.Error)
	}
	ts.noSession(t)

	// A hello of exactly the limit is admitted, and later frames may be larger.
	padded := observerHello("padded")
	padded.ProtocolVersion = wire.ProtocolVersion
	h, err := json.Marshal(padded)
	if err != nil {
		t.Fatal(err)
	}
	head := `{"jsonrpc":"2.0","id":1,"method":"hello","params":` + string(h[:len(h)-1]) + `,"pad":"`
	tail := `"}}`
	r = rawDial(t, ts.addr)
	r.writeLine(head + strings.Repeat("p", wire.MaxHelloSize-len(head)-len(tail)) + tail)
	if f := r.readFrame(); f.Error != nil {
		t.Fatalf("hello of exactly the limit: %v", f.Error)
	}
	s := ts.nextSession(t)
	r.writeLine(`{"jsonrpc":"2.0","method":"pad","params":{"p":"` + strings.Repeat("p", 2*wire.MaxHelloSize) + `"}}`)
	if c := s.nextCall(t); c.method != "pad" {
		t.Fatalf("handler got %q", c.method)
	}

	// The reference client refuses to send a hello over the limit, as fatal.
	big := runnerHello("big")
	for i := range 400 {
		big.Jobs = append(big.Jobs, wire.HeldJob{Assign: wire.Assign{JobID: fmt.Sprintf("%016x", i), Attempt: 1,
			Repo: "/" + strings.Repeat("r", 200), Commit: strings.Repeat("a", 40)}})
	}
	if err := dialErr(t, ts.addr, big); wireCode(err) != wire.CodeInvalidParams || !peer.Fatal(err) || !strings.Contains(err.Error(), "400 held jobs") {
		t.Fatalf("oversized hello: %v, want a fatal CodeInvalidParams naming the held jobs", err)
	}
}
