package peer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
)

// stallSession stalls its read loop on "slow.request" (back-pressure, as the
// dispatcher's when its deferred replies are all pending) and counts the rest.
type stallSession struct {
	stall  time.Duration
	notes  atomic.Int32
	closed chan error
}

func (s *stallSession) Handle(ctx context.Context, method string, _ json.RawMessage) (any, error) {
	if method == "slow.request" {
		time.Sleep(s.stall)
	} else {
		s.notes.Add(1)
	}
	return nil, nil
}

func (s *stallSession) Closed(err error) { s.closed <- err }

// tlsPipe serves one end of a net.Pipe with a TLS server and returns the other
// end as a TLS client pinned to it, as the transport does over TCP.
func tlsPipe(t *testing.T, cert tls.Certificate, opts Options, sess Session) net.Conn {
	srv := &Server{Options: opts, TLS: tlsconf.Server(cert), Logger: slog.New(slog.DiscardHandler),
		Admit: func(*Conn, *wire.Hello, *wire.Welcome) (Session, error) { return sess, nil }}
	srv.mu.Lock()
	srv.init()
	srv.mu.Unlock()
	srvEnd, cliEnd := net.Pipe()
	go srv.serveConn(srvEnd, true)
	t.Cleanup(func() { srvEnd.Close(); cliEnd.Close() })
	pin, err := tlsconf.Client(tlsconf.CertFingerprint(cert), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tls.Client(&socket{Conn: cliEnd}, pin)
}

// Over TLS too, a server that stops reading while the client keeps sending
// loses neither side: the client's blocked write waits while the server's
// heartbeats show it alive. Were the write's deadline set on the session, its
// first timeout would break the session for good.
func TestTLSBackPressureIsNotSilence(t *testing.T) {
	cert, err := tlsconf.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Heartbeat: 100 * time.Millisecond, MaxMissed: 3}
	quiet := opts.silence()
	synctest.Test(t, func(t *testing.T) {
		s := &stallSession{stall: 5 * quiet, closed: make(chan error, 1)}
		nc := tlsPipe(t, cert, opts, s)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, _, err := Handshake(ctx, nc, &wire.Hello{Role: wire.RoleObserver, Name: "busy"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() {
			served <- c.Serve(ctx, HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }))
		}()
		p, err := c.Start(ctx, "slow.request", nil)
		if err != nil {
			t.Fatal(err)
		}
		const notes = 40
		for range notes {
			if err := c.Notify(ctx, "slow.note", nil); err != nil {
				t.Fatalf("notify: %v", err)
			}
			time.Sleep(opts.Heartbeat / 4)
		}
		if err := p.Wait(ctx, nil); err != nil {
			t.Fatalf("the slow request: %v (client connection: %v)", err, c.Err())
		}
		synctest.Wait()
		if got := s.notes.Load(); got != notes {
			t.Errorf("server handled %d notes, want %d", got, notes)
		}
		c.Close()
		if err := <-served; !errors.Is(err, ErrClosed) {
			t.Errorf("client Serve returned %v, want ErrClosed", err)
		}
		if err := <-s.closed; !errors.Is(err, ErrPeerClosed) {
			t.Errorf("server session ended with %v, want ErrPeerClosed", err)
		}
	})
}

// A frozen TLS peer (it neither sends nor reads) is still lost after MaxMissed
// intervals, though the server's heartbeats to it block.
func TestTLSFrozenPeerStillLost(t *testing.T) {
	cert, err := tlsconf.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Heartbeat: 100 * time.Millisecond, MaxMissed: 3}
	synctest.Test(t, func(t *testing.T) {
		s := &stallSession{closed: make(chan error, 1)}
		nc := tlsPipe(t, cert, opts, s)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, _, err := Handshake(ctx, nc, &wire.Hello{Role: wire.RoleObserver, Name: "frozen"}, opts); err != nil {
			t.Fatal(err)
		}
		frozen := time.Now()
		if err := <-s.closed; !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("session ended with %v, want ErrHeartbeatTimeout", err)
		}
		if took := time.Since(frozen); took != opts.silence() {
			t.Errorf("frozen peer lost after %v, want %v", took, opts.silence())
		}
	})
}
