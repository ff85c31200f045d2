package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
)

// hosted is a dispatcher with --runners local runners and an observer of --repo,
// all in this process: what the console (and its demo) runs.
type hosted struct {
	d           *dispatcher.Dispatcher
	addr        string // where the dispatcher listens
	fingerprint string // of its TLS certificate; "" in plaintext
	served      chan error

	ctx      context.Context // the runners', the observer's and whatever Go starts
	stopSvcs context.CancelFunc
	services sync.WaitGroup

	locks []*dirlock.Lock // the dispatcher's and each local runner's, released last
}

// startHosted starts everything; on an error nothing is left running.
func startHosted(ctx context.Context, o *options, log *slog.Logger) (*hosted, error) {
	if o.TokenFile != "" && o.Token == "" {
		// The console's own clients (itself, its runners and observer) need a
		// token that admits them, and nobody else needs to know it.
		o.Token = rand.Text()
	}
	ld, err := openDispatcher(o, log.With("mode", "dispatcher"))
	if err != nil {
		return nil, err
	}
	h := &hosted{d: ld.d, addr: ld.l.Addr().String(), fingerprint: ld.fingerprint, served: make(chan error, 1), locks: []*dirlock.Lock{ld.lock}}
	h.ctx, h.stopSvcs = context.WithCancel(ctx)
	go func() { h.served <- ld.d.Serve(ld.l) }()
	// Its own clients pin its certificate: they need no flag, and trust no other.
	for i := range o.Runners {
		cfg := localRunner(o, h.addr, h.fingerprint, i+1, log)
		lock, err := lockRunner(o, cfg.WorkDir)
		if err != nil {
			h.stop()
			return nil, err
		}
		h.locks = append(h.locks, lock)
		r := runner.New(cfg)
		h.Go(func(ctx context.Context) { r.Run(ctx) })
	}
	if o.Repo != "" {
		cfg := observerConfig(o, log.With("mode", "observer"))
		cfg.Dispatcher, cfg.TLS, cfg.Name = h.addr, pinned(h.fingerprint), "console-observer"
		cfg.DispatcherTimeout = 0 // its dispatcher is this process: it goes only when the observer does
		obs, err := observer.New(h.ctx, cfg)
		if err != nil {
			h.stop()
			return nil, inUse(o.DataDir, err)
		}
		h.Go(func(ctx context.Context) { obs.Run(ctx) })
	}
	return h, nil
}

// Go runs f beside the hosted services until stop.
func (h *hosted) Go(f func(ctx context.Context)) {
	h.services.Go(func() { f(h.ctx) })
}

// stop stops the local services while the dispatcher still listens, so that it
// hears of their interrupted jobs and queues them again for the next start (it
// assigns nothing meanwhile); then the dispatcher.
func (h *hosted) stop() error {
	h.d.StopAssigning()
	h.stopSvcs()
	h.services.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.d.Shutdown(ctx)
	<-h.served
	for _, l := range h.locks {
		l.Release()
	}
	return err
}
