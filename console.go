package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/charmbracelet/x/term"

	"github.com/eventide-ci/eventide/net/console"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/tui"
)

// checkTransport stops a console whose TLS settings do not fit the dispatcher's
// before the dashboard starts, as a runner stops: the dashboard would retry for
// ever. Any other failure (the dispatcher is not up yet) is the dashboard's to
// show and retry.
func checkTransport(ctx context.Context, addr string, cfg *tls.Config) error {
	if cfg == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := peer.DialTransport(ctx, addr, cfg)
	if err != nil {
		if peer.FatalTLS(err) {
			return err
		}
		return nil
	}
	nc.Close()
	return nil
}

// runConsole shows the dashboard: attached to a remote dispatcher (--connect), or
// hosting one in this process, with an observer of --repo and --runners local
// runners (or all of that on a throwaway sample repository with --demo).
func runConsole(ctx context.Context, o *options, stderr io.Writer) int {
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		fmt.Fprintln(stderr, "eventide: the console needs a terminal; without one, run the services headless: eventide --mode=dispatcher (and --mode=runner, --mode=observer; see --help)")
		return exitUsage
	}
	if o.Connect != "" {
		if err := checkTransport(ctx, o.Connect, o.trust); err != nil {
			fmt.Fprintf(stderr, "eventide: %v\n", err)
			return exitUsage
		}
		c := console.DialTLS(o.Connect, o.Token, o.Name, o.trust)
		defer c.Close()
		if err := tui.New(c, tui.Options{Address: o.Connect, TLS: o.trustFlags.describe()}).Run(ctx); err != nil {
			fmt.Fprintf(stderr, "eventide: console: %v\n", err)
			return 1
		}
		return 0
	}
	if o.Demo {
		cleanup, err := prepareDemo(ctx, o)
		if err != nil {
			fmt.Fprintf(stderr, "eventide: demo: %v\n", err)
			return 1
		}
		defer cleanup()
	}

	// The terminal belongs to the dashboard: the services log to a file.
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "eventide: data directory: %v\n", err)
		return exitUsage
	}
	logPath := filepath.Join(o.DataDir, "console.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: log file: %v\n", err)
		return exitUsage
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))

	h, err := startHosted(ctx, o, log)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	if o.Demo {
		h.Go(func(ctx context.Context) { demoCommits(ctx, o.Repo, log) })
	}
	c := console.InProcess(h.d, o.Token, "console")
	m := tui.New(c, tui.Options{Address: h.addr, Hosted: true, TLS: h.fingerprint})
	runErr := m.Run(ctx)
	c.Close()
	shutErr := h.stop()
	if n := len(m.Unfinished()); n > 0 && !o.Demo {
		fmt.Fprintf(stderr, "eventide: stopped with %d jobs queued or running; they go on when eventide next starts with --data-dir %s\n", n, o.DataDir)
	} else if n > 0 {
		fmt.Fprintf(stderr, "eventide: demo stopped with %d jobs queued or running; its repository and results are removed\n", n)
	}
	if err := errors.Join(runErr, shutErr); err != nil {
		fmt.Fprintf(stderr, "eventide: console: %v (log: %s)\n", err, logPath)
		return 1
	}
	return 0
}
