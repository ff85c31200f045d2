package peer_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"testing"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/tlsconf"
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
		addr := benchServer(b, nil)
		c, w, err := peer.Dial(context.Background(), addr, observerHello("bench"), peer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		serve(b, "client", c, w)
		run(b, c)
	})
	b.Run("tls", func(b *testing.B) {
		cert := testCert(b)
		addr := benchServer(b, &cert)
		c, w, err := peer.Dial(context.Background(), addr, observerHello("bench"), pinned(b, tlsconf.CertFingerprint(cert)))
		if err != nil {
			b.Fatal(err)
		}
		serve(b, "client", c, w)
		run(b, c)
	})
}

// BenchmarkDial measures a connection up to the welcome: TCP connect, the TLS
// handshake when there is one, and hello. The server's side of it is what a
// flood of connections costs the dispatcher.
func BenchmarkDial(b *testing.B) {
	for _, withTLS := range []bool{false, true} {
		name, opts := "tcp", peer.Options{}
		var cert *tls.Certificate
		if withTLS {
			c := testCert(b)
			name, opts, cert = "tls", pinned(b, tlsconf.CertFingerprint(c)), &c
		}
		b.Run(name, func(b *testing.B) {
			addr := benchServer(b, cert)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c, _, err := peer.Dial(ctx, addr, observerHello("bench"), opts)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// benchServer serves echo sessions on loopback, over TLS with cert when given,
// until the benchmark ends, and returns its address.
func benchServer(b *testing.B, cert *tls.Certificate) string {
	srv := newEchoServer()
	if cert != nil {
		srv.TLS = tlsconf.Server(*cert)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	b.Cleanup(func() { srv.Shutdown(context.Background()); <-done })
	return ln.Addr().String()
}
