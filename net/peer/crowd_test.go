package peer

import (
	"net"
	"testing"
	"time"
)

// fromConn is a connection that says it comes from addr.
type fromConn struct {
	net.Conn
	addr net.Addr
}

func (c fromConn) RemoteAddr() net.Addr { return c.addr }

func tcpFrom(t *testing.T, ip string) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return fromConn{Conn: a, addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// The crowd drops the oldest waiting connection of the newcomer's source past the
// per-source bound, and the oldest of the largest source past the total; a
// dropped connection's read is woken at once.
func TestCrowdDropsOldest(t *testing.T) {
	c := newCrowd(2, 4)
	a1 := c.join(tcpFrom(t, "10.0.0.1"))
	a2 := c.join(tcpFrom(t, "10.0.0.1"))
	b1 := c.join(tcpFrom(t, "10.0.0.2"))
	a3 := c.join(tcpFrom(t, "10.0.0.1")) // over the per-source bound: a1 goes
	if !a1.dropped || a2.dropped || b1.dropped || a3.dropped {
		t.Fatalf("per source: dropped a1 %v a2 %v b1 %v a3 %v, want only a1", a1.dropped, a2.dropped, b1.dropped, a3.dropped)
	}
	buf := make([]byte, 1)
	start := time.Now()
	if _, err := a1.nc.Read(buf); err == nil || time.Since(start) > 30*time.Second { // generous (a busy machine): without the drop it blocks for ever
		t.Fatalf("the dropped connection's read: %v after %v, want a deadline error at once", err, time.Since(start))
	}
	if !c.leave(a1) {
		t.Fatal("leave does not report the drop")
	}

	c1 := c.join(tcpFrom(t, "10.0.0.3")) // total 4: a2, a3, b1, c1
	if c.count != 4 {
		t.Fatalf("count %d, want 4", c.count)
	}
	d1 := c.join(tcpFrom(t, "10.0.0.4")) // over the total: the largest source (10.0.0.1) loses its oldest, a2
	if !a2.dropped || a3.dropped || b1.dropped || c1.dropped || d1.dropped {
		t.Fatalf("total: dropped a2 %v a3 %v b1 %v c1 %v d1 %v, want only a2", a2.dropped, a3.dropped, b1.dropped, c1.dropped, d1.dropped)
	}
	// Sources now have one each: the oldest of them all (b1) goes next.
	e1 := c.join(tcpFrom(t, "10.0.0.5"))
	if !b1.dropped || a3.dropped || c1.dropped || d1.dropped || e1.dropped {
		t.Fatalf("tie: want b1 dropped, the oldest head")
	}
	for _, w := range []*waiter{a3, c1, d1, e1} {
		if c.leave(w) {
			t.Fatalf("%s left as dropped", w.source)
		}
	}
	if c.count != 0 || len(c.by) != 0 {
		t.Fatalf("after everyone left: count %d, %d sources", c.count, len(c.by))
	}
}

func TestSourceOf(t *testing.T) {
	cases := map[string]string{
		"127.0.0.2":            "127.0.0.2",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	}
	for ip, want := range cases {
		if got := sourceOf(&net.TCPAddr{IP: net.ParseIP(ip), Port: 1}); got != want {
			t.Errorf("%s: %q, want %q", ip, got, want)
		}
	}
}
