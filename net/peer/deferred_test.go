package peer_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// A deferred reply does not hold up the connection: a request sent after it is
// handled and answered while it still waits, and it is answered once its wait ends.
func TestDeferredReplyLetsLaterRequestsThrough(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, runnerHello("r"))
	s := ts.nextSession(t)

	slow := make(chan error, 1)
	var got payload
	go func() { slow <- cl.conn.Call(testCtx(t), "later", payload{N: 7}, &got) }()
	if c := s.nextCall(t); c.method != "later" {
		t.Fatalf("first call %q, want later", c.method)
	}
	var echo payload
	if err := cl.conn.Call(testCtx(t), "echo", payload{N: 8}, &echo); err != nil || echo.N != 8 {
		t.Fatalf("echo while a deferred reply waits: %+v, %v", echo, err)
	}
	select {
	case err := <-slow:
		t.Fatalf("the deferred call returned (%v) before its wait ended", err)
	default:
	}
	s.Release()
	if err := recv(t, slow, "the deferred reply"); err != nil || got.N != 7 {
		t.Fatalf("deferred reply %+v, %v; want n=7", got, err)
	}
}

// At most MaxDeferred waits run at once: beyond that the read loop waits, so a
// peer cannot start waits without bound.
func TestDeferredRepliesAreBounded(t *testing.T) {
	ts := newServer(t, func(ts *testServer) { ts.srv.Options.MaxDeferred = 1 })
	cl := dial(t, ts, runnerHello("r"))
	s := ts.nextSession(t)

	results := make(chan error, 3)
	for _, m := range []string{"later", "later"} {
		go func() { results <- cl.conn.Call(testCtx(t), m, nil, nil) }()
	}
	s.nextCall(t)
	s.nextCall(t) // the second wait cannot start: the read loop is held here
	go func() { results <- cl.conn.Call(testCtx(t), "echo", nil, nil) }()
	select {
	case c := <-s.calls:
		t.Fatalf("%q was handled while the read loop should wait for a deferred slot", c.method)
	case err := <-results:
		t.Fatalf("a call returned (%v) before any deferred wait ended", err)
	case <-time.After(100 * time.Millisecond): // a bounded look for something that must not happen
	}
	s.Release()
	for range 3 {
		if err := recv(t, results, "a reply"); err != nil {
			t.Fatal(err)
		}
	}
	if c := s.nextCall(t); c.method != "echo" {
		t.Fatalf("third call %q, want echo", c.method)
	}
}

// A deferred wait ends with its connection, and the connection's Serve does not
// return before it has.
func TestDeferredWaitEndsWithConnection(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, runnerHello("r"))
	s := ts.nextSession(t)
	go cl.conn.Call(context.Background(), "later", nil, nil)
	s.nextCall(t)
	cl.conn.Close()
	if err := recv(t, s.ended, "the deferred wait to end"); err == nil {
		t.Fatal("the wait ended without an error")
	}
	s.waitClosed(t)
}

// Requests started one after the other reach the peer in that order, and each
// Pending gets its own reply.
func TestStartKeepsOrder(t *testing.T) {
	ts := newServer(t, nil)
	cl := dial(t, ts, runnerHello("r"))
	s := ts.nextSession(t)
	ctx := testCtx(t)
	var calls []interface {
		Wait(context.Context, any) error
	}
	for n := range 20 {
		p, err := cl.conn.Start(ctx, "echo", payload{N: n})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, p)
	}
	for n := range 20 {
		var got payload
		if err := calls[n].Wait(ctx, &got); err != nil || got.N != n {
			t.Fatalf("reply %d: %+v, %v", n, got, err)
		}
		c := s.nextCall(t)
		var p payload
		if err := wire.Decode("echo", c.params, &p); err != nil || p.N != n {
			t.Fatalf("call %d reached the server as %s", n, c.params)
		}
	}
}
