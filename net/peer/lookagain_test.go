package peer

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/tlsconf"
)

// A read whose deadline passed before the reader looked at the socket (its
// goroutine was not scheduled in time, on a busy machine) still gets the bytes
// waiting there: the runtime fails such a read without looking, so the bytes of
// a live peer would be taken for silence.
func TestDeadlinePassedWithBytesWaiting(t *testing.T) {
	peer, nc := tcpPair(t)
	if _, err := peer.Write([]byte("a frame\n")); err != nil {
		t.Fatal(err)
	}
	// One byte read the ordinary way: then the rest of the segment is waiting.
	one := make([]byte, 1)
	nc.SetReadDeadline(time.Now().Add(testkit.Patience))
	if _, err := nc.Read(one); err != nil {
		t.Fatal(err)
	}

	readLate(t, nc, " frame\n")
}

// readLate reads from nc as an inbound whose deadline has passed by the time
// the read starts: want is what waits there. Then, with nothing waiting, the
// timeout stands.
func readLate(t *testing.T, nc net.Conn, want string) {
	t.Helper()
	in := newInbound(nc, 0)
	in.judge(-time.Second)
	p := make([]byte, 64)
	n, err := in.Read(p)
	if err != nil || string(p[:n]) != want {
		t.Fatalf("read with bytes waiting and the deadline past: %q, %v; want %q", p[:n], err, want)
	}
	if n, err := in.Read(p); n != 0 || !isTimeout(err) {
		t.Fatalf("read with nothing waiting: %d bytes, %v; want a timeout", n, err)
	}
}

// The same over TLS: the record waiting in the socket is read through the
// session, not taken for silence.
func TestDeadlinePassedWithRecordWaiting(t *testing.T) {
	cert, err := tlsconf.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw, nc := tcpPair(t)
	pin, _ := tlsconf.Client(tlsconf.CertFingerprint(cert), "", "")
	client, server := tls.Client(raw, pin), tls.Server(&socket{Conn: nc}, tlsconf.Server(cert))
	handshook := make(chan error, 1)
	go func() { handshook <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-handshook; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("a frame\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testkit.Patience)
	for !waiting(nc) { // the record is on its way through loopback
		if time.Now().After(deadline) {
			t.Fatal("the record never arrived")
		}
		<-time.After(time.Millisecond) // poll: the kernel tells nobody when bytes arrive
	}

	readLate(t, server, "a frame\n")
}

// tcpPair is the two ends of a loopback TCP connection, closed with the test.
func tcpPair(t *testing.T) (dialled, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialled, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialled.Close() })
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return dialled, accepted
}
