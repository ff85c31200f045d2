package peer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// The liveness tests run in a synctest bubble over net.Pipe: time is the
// bubble's, so a busy machine cannot stretch a heartbeat interval, and each
// outcome is the same every run.
const (
	liveHB     = 100 * time.Millisecond
	liveMissed = 3
	liveQuiet  = liveHB * liveMissed // silence before a peer is lost
)

var liveOpts = peer.Options{Heartbeat: liveHB, MaxMissed: liveMissed}

// liveSession is a server session whose handler calls handle (when set) and
// records the methods it saw.
type liveSession struct {
	handle func(ctx context.Context, method string) error
	mu     sync.Mutex
	seen   []string
	closed chan error
}

func (s *liveSession) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	s.mu.Lock()
	s.seen = append(s.seen, method)
	s.mu.Unlock()
	if s.handle != nil {
		return nil, s.handle(ctx, method)
	}
	return nil, nil
}

func (s *liveSession) Closed(err error) { s.closed <- err }

func (s *liveSession) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.seen {
		if m == method {
			n++
		}
	}
	return n
}

// liveServer serves one end of a pipe with s and returns the other end.
func liveServer(t *testing.T, s *liveSession) net.Conn {
	srvEnd, cliEnd := net.Pipe()
	srv := &peer.Server{Options: liveOpts, Name: "liveness", Logger: quietLogger,
		Admit: func(*peer.Conn, *wire.Hello, *wire.Welcome) (peer.Session, error) { return s, nil }}
	go srv.ServeConn(srvEnd)
	t.Cleanup(func() { srvEnd.Close(); cliEnd.Close() })
	return cliEnd
}

// sayHello says hello on nc as name and reads the welcome, returning the reader
// of what follows.
func sayHello(t *testing.T, nc net.Conn, name string) *bufio.Reader {
	t.Helper()
	h := observerHello(name)
	h.ProtocolVersion = wire.ProtocolVersion
	req, _ := wire.NewRequest(1, wire.MethodHello, h)
	b, _ := wire.AppendFrame(nil, req)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, `"result"`) {
		t.Fatalf("welcome: %q, %v", line, err)
	}
	return br
}

// rawHello says hello on nc; the rest of what the server sends is read and
// dropped (so that its heartbeats never block) until nc closes.
func rawHello(t *testing.T, nc net.Conn) {
	t.Helper()
	go io.Copy(io.Discard, sayHello(t, nc, "raw"))
}

// A frame that arrives slowly is not silence: bytes come in every half interval,
// though the whole frame takes several times the silence allowed. Before, the
// read deadline covered a whole frame, and the peer was lost mid-frame.
func TestSlowFrameIsNotSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &liveSession{closed: make(chan error, 1)}
		nc := liveServer(t, s)
		rawHello(t, nc)
		f, _ := wire.NewNotification("slow.note", map[string]string{"pad": strings.Repeat("x", 200)})
		b, _ := wire.AppendFrame(nil, f)
		start := time.Now()
		for len(b) > 0 {
			n := min(8, len(b))
			if _, err := nc.Write(b[:n]); err != nil {
				t.Fatalf("after %v: %v", time.Since(start), err)
			}
			b = b[n:]
			time.Sleep(liveHB / 2)
		}
		if took := time.Since(start); took < 3*liveQuiet {
			t.Fatalf("the frame took %v, want it slower than %v", took, 3*liveQuiet)
		}
		synctest.Wait()
		if s.count("slow.note") != 1 {
			t.Errorf("the slow frame was not handled")
		}
		nc.Close()
		if err := <-s.closed; !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("server session ended with %v, want ErrPeerClosed (the test's close)", err)
		}
	})
}

// A server that stops reading (its handler runs long: back-pressure, as the
// dispatcher does when its deferred replies are all pending) while the client
// keeps sending loses neither side: the server does not judge the client while it
// is not reading, and the client's blocked write waits while the server's
// heartbeats show it alive. Before, the client's write deadline (3 intervals)
// ended the connection.
func TestBackPressureIsNotSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &liveSession{closed: make(chan error, 1), handle: func(ctx context.Context, method string) error {
			if method == "slow.request" {
				time.Sleep(5 * liveQuiet) // stands for a handler held up by back-pressure
			}
			return nil
		}}
		nc := liveServer(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, _, err := peer.Handshake(ctx, nc, observerHello("busy"), liveOpts)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() {
			served <- c.Serve(ctx, peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }))
		}()

		p, err := c.Start(ctx, "slow.request", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Notes sent all along the server's stall: the pipe has no buffer, so
		// the client's writes block as soon as the server stops reading.
		const notes = 40
		for range notes {
			if err := c.Notify(ctx, "slow.note", nil); err != nil {
				t.Fatalf("notify: %v", err)
			}
			time.Sleep(liveHB / 4)
		}
		if err := p.Wait(ctx, nil); err != nil {
			t.Fatalf("the slow request: %v (client connection: %v)", err, c.Err())
		}
		synctest.Wait()
		if got := s.count("slow.note"); got != notes {
			t.Errorf("server handled %d notes, want %d", got, notes)
		}
		if err := c.Err(); err != nil {
			t.Fatalf("client connection ended: %v", err)
		}
		c.Close()
		if err := <-served; !errors.Is(err, peer.ErrClosed) {
			t.Errorf("client Serve returned %v, want ErrClosed", err)
		}
		if err := <-s.closed; !errors.Is(err, peer.ErrPeerClosed) {
			t.Errorf("server session ended with %v, want ErrPeerClosed", err)
		}
	})
}

// A frozen peer (it neither sends nor reads, as under SIGSTOP) is still lost after
// MaxMissed intervals of silence, whether it froze between frames or mid-frame,
// and whether or not the server's own writes to it are blocked.
func TestFrozenPeerStillLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail string // what the peer sends before it freezes
	}{
		{"between frames", ""},
		{"mid-frame", `{"jsonrpc":"2.0","method":"slow.no`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &liveSession{closed: make(chan error, 1)}
				nc := liveServer(t, s)
				sayHello(t, nc, "frozen")
				if tc.tail != "" {
					if _, err := nc.Write([]byte(tc.tail)); err != nil {
						t.Fatal(err)
					}
				}
				frozen := time.Now()
				// From here on the peer reads nothing: the server's heartbeats
				// block on the pipe.
				err := <-s.closed
				if !errors.Is(err, peer.ErrHeartbeatTimeout) {
					t.Fatalf("session ended with %v, want ErrHeartbeatTimeout", err)
				}
				if took := time.Since(frozen); took != liveQuiet {
					t.Errorf("frozen peer lost after %v, want %v", took, liveQuiet)
				}
			})
		})
	}
}

// A peer never waits more than one interval for a sign of life: after a frame
// sent between two beats, the next heartbeat comes one interval after it. Before,
// a ticker skipped the beat that followed a recent write, leaving 1.5 intervals
// of silence, which a busy machine's stalls stretched past three.
func TestHeartbeatAfterOneIntervalOfSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cEnd, sEnd := net.Pipe()
		defer cEnd.Close()
		defer sEnd.Close()
		raw, welcomed := fakeServer(t, sEnd, liveHB.Milliseconds())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The fake server sends nothing: a long patience keeps it.
		c, _, err := peer.Handshake(ctx, cEnd, observerHello("beats"), peer.Options{MaxMissed: 100})
		if err != nil {
			t.Fatal(err)
		}
		<-welcomed
		arrivals := make(chan time.Time, 64)
		go func() {
			defer close(arrivals)
			for {
				if _, err := raw.br.ReadString('\n'); err != nil {
					return
				}
				arrivals <- time.Now()
			}
		}()
		served := make(chan error, 1)
		go func() {
			served <- c.Serve(ctx, peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }))
		}()
		time.Sleep(liveHB * 16 / 10) // between two beats
		if err := c.Notify(ctx, "odd.phase", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * liveHB)
		c.Close()
		<-served
		sEnd.Close()
		var prev time.Time
		var worst time.Duration
		n := 0
		for at := range arrivals {
			if n > 0 {
				worst = max(worst, at.Sub(prev))
			}
			prev = at
			n++
		}
		if n < 5 {
			t.Fatalf("the server read %d frames, want at least 5", n)
		}
		if worst > liveHB {
			t.Errorf("longest silence between frames %v, want at most one interval (%v)", worst, liveHB)
		}
	})
}
