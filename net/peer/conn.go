// Package peer runs Eventide's protocol over a connection: the handshake,
// request/reply correlation, notifications, heartbeats, the dispatcher's accept loop
// and the clients' reconnecting dialer.
//
// Each connection has one read loop and one write loop; only the write loop writes,
// everything else enqueues, so a Conn is safe for concurrent use and works over
// net.Pipe.
package peer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide-ci/eventide/net/auth"
	"github.com/eventide-ci/eventide/net/wire"
)

// Handler answers the peer's requests and notifications. It runs on the read loop,
// one frame at a time and in order, so it must not wait on this same connection
// (for example by calling Conn.Call): start a goroutine for that. For a request,
// the returned value is the reply's result (nil means {}); a *wire.Error chooses the
// code, any other error is reported as an internal error.
//
// A handler that has done its part in order but must wait before answering (for its
// change to be durable, say) returns a [Deferred] from [Later]: the read loop goes on
// with the next frame while the wait runs, so a peer's requests are applied in the
// order they came but their waits overlap, and their replies may go out in another
// order.
type Handler interface {
	Handle(ctx context.Context, method string, params json.RawMessage) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, params json.RawMessage) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	return f(ctx, method, params)
}

// Deferred is a reply that is not ready yet; see [Later].
type Deferred struct {
	wait func(ctx context.Context) (any, error)
}

// Later makes a Deferred reply: wait runs on its own goroutine, owned by the
// connection, and what it returns is the reply, as for [Handler]. Its ctx ends when
// the connection does. At most Options.MaxDeferred waits run at once per connection;
// beyond that the read loop waits for one to end, which pushes back on the peer.
func Later(wait func(ctx context.Context) (any, error)) *Deferred {
	return &Deferred{wait: wait}
}

// Options tune a connection. Zero values take the defaults.
type Options struct {
	Heartbeat time.Duration // interval between heartbeats when idle; default 1s
	MaxMissed int           // heartbeat intervals of silence before the peer is lost; default 3
	MaxFrame  int           // frame size limit; default wire.MaxFrameSize
	QueueLen  int           // outgoing frames buffered; default 256
	// MaxDeferred bounds the deferred replies (see Later) pending at once; default 64.
	MaxDeferred int
	// TLS, when set, makes Dial (and so a Redialer) speak TLS with it; see
	// net/tlsconf.Client. A Server's own is Server.TLS.
	TLS *tls.Config
}

// silence is how long a peer may stay silent before it is lost.
func (o Options) silence() time.Duration { return o.Heartbeat * time.Duration(o.MaxMissed) }

func (o Options) withDefaults() Options {
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.MaxMissed <= 0 {
		o.MaxMissed = 3
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.MaxFrameSize
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 256
	}
	if o.MaxDeferred <= 0 {
		o.MaxDeferred = 64
	}
	return o
}

// Conn is an established (post-handshake) protocol connection.
type Conn struct {
	nc   net.Conn
	in   *inbound
	r    *wire.Reader // in.r
	opts Options

	out     chan outgoing
	done    chan struct{}
	once    sync.Once
	err     error // set before done is closed
	nextID  atomic.Uint64
	wrote   atomic.Int64 // unix nanos of the last frame written
	heard   atomic.Int64 // unix nanos of the last frame read
	mu      sync.Mutex
	pending map[uint64]chan *wire.Frame

	cred auth.Credential // what the hello's token admits; set before Serve

	deferred chan struct{}  // a token per deferred reply in progress
	waits    sync.WaitGroup // the deferred replies' goroutines
}

func newConn(nc net.Conn, in *inbound, opts Options) *Conn {
	opts = opts.withDefaults()
	if tc, ok := nc.(*tls.Conn); ok {
		if s, ok := tc.NetConn().(*socket); ok {
			s.judge(in, opts.silence())
		}
	}
	return &Conn{
		nc:       nc,
		in:       in,
		r:        in.r,
		opts:     opts,
		out:      make(chan outgoing, opts.QueueLen),
		done:     make(chan struct{}),
		pending:  make(map[uint64]chan *wire.Frame),
		deferred: make(chan struct{}, opts.MaxDeferred),
	}
}

// LastHeard is when the last frame (a heartbeat included) arrived from the peer, or
// the zero time before any did.
func (c *Conn) LastHeard() time.Time {
	if n := c.heard.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended; nil while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection with ErrClosed. It is safe to call more than once.
func (c *Conn) Close() { c.closeWith(ErrClosed) }

// Credential is what the client's token admitted: its id and roles (on the
// server side; a client's own connection has none).
func (c *Conn) Credential() auth.Credential { return c.cred }

// closeFor tells the peer why in an error notification, then closes with reason.
func (c *Conn) closeFor(we *wire.Error, reason error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c.sendThenClose(ctx, wire.NewErrorReply(0, we), reason) != nil {
		c.closeWith(reason)
	}
}

func (c *Conn) closeWith(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
		closeNet(c.nc)
		c.mu.Lock()
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.mu.Unlock()
	})
}

// Call sends a request and waits for its reply, decoding the result into result
// (which may be nil). A reply with an error returns it as a *wire.Error.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	p, err := c.Start(ctx, method, params)
	if err != nil {
		return err
	}
	return p.Wait(ctx, result)
}

// Pending is a request sent by [Conn.Start] whose reply has not been read yet.
type Pending struct {
	c      *Conn
	id     uint64
	method string
	ch     chan *wire.Frame
}

// Start sends a request without waiting for its reply, so that several can be on
// their way at once; requests started one after the other from one goroutine reach
// the peer in that order. Every Pending must be waited for or abandoned.
func (c *Conn) Start(ctx context.Context, method string, params any) (*Pending, error) {
	id := c.nextID.Add(1)
	f, err := wire.NewRequest(id, method, params)
	if err != nil {
		return nil, err
	}
	p := &Pending{c: c, id: id, method: method, ch: make(chan *wire.Frame, 1)}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, c.err)
	default:
	}
	c.pending[id] = p.ch
	c.mu.Unlock()
	if err := c.send(ctx, f); err != nil {
		p.Abandon()
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return p, nil
}

// Abandon forgets the request: a reply that comes later is dropped.
func (p *Pending) Abandon() {
	p.c.mu.Lock()
	delete(p.c.pending, p.id)
	p.c.mu.Unlock()
}

// Wait waits for the reply and decodes its result into result (which may be nil). A
// reply with an error returns it as a *wire.Error.
func (p *Pending) Wait(ctx context.Context, result any) error {
	defer p.Abandon()
	select {
	case reply, ok := <-p.ch:
		if !ok {
			return fmt.Errorf("%s: %w", p.method, p.c.err)
		}
		if reply.Error != nil {
			return reply.Error
		}
		if result == nil {
			return nil
		}
		return wire.Decode(p.method+" reply", reply.Result, result)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", p.method, context.Cause(ctx))
	}
}

// Notify sends a notification.
func (c *Conn) Notify(ctx context.Context, method string, params any) error {
	f, err := wire.NewNotification(method, params)
	if err != nil {
		return err
	}
	return c.send(ctx, f)
}

// outgoing is a frame queued for the write loop; closeAfter ends the connection
// once it is written (the answer to a protocol violation).
type outgoing struct {
	b          []byte
	closeAfter error
}

func (c *Conn) send(ctx context.Context, f *wire.Frame) error {
	return c.sendThenClose(ctx, f, nil)
}

func (c *Conn) sendThenClose(ctx context.Context, f *wire.Frame, closeAfter error) error {
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		return err
	}
	if len(b) > c.opts.MaxFrame+1 {
		return fmt.Errorf("frame of %d bytes is over the %d-byte limit", len(b), c.opts.MaxFrame)
	}
	// Checked first: select picks at random among ready cases, and a frame queued on
	// a dead connection would be lost without an error.
	select {
	case <-c.done:
		return c.err
	default:
	}
	select {
	case c.out <- outgoing{b, closeAfter}:
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Serve runs the connection until it ends or ctx is cancelled, and returns why it
// ended. It dispatches incoming requests and notifications to h and sends heartbeats.
func (c *Conn) Serve(ctx context.Context, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx) })
	// Not a goroutine: a dispatcher holds thousands of connections.
	stop := context.AfterFunc(ctx, func() { c.closeWith(ErrClosed) })
	c.readLoop(ctx, h)
	cancel()
	stop()
	c.closeWith(ErrClosed) // unless already closed: ends the write loop
	wg.Wait()
	c.waits.Wait()
	return c.err
}

func (c *Conn) readLoop(ctx context.Context, h Handler) {
	c.in.judge(c.opts.silence())
	for {
		f, err := c.r.Read()
		// Between frames the peer is not judged: a handler may run long, or wait
		// for a deferred slot (back-pressure), and the peer's bytes wait meanwhile.
		c.in.resting()
		if err != nil {
			if ctx.Err() != nil {
				c.closeWith(ErrClosed) // we are shutting down; the read failed because of it
				return
			}
			c.readFailed(err)
			return
		}
		c.heard.Store(time.Now().UnixNano())
		switch f.Kind() {
		case wire.KindReply:
			if f.ID == 0 {
				c.closeWith(fmt.Errorf("%w: the peer reported: %w", ErrProtocol, f.Error))
				return
			}
			c.mu.Lock()
			ch, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ok {
				ch <- f
			}
		case wire.KindNotification:
			if f.Method == wire.MethodHeartbeat {
				continue
			}
			if _, err := h.Handle(ctx, f.Method, f.Params); err != nil {
				if we := violation(err); we != nil {
					c.sendThenClose(ctx, wire.NewErrorReply(0, we), fmt.Errorf("%w: %v", ErrProtocol, we))
				}
			}
		case wire.KindRequest:
			c.answer(ctx, f, h)
		}
	}
}

// violation returns err as a *wire.Error if it reports a broken protocol (a bad
// frame, an unknown method, invalid params): the connection is closed after such a
// reply, since a peer that sends one cannot be trusted to be in step.
func violation(err error) *wire.Error {
	var we *wire.Error
	if !errors.As(err, &we) {
		return nil
	}
	switch we.Code {
	case wire.CodeParseError, wire.CodeInvalidRequest, wire.CodeMethodNotFound, wire.CodeInvalidParams, wire.CodeHandshake:
		return we
	}
	return nil
}

func (c *Conn) answer(ctx context.Context, f *wire.Frame, h Handler) {
	if f.Method == wire.MethodHello {
		c.reply(ctx, f, nil, wire.Errorf(wire.CodeHandshake, "hello: already said"))
		return
	}
	res, err := h.Handle(ctx, f.Method, f.Params)
	d, ok := res.(*Deferred)
	if !ok || err != nil {
		c.reply(ctx, f, res, err)
		return
	}
	select {
	case c.deferred <- struct{}{}:
	case <-c.done:
		return
	}
	c.waits.Go(func() {
		defer func() { <-c.deferred }()
		res, err := d.wait(ctx)
		c.reply(ctx, f, res, err)
	})
}

// reply answers request f with res or err.
func (c *Conn) reply(ctx context.Context, f *wire.Frame, res any, err error) {
	var reply *wire.Frame
	var closeAfter error
	if err == nil {
		reply, err = wire.NewReply(f.ID, res)
	}
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			we = wire.Errorf(wire.CodeInternal, "%s: %v", f.Method, err)
		}
		reply = wire.NewErrorReply(f.ID, we)
	}
	if reply.Error != nil && violation(reply.Error) != nil {
		closeAfter = fmt.Errorf("%w: %v", ErrProtocol, reply.Error)
	}
	if err := c.sendThenClose(ctx, reply, closeAfter); err != nil && ctx.Err() == nil && c.Err() == nil {
		// The reply itself could not be sent (over the size limit): every request
		// still gets exactly one reply.
		c.send(ctx, wire.NewErrorReply(f.ID, wire.Errorf(wire.CodeInternal, "%s: reply not sent: %v", f.Method, err)))
	}
}

// readFailed reports a broken frame to the peer, best effort, and closes.
func (c *Conn) readFailed(err error) {
	switch {
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrFrameTooLarge):
		if b, e := wire.AppendFrame(nil, wire.ErrorFor(err)); e == nil {
			// Written directly: the connection is about to close, so ordering with
			// the write loop no longer matters, but a short deadline does.
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.nc.Write(b)
		}
		c.closeWith(fmt.Errorf("%w: %v", ErrProtocol, err))
	case isTimeout(err):
		c.closeWith(ErrHeartbeatTimeout)
	case errors.Is(err, io.EOF):
		c.closeWith(ErrPeerClosed)
	default:
		select {
		case <-c.done: // we closed it ourselves
		default:
			c.closeWith(fmt.Errorf("%w: %v", ErrPeerClosed, err))
		}
	}
}

func (c *Conn) writeLoop(ctx context.Context) {
	hb, _ := wire.AppendFrame(nil, &wire.Frame{JSONRPC: wire.Version, Method: wire.MethodHeartbeat})
	// A heartbeat goes out once nothing has for a whole interval, so that the
	// peer never waits more than one interval for a sign of life (a ticker that
	// skips a beat after a recent write leaves up to 1.5): what is left of the
	// silence the peer allows absorbs this process's stalls on a busy machine (a
	// garbage collection's stop-the-world waiting for descheduled threads).
	t := time.NewTimer(c.opts.Heartbeat)
	defer t.Stop()
	var buf []byte
	for {
		var o outgoing
		select {
		case o = <-c.out:
		case <-t.C:
			// A wall clock set back makes since negative: beat then.
			if since := time.Since(time.Unix(0, c.wrote.Load())); since >= 0 && since < c.opts.Heartbeat {
				t.Reset(c.opts.Heartbeat - since)
				continue
			}
			t.Reset(c.opts.Heartbeat)
			o.b = hb
		case <-c.done:
			return
		}
		// Frames queued meanwhile go out in the same write: under load that is one
		// system call for many replies instead of one each.
		buf = append(buf[:0], o.b...)
		for o.closeAfter == nil && len(buf) < writeBatch {
			select {
			case next := <-c.out:
				buf = append(buf, next.b...)
				o.closeAfter = next.closeAfter
				continue
			default:
			}
			break
		}
		if err := c.write(buf); err != nil {
			c.closeWith(fmt.Errorf("%w: write: %v", ErrPeerClosed, err))
			return
		}
		c.wrote.Store(time.Now().UnixNano())
		if o.closeAfter != nil {
			c.closeWith(o.closeAfter)
			return
		}
		if cap(buf) > 4*writeBatch {
			buf = nil // one huge frame: do not keep its buffer for ever
		}
	}
}

// writeBatch is the size past which the write loop stops adding queued frames to a
// write.
const writeBatch = 64 << 10

// write writes b whole. A write that waits is judged by progress, not by a fixed
// deadline: it fails once, for a whole silence, none of it went out and nothing
// came in from the peer. A peer that sends is alive, only not reading yet (a
// dispatcher pushing back while its deferred replies are full, say); a frozen or
// vanished peer neither reads nor sends.
//
// Over TLS the socket under the session judges (see socket): a session whose
// write timed out is broken for good, so none may time out above it.
func (c *Conn) write(b []byte) error {
	if _, ok := c.nc.(*tls.Conn); ok {
		c.nc.SetWriteDeadline(time.Time{})
		_, err := c.nc.Write(b)
		return err
	}
	_, err := writeJudged(c.nc, b, c.opts.silence(), c.in)
	return err
}

// writeJudged is write's judgement on nc, a socket: it writes b whole, or fails
// once none of it went out for silence while nothing came in through in.
func writeJudged(nc net.Conn, b []byte, silence time.Duration, in *inbound) (int, error) {
	written := 0
	for {
		start := time.Now()
		nc.SetWriteDeadline(start.Add(silence))
		n, err := nc.Write(b)
		b, written = b[n:], written+n
		if err == nil || !isTimeout(err) {
			return written, err
		}
		if n == 0 && !in.heardSince(start) {
			return written, fmt.Errorf("nothing written and nothing heard for %v: %w", silence, err)
		}
	}
}
