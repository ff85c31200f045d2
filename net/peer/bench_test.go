package peer_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// echoSession answers every request with its params and keeps no log.
type echoSession struct{}

func (echoSession) Handle(_ context.Context, _ string, params json.RawMessage) (any, error) {
	return params, nil
}
func (echoSession) Closed(error) {}

func newEchoServer() *peer.Server {
	return &peer.Server{Logger: quietLogger,
		Admit: func(*peer.Conn, *wire.Hello, *wire.Welcome) (peer.Session, error) { return echoSession{}, nil }}
}

// BenchmarkCallRoundTrip measures one client→server Call and its reply, with the
// default Options (1 s heartbeats), over net.Pipe and over TCP loopback.
func BenchmarkCallRoundTrip(b *testing.B) {
	params := payload{N: 1, S: "hello", List: []string{"a", "b", "c"}}
	run := func(b *testing.B, c *peer.Conn) {
		ctx := context.Background()
		var out payload
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Call(ctx, "echo", params, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("pipe", func(b *testing.B) {
		srv := newEchoServer()
		cEnd, sEnd := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); srv.ServeConn(sEnd) }()
		b.Cleanup(func() { srv.Shutdown(context.Background()); cEnd.Close(); <-done })
		c, w, err := peer.Handshake(context.Background(), cEnd, observerHello("bench"), peer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		serve(b, "client", c, w)
		run(b, c)
	})
	b.Run("tcp", func(b *testing.B) {
		srv := newEchoServer()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(ln) }()
		b.Cleanup(func() { srv.Shutdown(context.Background()); <-done })
		c, w, err := peer.Dial(context.Background(), ln.Addr().String(), observerHello("bench"), peer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		serve(b, "client", c, w)
		run(b, c)
	})
}
