package peer

import (
	"net"
	"sync"
	"time"
)

// crowd holds the connections that have not said hello yet, per source, oldest
// first. It bounds them per source (an IPv4 address, or an IPv6 /64: one host
// usually has the whole prefix) and in all; a newcomer past either bound makes room
// by dropping the oldest waiting connection, of its own source or, past the total,
// of the source with the most. Refusing the newcomer instead would let a few
// silent connections, re-opened as they drop, lock everyone else out; dropping the
// oldest leaves a client that says hello at once (as every real one does) a whole
// queue's worth of newcomers to be read in time.
type crowd struct {
	perSource, total int

	mu    sync.Mutex
	by    map[string][]*waiter
	count int
	seq   uint64 // joins so far: the order of age
}

// waiter is one connection in the crowd.
type waiter struct {
	nc      net.Conn
	source  string
	seq     uint64
	dropped bool // guarded by crowd.mu
}

func newCrowd(perSource, total int) *crowd {
	return &crowd{perSource: perSource, total: total, by: make(map[string][]*waiter)}
}

// join adds nc to the crowd, dropping another connection if it is full. The dropped
// one's read is woken by a past deadline; its own goroutine sees leave report it
// dropped, and tells the client why.
func (c *crowd) join(nc net.Conn) *waiter {
	w := &waiter{nc: nc, source: sourceOf(nc.RemoteAddr())}
	c.mu.Lock()
	var victim *waiter
	if q := c.by[w.source]; len(q) >= c.perSource {
		victim = q[0]
	} else if c.count >= c.total {
		victim = c.oldestOfLargestLocked()
	}
	if victim != nil {
		victim.dropped = true
		c.removeLocked(victim)
	}
	c.seq++
	w.seq = c.seq
	c.by[w.source] = append(c.by[w.source], w)
	c.count++
	c.mu.Unlock()
	if victim != nil {
		victim.nc.SetReadDeadline(time.Now())
	}
	return w
}

// leave takes w out of the crowd once its hello has been read (or its read
// failed), and reports whether it had been dropped to make room.
func (c *crowd) leave(w *waiter) (dropped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !w.dropped {
		c.removeLocked(w)
	}
	return w.dropped
}

func (c *crowd) removeLocked(w *waiter) {
	q := c.by[w.source]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...) // a fresh array: the old one may be long
			break
		}
	}
	if len(q) == 0 {
		delete(c.by, w.source)
	} else {
		c.by[w.source] = q
	}
	c.count--
}

// oldestOfLargestLocked picks the victim when the total is reached: the oldest
// connection of the source with the most (of those, the one waiting longest). The
// sources are at most total, so the scan is short, and it runs only when the
// server is already crowded.
func (c *crowd) oldestOfLargestLocked() *waiter {
	var best []*waiter
	for _, q := range c.by {
		if len(q) > len(best) || len(q) == len(best) && q[0].seq < best[0].seq {
			best = q
		}
	}
	return best[0]
}

// sourceOf names the source a connection's quota is counted against: its IPv4
// address, its IPv6 /64, or for other transports (a net.Pipe) the address's text.
func sourceOf(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		if a == nil {
			return ""
		}
		return a.String()
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return tcp.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
