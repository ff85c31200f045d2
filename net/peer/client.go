package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/eventide-ci/eventide/net/wire"
)

// Dial connects to addr (over TLS with opts.TLS) and says hello. On success the
// connection is ready for Serve, with the heartbeat interval the server asked for.
// A refusal is returned as a *wire.Error.
func Dial(ctx context.Context, addr string, hello *wire.Hello, opts Options) (*Conn, *wire.Welcome, error) {
	nc, err := DialTransport(ctx, addr, opts.TLS)
	if err != nil {
		return nil, nil, err
	}
	c, w, err := Handshake(ctx, nc, hello, opts)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, w, nil
}

// Handshake says hello over an established net.Conn (a TCP connection or one end of
// a net.Pipe) and waits for the welcome.
func Handshake(ctx context.Context, nc net.Conn, hello *wire.Hello, opts Options) (*Conn, *wire.Welcome, error) {
	opts = opts.withDefaults()
	if hello.ProtocolVersion == 0 {
		hello.ProtocolVersion = wire.ProtocolVersion
	}
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	// Closing the conn is the only way to interrupt a blocked read when ctx ends.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	req, err := wire.NewRequest(1, wire.MethodHello, hello)
	if err != nil {
		return nil, nil, err
	}
	b, err := wire.AppendFrame(nil, req)
	if err != nil {
		return nil, nil, err
	}
	if len(b)-1 > wire.MaxHelloSize {
		// The dispatcher would refuse it unread; fatal, as it will not shrink by
		// itself.
		return nil, nil, wire.Errorf(wire.CodeInvalidParams, "hello is %d bytes, at most %d (%d held jobs)", len(b)-1, wire.MaxHelloSize, len(hello.Jobs))
	}
	if _, err := nc.Write(b); err != nil {
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	in := newInbound(nc, opts.MaxFrame)
	f, err := in.r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("read welcome: %w", err)
	}
	if f.Kind() != wire.KindReply || f.ID != 1 {
		if f.Error != nil { // an error notification: the server could not tell the id
			return nil, nil, f.Error
		}
		return nil, nil, fmt.Errorf("%w: expected the reply to hello", ErrProtocol)
	}
	if f.Error != nil {
		return nil, nil, f.Error
	}
	var w wire.Welcome
	if err := wire.Decode("welcome", f.Result, &w); err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	opts.Heartbeat = w.Heartbeat()
	c := newConn(nc, in, opts)
	c.nextID.Store(1)
	return c, &w, nil
}

// Fatal reports whether a dial error will not go away by retrying: the dispatcher
// refused the token, the protocol version or the runner's identity (revoked, or
// its name held by another identity), or found the hello invalid; or the
// transport does not match: the dispatcher requires TLS, speaks none, or its
// certificate is not the pinned one (or not trusted by the CA).
func Fatal(err error) bool {
	if FatalTLS(err) {
		return true
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		return false
	}
	switch we.Code {
	case wire.CodeUnauthorized, wire.CodeVersionUnsupported, wire.CodeInvalidParams, wire.CodeNameTaken, wire.CodeRevoked:
		return true
	}
	return false
}

// Redialer keeps a client connected to a dispatcher, reconnecting with capped,
// jittered exponential backoff.
type Redialer struct {
	Addr    string
	Hello   func() *wire.Hello // called for every attempt, so it can list held jobs
	Options Options
	// GiveUpAfter ends Run with ErrDispatcherGone after this long with no
	// connection; 0 means never.
	GiveUpAfter time.Duration
	Logger      *slog.Logger
	MaxBackoff  time.Duration // default 2s
}

// ErrDispatcherGone is returned by Redialer.Run when the dispatcher stayed away for
// GiveUpAfter.
var ErrDispatcherGone = errors.New("no dispatcher")

// Run connects, calls connected with each established connection, and reconnects
// when connected returns, until ctx ends (it then returns nil), a fatal refusal, or
// GiveUpAfter without a connection.
func (r *Redialer) Run(ctx context.Context, connected func(context.Context, *Conn, *wire.Welcome) error) error {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	maxWait := r.MaxBackoff
	if maxWait <= 0 {
		maxWait = 2 * time.Second
	}
	quick := 0 // sessions in a row that ended soon after they began
	for {
		lostAt := time.Now()
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = 50 * time.Millisecond
		b.MaxInterval = maxWait
		var attempts int
		got, err := backoff.Retry(ctx, func() (dialed, error) {
			c, w, err := Dial(ctx, r.Addr, r.Hello(), r.Options)
			if err != nil {
				if Fatal(err) {
					return dialed{}, backoff.Permanent(err)
				}
				attempts++
				if attempts == 1 || attempts%20 == 0 {
					log.Warn("waiting for the dispatcher", "addr", r.Addr, "err", err)
				}
				if r.GiveUpAfter > 0 && time.Since(lostAt) > r.GiveUpAfter {
					return dialed{}, backoff.Permanent(fmt.Errorf("%w at %s for %v: %v", ErrDispatcherGone, r.Addr, r.GiveUpAfter, err))
				}
				return dialed{}, err
			}
			return dialed{c, w}, nil
		}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		log.Info("connected to the dispatcher", "addr", r.Addr, "session", got.w.SessionID)
		since := time.Now()
		err = connected(ctx, got.c, got.w)
		got.c.Close()
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("lost the dispatcher; reconnecting", "addr", r.Addr, "err", err)
		// A connection that ends at once (a dispatcher that admits and then drops
		// us) must not make us redial in a tight loop: back off across sessions.
		if time.Since(since) < maxWait {
			quick++
			select {
			case <-time.After(min(50*time.Millisecond<<min(quick, 6), maxWait)):
			case <-ctx.Done():
				return nil
			}
		} else {
			quick = 0
		}
	}
}

type dialed struct {
	c *Conn
	w *wire.Welcome
}
