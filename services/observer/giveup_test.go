package observer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/services/observer"
)

// runUntilGone starts an observer with cfg (DispatcherTimeout set) and returns a
// channel that gets Run's error, and when Run started.
func runUntilGone(t *testing.T, cfg observer.Config) (<-chan error, time.Time) {
	t.Helper()
	rec := &logRecorder{testkit.NewLogRecorder()}
	cfg.Logger = rec.Logger()
	ctx, cancel := context.WithCancel(context.Background())
	o, err := observer.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("observer.New: %v", err)
	}
	done, returned := make(chan error, 1), make(chan struct{})
	start := time.Now()
	go func() {
		done <- o.Run(ctx)
		close(returned)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(waitTimeout):
			t.Errorf("observer Run did not return after cancel")
		}
		if t.Failed() {
			t.Log(rec.dump())
		}
	})
	return done, start
}

// gone waits for Run to end with ErrDispatcherGone and returns when it did.
func gone(t *testing.T, done <-chan error) time.Time {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, peer.ErrDispatcherGone) {
			t.Fatalf("Run = %v, want ErrDispatcherGone", err)
		}
		return time.Now()
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not give up within %v", waitTimeout)
	}
	return time.Time{}
}

// With no dispatcher for DispatcherTimeout, Run gives up with ErrDispatcherGone,
// as a runner does.
func TestGivesUpWithoutDispatcher(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	g.commit("initial")
	cfg := observerConfig(t, g, reserveAddr(t))
	cfg.DispatcherTimeout = 300 * time.Millisecond
	done, start := runUntilGone(t, cfg)
	if took := gone(t, done).Sub(start); took < cfg.DispatcherTimeout {
		t.Errorf("gave up after %v, before the timeout of %v", took, cfg.DispatcherTimeout)
	}
}

// The timeout counts from the loss of the dispatcher, not from the start, and
// what was submitted before is saved.
func TestGivesUpAfterLosingDispatcher(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	cfg.DispatcherTimeout = 300 * time.Millisecond
	done, _ := runUntilGone(t, cfg)
	d.waitJob(t, head)
	c1 := g.commit("one")
	d.waitJob(t, c1)
	waitSaved(t, cfg.DataDir, map[string]string{"main": c1})
	// Connected for twice the timeout: no reason to give up.
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while connected", err)
	case <-time.After(2 * cfg.DispatcherTimeout):
	}
	lost := time.Now()
	d.stop()
	if took := gone(t, done).Sub(lost); took < cfg.DispatcherTimeout {
		t.Errorf("gave up %v after losing the dispatcher, before the timeout of %v", took, cfg.DispatcherTimeout)
	}
	waitSaved(t, cfg.DataDir, map[string]string{"main": c1})
}
