package peer

import (
	"net"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// A read whose deadline passed before the reader looked at the socket (its
// goroutine was not scheduled in time, on a busy machine) still gets the bytes
// waiting there: the runtime fails such a read without looking, so the bytes of
// a live peer would be taken for silence.
func TestDeadlinePassedWithBytesWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := peer.Write([]byte("a frame\n")); err != nil {
		t.Fatal(err)
	}
	// One byte read the ordinary way: then the rest of the segment is waiting.
	one := make([]byte, 1)
	nc.SetReadDeadline(time.Now().Add(testkit.Patience))
	if _, err := nc.Read(one); err != nil {
		t.Fatal(err)
	}

	in := newInbound(nc, 0)
	in.judge(-time.Second) // the deadline has passed by the time the read starts
	p := make([]byte, 64)
	n, err := in.Read(p)
	if err != nil || string(p[:n]) != " frame\n" {
		t.Fatalf("read with bytes waiting and the deadline past: %q, %v; want \" frame\\n\"", p[:n], err)
	}
	// With nothing waiting, the timeout stands.
	if n, err := in.Read(p); n != 0 || !isTimeout(err) {
		t.Fatalf("read with nothing waiting: %d bytes, %v; want a timeout", n, err)
	}
}
