package peer

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// inbound is what a connection reads through. While the connection is served it
// judges the peer by bytes, not frames: each read from the socket may wait for
// silence and no longer, so a frame that arrives slowly (a large output chunk on
// a busy machine) is not silence, and time spent between frames (in a handler,
// or pushing back) is not silence either, since nothing is read then.
type inbound struct {
	nc net.Conn
	r  *wire.Reader
	// first holds what was read to choose the transport (Server.sniff), read
	// again before the socket.
	first []byte
	// silence is how long one read may wait for bytes; 0 during the handshake,
	// whose deadline its caller sets.
	silence time.Duration
	last    atomic.Int64 // unix nanos of the last bytes read
	// waitingSince is when the read now waiting for bytes began (unix nanos); 0
	// when none waits. Only the read loop writes it.
	waitingSince atomic.Int64
}

func newInbound(nc net.Conn, maxFrame int) *inbound {
	in := &inbound{nc: nc}
	in.r = wire.NewReader(in, maxFrame)
	return in
}

// judge starts judging the peer: from now on a read fails with a timeout once
// silence has passed without a byte.
func (in *inbound) judge(silence time.Duration) { in.silence = silence }

// resting notes that the read loop is not reading.
func (in *inbound) resting() { in.waitingSince.Store(0) }

// heardSince reports whether bytes came in from the peer after t, or the read
// loop was not reading at some point since (so that silence was not judged).
func (in *inbound) heardSince(t time.Time) bool {
	if in.last.Load() > t.UnixNano() {
		return true
	}
	w := in.waitingSince.Load()
	return w == 0 || w > t.UnixNano()
}

// Read reads from the socket; see inbound.
func (in *inbound) Read(p []byte) (int, error) {
	if len(in.first) > 0 {
		n := copy(p, in.first)
		in.first = in.first[n:]
		return n, nil
	}
	if in.silence == 0 {
		n, err := in.nc.Read(p)
		if n > 0 {
			in.last.Store(time.Now().UnixNano())
		}
		return n, err
	}
	now := time.Now()
	in.waitingSince.Store(now.UnixNano())
	in.nc.SetReadDeadline(now.Add(in.silence))
	n, err := in.nc.Read(p)
	if n == 0 && isTimeout(err) {
		// A deadline that passed while this goroutine was not running (a busy
		// machine) fails the read without looking at the socket, even when bytes
		// wait there: look once more, without waiting, before calling it silence.
		if tc, ok := in.nc.(*tls.Conn); ok {
			// Over TLS the bytes are a record, or the start of one, to be read
			// whole through the session: when some wait, the peer spoke, so
			// read again, giving the rest of the record time to come.
			if waiting(tc.NetConn()) {
				in.nc.SetReadDeadline(time.Now().Add(max(in.silence, time.Second)))
				n, err = in.nc.Read(p)
			}
		} else {
			n, err = lookAgain(in.nc, p, err)
		}
	}
	if n > 0 {
		in.last.Store(time.Now().UnixNano())
		if isTimeout(err) {
			err = nil // the next read waits again
		}
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
