package peer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/auth"
	"github.com/eventide-ci/eventide/net/wire"
)

// Session is what the server's owner attaches to an admitted connection.
type Session interface {
	Handler
	// Closed is called once, after the connection has ended, with the reason.
	Closed(err error)
}

// AdmitFunc decides on a client whose hello passed validation, version and token
// checks. It may fill in welcome (for example its Cancel list). Returning an error
// refuses the client: a *wire.Error chooses the code. The connection's write loop
// starts only after the welcome is written, so the Session may enqueue requests at
// once.
type AdmitFunc func(c *Conn, hello *wire.Hello, welcome *wire.Welcome) (Session, error)

// Server accepts protocol connections, in the shape of net/http.Server.
type Server struct {
	Admit AdmitFunc
	// Keys are the tokens clients must present, each admitting some roles; nil
	// makes a keyring of Token alone.
	Keys             *auth.Keyring
	Token            string        // when set (and Keys is nil), clients must present it
	HandshakeTimeout time.Duration // default 5s
	Options          Options       // for every admitted connection
	Name             string        // server software, sent in the welcome
	Logger           *slog.Logger
	// MaxHandshakes bounds the connections that have not said hello (each may
	// buffer up to wire.MaxHelloSize for HandshakeTimeout), and
	// MaxHandshakesPerSource those of one IPv4 address or IPv6 /64. A newcomer
	// past either makes room by dropping the oldest such connection (of its own
	// source, or of the source with the most), which is told CodeCrowded.
	// Defaults 256 and 16.
	MaxHandshakes          int
	MaxHandshakesPerSource int
	// TLS, when set, is required of every client Serve accepts: one that
	// speaks plaintext gets a CodeTLSRequired error and is closed. Without it,
	// a TLS client is told in plaintext that there is no TLS here. The TLS
	// handshake happens within HandshakeTimeout, as one of the connections
	// that have not said hello (see MaxHandshakes). ServeConn serves its
	// connection as it is, without TLS: it is one inside this process.
	TLS *tls.Config

	crowd   *crowd
	refusal refusalLog

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	admitted  map[*Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	ctx       context.Context
}

func (s *Server) init() {
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[net.Conn]struct{})
		s.admitted = make(map[*Conn]struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
		total, per := s.MaxHandshakes, s.MaxHandshakesPerSource
		if total <= 0 {
			total = 256
		}
		if per <= 0 {
			per = 16
		}
		s.crowd = newCrowd(per, total)
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Keys == nil {
		s.Keys = auth.NewKeyring(s.Token)
	}
}

// Serve accepts connections on l until the server is shut down; it then returns
// ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errors.ErrUnsupported) {
				return err
			}
			// Temporary failures such as running out of file descriptors: back off
			// rather than spin, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.Logger.Warn("accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
		// track counted this goroutine in s.wg; untrack releases it.
		go func() {
			defer s.untrack(nc)
			s.serveConn(nc, true)
		}()
	}
}

// ServeConn runs one already-connected net.Conn, such as one end of a net.Pipe for an
// in-process client, and returns when it ends. It speaks plaintext, whatever TLS
// says: nothing of such a connection leaves the process.
func (s *Server) ServeConn(nc net.Conn) {
	s.mu.Lock()
	s.init()
	s.mu.Unlock()
	if !s.track(nc) {
		nc.Close()
		return
	}
	defer s.untrack(nc)
	s.serveConn(nc, false)
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1) // balanced in untrack, so Shutdown waits for ServeConn too
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Shutdown stops accepting, closes every connection and waits for their sessions to
// finish, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveConn serves nc from its first byte; with sniff, it first chooses the
// transport (see Server.sniff), else it speaks plaintext.
func (s *Server) serveConn(nc net.Conn, sniff bool) {
	timeout := s.handshakeTimeout()
	// Before joining the crowd: a drop wakes the read with a past deadline, which
	// must not be overwritten.
	nc.SetReadDeadline(time.Now().Add(timeout))
	w := s.crowd.join(nc)
	conn, first := nc, []byte(nil)
	if sniff {
		var ok bool
		if conn, first, ok = s.sniff(nc, w); !ok {
			return
		}
	}
	in := newInbound(conn, s.Options.MaxFrame)
	in.first = first
	in.r.SetLimit(wire.MaxHelloSize)
	c := newConn(conn, in, s.Options)
	hello, welcome, err := s.handshake(c, w, timeout)
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			we = wire.Errorf(wire.CodeInvalidRequest, "%v", err)
		}
		s.refusal.note(s.Logger, nc.RemoteAddr(), we)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		if b, e := wire.AppendFrame(nil, wire.NewErrorReply(hello.id, we)); e == nil {
			conn.Write(b)
		}
		closeNet(conn)
		return
	}
	sess, err := s.Admit(c, &hello.Hello, welcome)
	if err == nil && !s.admit(c) {
		// Its token was removed while Admit ran, after CloseRemoved looked.
		sess.Closed(ErrCredentialRemoved)
		err = wire.Errorf(wire.CodeUnauthorized, "missing or wrong token")
	}
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			we = wire.Errorf(wire.CodeInternal, "%v", err)
		}
		s.Logger.Info("client refused", "remote", nc.RemoteAddr(), "name", hello.Name, "err", err)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		if b, e := wire.AppendFrame(nil, wire.NewErrorReply(hello.id, we)); e == nil {
			conn.Write(b)
		}
		closeNet(conn)
		return
	}
	reply, err := wire.NewReply(hello.id, welcome)
	if err == nil {
		var b []byte
		if b, err = wire.AppendFrame(nil, reply); err == nil {
			conn.SetWriteDeadline(time.Now().Add(c.opts.silence()))
			_, err = conn.Write(b)
		}
	}
	if err != nil {
		c.closeWith(fmt.Errorf("%w: welcome: %v", ErrPeerClosed, err))
		sess.Closed(c.err)
		return
	}
	err = c.Serve(s.ctx, sess)
	s.mu.Lock()
	delete(s.admitted, c)
	s.mu.Unlock()
	sess.Closed(err)
}

// admit counts c among the admitted connections, unless its credential is no
// longer known: CloseRemoved closes those it counts.
func (s *Server) admit(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.Keys.Known(c.cred.ID) {
		return false
	}
	s.admitted[c] = struct{}{}
	return true
}

// CloseRemoved closes the admitted connections whose credential Keys no longer
// has (after Keys.LoadFile), telling each why, and returns how many.
func (s *Server) CloseRemoved() int {
	s.mu.Lock()
	s.init()
	var gone []*Conn
	for c := range s.admitted {
		if !s.Keys.Known(c.cred.ID) {
			gone = append(gone, c)
		}
	}
	s.mu.Unlock()
	for _, c := range gone {
		s.Logger.Info("closing a session: its credential was removed", "credential", c.cred.ID, "remote", c.RemoteAddr())
		c.closeFor(wire.Errorf(wire.CodeUnauthorized, "the token of this connection is no longer accepted"), ErrCredentialRemoved)
	}
	return len(gone)
}

func errCrowded(w *waiter) *wire.Error {
	return wire.Errorf(wire.CodeCrowded, "dropped before hello: too many connections from %s (or in all) were waiting to say hello; retry with backoff", w.source)
}

func errNotAllowed(role string) *wire.Error {
	return wire.Errorf(wire.CodeUnauthorized, "this token does not allow the %s role", role)
}

type helloFrame struct {
	wire.Hello
	id uint64
}

// handshake reads and checks the hello within the deadline set by serveConn.
func (s *Server) handshake(c *Conn, w *waiter, timeout time.Duration) (helloFrame, *wire.Welcome, error) {
	var h helloFrame
	f, err := c.r.Read()
	if s.crowd.leave(w) {
		// Even when the hello was read: the drop may have cut the read deadline
		// short already, which would end the session at its first read.
		return h, nil, errCrowded(w)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return h, nil, wire.Errorf(wire.CodeHandshake, "no hello within %v", timeout)
		}
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
			return h, nil, wire.ErrorFor(err).Error
		}
		return h, nil, err
	}
	c.nc.SetReadDeadline(time.Time{})
	c.r.SetLimit(0)
	if f.Kind() != wire.KindRequest || f.Method != wire.MethodHello {
		return h, nil, wire.Errorf(wire.CodeHandshake, "the first frame must be a %q request, got %q", wire.MethodHello, f.Method)
	}
	h.id = f.ID
	// Version, token and role first, so that their errors carry their own
	// codes, whatever else the hello holds.
	var probe struct {
		ProtocolVersion *int   `json:"protocol_version"`
		Token           string `json:"token"`
		Role            string `json:"role"`
	}
	if err := wire.Decode("hello", f.Params, &probe); err != nil {
		return h, nil, err
	}
	if err := checkVersion(probe.ProtocolVersion); err != nil {
		return h, nil, err
	}
	cred, ok := s.Keys.Lookup(probe.Token)
	if !ok {
		return h, nil, wire.Errorf(wire.CodeUnauthorized, "missing or wrong token")
	}
	if !cred.Roles.Admits(probe.Role) {
		return h, nil, errNotAllowed(probe.Role)
	}
	if err := wire.Decode("hello", f.Params, &h.Hello); err != nil {
		return h, nil, err
	}
	c.cred = cred
	welcome := &wire.Welcome{
		SessionID:       newSessionID(),
		ProtocolVersion: min(h.ProtocolVersion, wire.ProtocolVersion),
		HeartbeatMS:     c.opts.Heartbeat.Milliseconds(),
		Server:          s.Name,
	}
	return h, welcome, nil
}

// checkVersion refuses a version outside the range this build speaks, saying which
// side to upgrade.
func checkVersion(v *int) error {
	switch {
	case v == nil:
		return wire.Errorf(wire.CodeVersionUnsupported, "protocol_version missing: this dispatcher speaks %d-%d", wire.MinProtocolVersion, wire.ProtocolVersion)
	case *v < wire.MinProtocolVersion:
		return wire.Errorf(wire.CodeVersionUnsupported, "protocol_version %d is older than this dispatcher speaks (%d-%d): upgrade the client (runner, observer or console) to a newer Eventide",
			*v, wire.MinProtocolVersion, wire.ProtocolVersion)
	case *v > wire.ProtocolVersion:
		return wire.Errorf(wire.CodeVersionUnsupported, "protocol_version %d is newer than this dispatcher speaks (%d-%d): upgrade the dispatcher, or use a client of the same Eventide",
			*v, wire.MinProtocolVersion, wire.ProtocolVersion)
	}
	return nil
}

func newSessionID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// refusalLog logs refused handshakes, at most refusalBurst a second: a flood of
// connections that never say hello must not turn into a flood of log lines.
type refusalLog struct {
	mu         sync.Mutex
	second     time.Time
	logged     int
	suppressed int
}

const refusalBurst = 10

func (l *refusalLog) note(log *slog.Logger, remote net.Addr, we *wire.Error) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.second) >= time.Second {
		l.second, l.logged = now, 0
	}
	if l.logged >= refusalBurst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.logged++
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if suppressed > 0 {
		log.Warn("client refused", "remote", remote, "err", we, "not logged before it", suppressed)
		return
	}
	log.Info("client refused", "remote", remote, "err", we)
}
