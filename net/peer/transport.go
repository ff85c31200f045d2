package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
)

// The transport is chosen by the client and checked by the server on the first
// byte it sends: a TLS client's first record is a handshake (0x16), a plaintext
// client's first frame is a JSON object ('{'). A server that wants the other
// answers in a way the client can read and closes, so that a mismatch is
// reported as one, not as a broken connection.

// recordTypeHandshake is the first byte of a TLS ClientHello.
const recordTypeHandshake = 0x16

// ErrNotTLS means a TLS client reached a dispatcher that does not speak TLS.
var ErrNotTLS = errors.New("the dispatcher does not speak TLS")

// DialTransport opens a TCP connection to addr and, with cfg, a TLS session on
// it, within ctx (and 10 s at most for the TLS handshake). When cfg verifies
// names and has no ServerName, addr's host is the name.
func DialTransport(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || cfg == nil {
		return nc, err
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, _ := net.SplitHostPort(addr)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	tc := tls.Client(&socket{Conn: nc}, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, handshakeError(addr, err)
	}
	nc.SetDeadline(time.Time{})
	return tc, nil
}

// handshakeError says what a failed TLS handshake means for the user.
func handshakeError(addr string, err error) error {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.RecordHeader[0] == '{' {
		// A line of JSON where a TLS record should be: the dispatcher's
		// refusal, or any plaintext Eventide dispatcher's answer to a
		// ClientHello it cannot parse.
		return fmt.Errorf("%w: %s answered in plaintext; drop --tls-fingerprint/--tls-ca, or start the dispatcher with --tls", ErrNotTLS, addr)
	}
	return fmt.Errorf("tls handshake with %s: %w", addr, err)
}

// FatalTLS reports whether err says the client's transport does not fit the
// dispatcher's, which retrying will not mend: its certificate is not the pinned
// one or not trusted, it speaks no TLS, or it requires TLS.
func FatalTLS(err error) bool {
	var mismatch *tlsconf.MismatchError
	var unverified *tls.CertificateVerificationError
	var we *wire.Error
	return errors.As(err, &mismatch) || errors.As(err, &unverified) || errors.Is(err, ErrNotTLS) ||
		errors.As(err, &we) && we.Code == wire.CodeTLSRequired
}

// sniff reads the first byte of a new connection, within the handshake deadline
// serveConn set, and chooses the transport: it returns the connection to read
// the hello from (a TLS session once its handshake is done) and the byte, when
// it is the hello's first; or ok false after refusing the client (and closing
// nc) because it speaks the other transport. A client that sends nothing is left
// to the hello read, which fails the same way and says why.
//
// All of it happens while nc is in the crowd: a TLS handshake costs the server
// CPU before anyone is authenticated, so it counts as a connection that has not
// said hello, bounded per source and in all, and a drop cuts it short.
func (s *Server) sniff(nc net.Conn, w *waiter) (conn net.Conn, first []byte, ok bool) {
	var b [1]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		return nc, nil, true
	}
	tlsClient := b[0] == recordTypeHandshake
	switch {
	case tlsClient && s.TLS != nil:
		// The handshake writes too: bound it by the same deadline.
		d := time.Now().Add(s.handshakeTimeout())
		nc.SetWriteDeadline(d)
		tc := tls.Server(&socket{Conn: nc, first: b[:]}, s.TLS)
		if err := tc.Handshake(); err != nil {
			we := wire.Errorf(wire.CodeHandshake, "tls handshake: %v", err)
			if s.crowd.leave(w) {
				we = errCrowded(w)
			}
			s.refusal.note(s.Logger, nc.RemoteAddr(), we)
			nc.Close() // no close_notify: the session may be half made
			return nil, nil, false
		}
		nc.SetWriteDeadline(time.Time{})
		return tc, nil, true
	case tlsClient:
		s.refuse(nc, w, wire.Errorf(wire.CodeHandshake,
			"a TLS client connected, but this dispatcher runs without TLS: start it with --tls, or drop the client's --tls-fingerprint/--tls-ca"))
		return nil, nil, false
	case s.TLS != nil:
		s.refuse(nc, w, wire.Errorf(wire.CodeTLSRequired,
			"this dispatcher requires TLS: connect with --tls-fingerprint sha256:<hex> (shown in the dispatcher's first log line) or --tls-ca FILE"))
		return nil, nil, false
	}
	return nc, b[:], true
}

// refuse tells a client of the other transport why, in one line of JSON (which
// a TLS client reports as a plaintext answer, see handshakeError), and closes.
// It reads what the client sent until it closes too, for a moment: closing with
// unread bytes would reset the connection, and a reset may reach the client
// before the line does. It stays in the crowd meanwhile, so a flood of such
// clients is bounded like any that has not said hello.
func (s *Server) refuse(nc net.Conn, w *waiter, we *wire.Error) {
	defer s.crowd.leave(w)
	s.refusal.note(s.Logger, nc.RemoteAddr(), we)
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	if b, err := wire.AppendFrame(nil, wire.NewErrorReply(0, we)); err == nil {
		nc.Write(b)
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(nc, wire.MaxHelloSize))
	}
	nc.Close()
}

func (s *Server) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout <= 0 {
		return 5 * time.Second
	}
	return s.HandshakeTimeout
}

// closeNet closes a connection without a TLS close_notify, which would be
// written under a deadline of its own (5 s) when the peer reads nothing: the
// protocol does not need it, and closing must not wait.
func closeNet(nc net.Conn) error {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return nc.Close()
}

// ConnectionState returns the TLS state of c, and false when c is not over TLS.
func ConnectionState(c *Conn) (tls.ConnectionState, bool) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}
