package peer_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
)

// testCert is a generated certificate, as a dispatcher with --tls makes one.
func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	cert, err := tlsconf.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// newTLSServer is newServer requiring TLS with cert.
func newTLSServer(t testing.TB, cert tls.Certificate, configure func(*testServer)) *testServer {
	return newServer(t, func(ts *testServer) {
		ts.srv.TLS = tlsconf.Server(cert)
		if configure != nil {
			configure(ts)
		}
	})
}

// pinned is fastOpts speaking TLS to the certificate whose fingerprint is fp.
func pinned(t testing.TB, fp string) peer.Options {
	t.Helper()
	cfg, err := tlsconf.Client(fp, "", "")
	if err != nil {
		t.Fatal(err)
	}
	opts := fastOpts
	opts.TLS = cfg
	return opts
}

// A client that pins the server's certificate is admitted over TLS, and the
// session works both ways; the session is TLS 1.3 on the server's side too.
func TestTLSSession(t *testing.T) {
	cert := testCert(t)
	var state tls.ConnectionState
	ts := newTLSServer(t, cert, nil)
	c, w, err := peer.Dial(testCtx(t), ts.addr, runnerHello("tls-1"), pinned(t, tlsconf.CertFingerprint(cert)))
	if err != nil {
		t.Fatalf("Dial over TLS: %v", err)
	}
	cl := serve(t, "client", c, w)
	s := ts.nextSession(t)
	if err := cl.conn.Call(testCtx(t), "echo", map[string]string{"x": "y"}, nil); err != nil {
		t.Fatalf("client → server over TLS: %v", err)
	}
	if err := s.conn.Call(testCtx(t), "echo", nil, nil); err != nil {
		t.Fatalf("server → client over TLS: %v", err)
	}
	if cs, ok := peer.ConnectionState(s.conn); !ok {
		t.Fatal("the server's session is not over TLS")
	} else {
		state = cs
	}
	if state.Version != tls.VersionTLS13 {
		t.Fatalf("TLS version %x, want 1.3", state.Version)
	}
	// In-process connections stay plaintext: nothing of them leaves the process.
	a, b := pipe(t)
	go ts.srv.ServeConn(b)
	if _, _, err := peer.Handshake(testCtx(t), a, observerHello("in-process"), fastOpts); err != nil {
		t.Fatalf("ServeConn of a TLS server: %v", err)
	}
	ts.nextSession(t)
}

// A plaintext client of a TLS server reads one line of JSON saying TLS is
// required and how to connect, and no retry will help.
func TestTLSRequired(t *testing.T) {
	ts := newTLSServer(t, testCert(t), nil)
	err := dialErr(t, ts.addr, runnerHello("plain"))
	if wireCode(err) != wire.CodeTLSRequired || !peer.Fatal(err) {
		t.Fatalf("plaintext client of a TLS server: %v (code %d, fatal %v), want CodeTLSRequired, fatal", err, wireCode(err), peer.Fatal(err))
	}
	for _, want := range []string{"requires TLS", "--tls-fingerprint sha256:", "--tls-ca FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// On the wire: one line, then the end.
	r := rawDial(t, ts.addr)
	r.writeLine(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{}}`)
	if f := r.readFrame(); f.Error == nil || f.Error.Code != wire.CodeTLSRequired {
		t.Fatalf("raw plaintext hello: %+v, want a CodeTLSRequired error", f)
	}
	r.expectEOF()
	ts.noSession(t)
}

// A TLS client of a plaintext server is told the server speaks no TLS, and which
// flags to change; retrying will not help.
func TestTLSClientOfPlaintextServer(t *testing.T) {
	cert := testCert(t)
	ts := newServer(t, nil)
	_, _, err := peer.Dial(testCtx(t), ts.addr, runnerHello("tls"), pinned(t, tlsconf.CertFingerprint(cert)))
	if !errors.Is(err, peer.ErrNotTLS) || !peer.Fatal(err) {
		t.Fatalf("TLS client of a plaintext server: %v (fatal %v), want ErrNotTLS, fatal", err, peer.Fatal(err))
	}
	for _, want := range []string{ts.addr, "--tls-fingerprint", "--tls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	ts.noSession(t)
}

// A pinned fingerprint that is not the server's fails the handshake with both
// fingerprints named, as a fatal error: a Redialer gives up at once.
func TestFingerprintMismatch(t *testing.T) {
	cert, other := testCert(t), testCert(t)
	ts := newTLSServer(t, cert, nil)
	rd := &peer.Redialer{Addr: ts.addr, Hello: func() *wire.Hello { return runnerHello("pinned-wrong") },
		Options: pinned(t, tlsconf.CertFingerprint(other)), Logger: quietLogger}
	err := rd.Run(testCtx(t), func(context.Context, *peer.Conn, *wire.Welcome) error {
		t.Error("connected with the wrong fingerprint")
		return nil
	})
	var me *tlsconf.MismatchError
	if !errors.As(err, &me) || !peer.Fatal(err) {
		t.Fatalf("Redialer with a wrong pin: %v, want a fatal MismatchError", err)
	}
	if me.Expected != tlsconf.CertFingerprint(other) || me.Presented != tlsconf.CertFingerprint(cert) {
		t.Fatalf("expected %s presented %s; want %s and %s", me.Expected, me.Presented, tlsconf.CertFingerprint(other), tlsconf.CertFingerprint(cert))
	}
	ts.noSession(t)
}

// A TLS handshake is a connection that has not said hello: connections stuck
// in one are bounded per source like silent plaintext ones, the oldest dropped,
// and a real client still gets in meanwhile (the handshakes block no accept).
func TestTLSHandshakesInCrowd(t *testing.T) {
	cert := testCert(t)
	ts := newTLSServer(t, cert, func(ts *testServer) {
		ts.srv.MaxHandshakes, ts.srv.MaxHandshakesPerSource = 8, 2
		ts.srv.HandshakeTimeout = time.Minute
	})
	const stuck = 10
	closed := make(chan error, stuck)
	for range stuck {
		nc := dialFrom(t, "127.0.0.2", ts.addr)
		// The start of a TLS record and no more: the server waits in its
		// handshake for the rest.
		if _, err := nc.Write([]byte{0x16, 0x03, 0x01}); err != nil {
			t.Fatal(err)
		}
		go func() {
			nc.SetReadDeadline(time.Now().Add(waitLong))
			_, err := io.ReadAll(nc)
			closed <- err
		}()
	}
	for i := range stuck - 2 {
		if err := recv(t, closed, "a dropped handshake"); isTimeout(err) {
			t.Fatalf("handshake %d: %v, want closed by the server", i, err)
		}
	}
	c, w, err := peer.Dial(testCtx(t), ts.addr, observerHello("real"), pinned(t, tlsconf.CertFingerprint(cert)))
	if err != nil {
		t.Fatalf("a real client beside stuck handshakes: %v", err)
	}
	serve(t, "client", c, w)
	ts.nextSession(t)
	select {
	case err := <-closed:
		t.Fatalf("a third stuck handshake of the source was dropped (%v); want 2 kept", err)
	default:
	}
}

// A handshake that does not finish within HandshakeTimeout is dropped.
func TestTLSHandshakeTimeout(t *testing.T) {
	ts := newTLSServer(t, testCert(t), func(ts *testServer) { ts.srv.HandshakeTimeout = 100 * time.Millisecond })
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{0x16})
	nc.SetReadDeadline(time.Now().Add(waitLong))
	start := time.Now()
	if _, err := io.ReadAll(nc); isTimeout(err) {
		t.Fatalf("a stalled handshake: %v after %v, want closed", err, time.Since(start))
	}
}

// isTimeout tells a read that waited in vain from one the peer's close ended
// (with EOF, or a reset when it closed with bytes unread).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
