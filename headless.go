package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
	"github.com/eventide-ci/eventide/services/testrun"
)

// The headless modes: one service each, logging to stderr, stopped by a signal.

// signals delivers SIGINT, SIGTERM and SIGHUP (a closed terminal, handled like
// SIGTERM, except by a dispatcher with a --token-file: it re-reads the file)
// until ctx ends.
func signals(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Stop(ch) })
	return ch
}

func runDispatcher(ctx context.Context, o *options, log *slog.Logger, stderr io.Writer) int {
	ld, err := openDispatcher(o, log)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	d, l := ld.d, ld.l
	defer ld.lock.Release() // after Shutdown
	sig := signals(ctx)
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	var serveErr error
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP && o.TokenFile != "" {
				log.Info("re-reading the token file", "signal", s.String())
				d.ReloadTokens() // logs what it did, or why not
				continue
			}
			log.Info("shutting down", "signal", s.String())
		case serveErr = <-served:
			log.Error("serving stopped", "err", serveErr)
		}
		break wait
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(shutCtx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	if serveErr != nil {
		return 1
	}
	<-served
	return 0
}

func runRunner(ctx context.Context, o *options, log *slog.Logger, stderr io.Writer) int {
	cfg := runnerConfig(o, log.With("runner", o.Name))
	lock, err := lockRunner(o, cfg.WorkDir)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	defer lock.Release()
	log = cfg.Logger
	if err := testrun.BecomeSubreaper(); err != nil {
		log.Warn("cannot become the subreaper of test processes; orphans that leave their process group may survive", "err", err)
	}
	r := runner.New(cfg)
	contained, err := r.Setup()
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sig := signals(ctx)
	go func() {
		n := 0
		for s := range sig {
			n++
			if n == 1 {
				log.Info("draining on signal; send it again to cancel the jobs in hand", "signal", s.String())
				r.Drain()
				continue
			}
			log.Warn("stopping now: cancelling the jobs in hand", "signal", s.String())
			cancel()
		}
	}()
	log.Info("runner starting", "dispatcher", o.DispatcherServer, "slots", o.Slots, "repo", o.Repo, "containment", contained)
	if o.JobUser != "" && o.tokenInArgs {
		log.Warn("--token is on the command line, where jobs running as --job-user can read it (/proc/PID/cmdline); give it as EVENTIDE_TOKEN or in the --config file instead")
	}
	if err := r.Run(ctx); err != nil {
		log.Error("runner exiting", "reason", err)
		if errors.Is(err, peer.ErrDispatcherGone) {
			return 1
		}
		return exitUsage
	}
	log.Info("runner stopped")
	return 0
}

func runObserver(ctx context.Context, o *options, log *slog.Logger, stderr io.Writer) int {
	obs, err := observer.New(ctx, observerConfig(o, log))
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", inUse(o.DataDir, err))
		return exitUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sig := signals(ctx)
	go func() {
		if s, ok := <-sig; ok {
			log.Info("stopping on signal", "signal", s.String())
			cancel()
		}
	}()
	if err := obs.Run(ctx); err != nil {
		log.Error("observer exiting", "reason", err)
		if errors.Is(err, peer.ErrDispatcherGone) {
			return 1
		}
		return exitUsage
	}
	return 0
}

// runNotify submits the named branches' tips once (see observer.Notify): exit 1
// when the dispatcher cannot take them, 2 for a repository or branch that is not
// there, or a TLS setting that does not fit the dispatcher's.
func runNotify(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	done, err := observer.Notify(ctx, observerConfig(o, nil), o.refs)
	for _, n := range done {
		state := "queued"
		if n.Duplicate {
			state = "already queued"
		}
		fmt.Fprintf(stdout, "%s %s: %s as job %s\n", n.Commit, n.Branch, state, n.JobID)
	}
	if err != nil {
		fmt.Fprintf(stderr, "eventide notify: %v\n", err)
		if _, ok := errors.AsType[*observer.RepoError](err); ok || peer.FatalTLS(err) {
			return exitUsage
		}
		return 1
	}
	return 0
}
