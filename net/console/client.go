// Package console is the client side of the protocol's console role: what the
// dashboard (tui.Backend) and scripts use to follow a dispatcher, query its
// history and ask for retries, cancels and drains. The same client serves a remote
// dispatcher over TCP and one hosted in the same process over a pipe, so the
// hosted console has no code path the remote one lacks.
package console

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// Client talks to one dispatcher as a console.
type Client struct {
	name  string
	token string
	dial  func(ctx context.Context) (net.Conn, error)

	mu   sync.Mutex
	conn *peer.Conn
	wg   sync.WaitGroup
}

// Dial returns a client of the dispatcher at addr (HOST:PORT). It connects on
// Subscribe, and again on each Subscribe after a lost connection.
func Dial(addr, token, name string) *Client { return DialTLS(addr, token, name, nil) }

// DialTLS is Dial over TLS with cfg (see net/tlsconf.Client); nil is plaintext.
func DialTLS(addr, token, name string, cfg *tls.Config) *Client {
	return &Client{name: name, token: token, dial: func(ctx context.Context) (net.Conn, error) {
		return peer.DialTransport(ctx, addr, cfg)
	}}
}

// ServeConner is what a dispatcher hosted in the same process offers: it serves
// one end of a pipe as it would a TCP connection.
type ServeConner interface{ ServeConn(net.Conn) }

// InProcess returns a client of a dispatcher in this process, over net.Pipe.
func InProcess(d ServeConner, token, name string) *Client {
	return &Client{name: name, token: token, dial: func(ctx context.Context) (net.Conn, error) {
		a, b := net.Pipe()
		go d.ServeConn(b) // the dispatcher owns the served end and its goroutines
		return a, nil
	}}
}

// ErrNotConnected is returned by requests made while there is no connection.
var ErrNotConnected = errors.New("not connected to the dispatcher")

// Subscribe connects (closing any earlier connection) and returns the dispatcher's
// state; the channel then carries event batches until the connection or ctx ends.
func (c *Client) Subscribe(ctx context.Context) (*wire.Snapshot, <-chan wire.Events, error) {
	nc, err := c.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting: %w", err)
	}
	conn, _, err := peer.Handshake(ctx, nc, &wire.Hello{Role: wire.RoleConsole, Name: c.name, Token: c.token}, peer.Options{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	events := make(chan wire.Events, 64)
	// The connection lives as long as ctx (the subscription's lifetime), until
	// Close, a newer Subscribe, or the dispatcher ends it.
	serveCtx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn = conn
	c.mu.Unlock()
	c.wg.Go(func() {
		defer close(events)
		defer cancel()
		conn.Serve(serveCtx, peer.HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
			if method != wire.MethodConsoleEvents {
				return nil, wire.Errorf(wire.CodeMethodNotFound, "a console serves only %s", wire.MethodConsoleEvents)
			}
			var evs wire.Events
			if err := wire.Decode(method, params, &evs); err != nil {
				return nil, err
			}
			select {
			case events <- evs:
			case <-ctx.Done():
			case <-conn.Done():
			}
			return nil, nil
		}))
		c.mu.Lock()
		if c.conn == conn {
			c.conn = nil
		}
		c.mu.Unlock()
	})
	var snap wire.Snapshot
	if err := conn.Call(ctx, wire.MethodConsoleSubscribe, struct{}{}, &snap); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return &snap, events, nil
}

// Close ends the connection and waits for its goroutine.
func (c *Client) Close() {
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Client) call(ctx context.Context, method string, params, result any) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	return conn.Call(ctx, method, params, result)
}

// Job returns one job with its attempts.
func (c *Client) Job(ctx context.Context, id string) (wire.JobInfo, error) {
	var j wire.JobInfo
	err := c.call(ctx, wire.MethodJobGet, &wire.JobID{JobID: id}, &j)
	return j, err
}

// Jobs queries the history.
func (c *Client) Jobs(ctx context.Context, q wire.JobQuery) (wire.JobList, error) {
	var l wire.JobList
	err := c.call(ctx, wire.MethodJobsList, &q, &l)
	return l, err
}

// Log returns part of an attempt's stored output.
func (c *Client) Log(ctx context.Context, q wire.LogQuery) (wire.LogChunk, error) {
	var l wire.LogChunk
	err := c.call(ctx, wire.MethodJobLog, &q, &l)
	return l, err
}

// Retry makes a new attempt of a job.
func (c *Client) Retry(ctx context.Context, id string) (wire.JobInfo, error) {
	var j wire.JobInfo
	err := c.call(ctx, wire.MethodJobRetry, &wire.JobID{JobID: id}, &j)
	return j, err
}

// Stop cancels a job.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.call(ctx, wire.MethodJobStop, &wire.JobID{JobID: id}, nil)
}

// Drain lets a runner finish its jobs and gives it no more.
func (c *Client) Drain(ctx context.Context, runner string) error {
	return c.call(ctx, wire.MethodRunnerStop, &wire.RunnerName{Name: runner}, nil)
}

// Revoke ends a runner identity (since protocol 8): its connection closes, its
// jobs are queued again and the dispatcher refuses it from then on.
func (c *Client) Revoke(ctx context.Context, identity string) (wire.Revoked, error) {
	var r wire.Revoked
	err := c.call(ctx, wire.MethodRunnerRevoke, &wire.RevokeRunner{Identity: identity}, &r)
	return r, err
}
