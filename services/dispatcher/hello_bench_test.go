package dispatcher

import (
	"context"
	"net"
	"testing"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// BenchmarkRunnerHello is one runner's hello round trip in process, over a
// net.Pipe: the handshake, admission (since protocol 8: the identity check) and
// registration, replacing the same runner's previous connection, as a runner
// reconnecting does. One op is one hello; allocations count both sides.
func BenchmarkRunnerHello(b *testing.B) {
	d, stop := startBenchDispatcher(b, b.TempDir())
	defer stop()
	hello := benchHello(d, "bench-runner")
	var last *peer.Conn
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		a, c := net.Pipe()
		go d.ServeConn(a)
		conn, _, err := peer.Handshake(context.Background(), c, hello, peer.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if last != nil {
			last.Close()
		}
		last = conn
	}
	b.StopTimer()
	if last != nil {
		last.Close()
	}
}

// benchHello is a runner's hello with its identity.
func benchHello(d *Dispatcher, name string) *wire.Hello {
	return withIdentity(d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1})
}
