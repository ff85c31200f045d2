package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/charmbracelet/x/term"

	"github.com/eventide-ci/eventide/services/console"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
	"github.com/eventide-ci/eventide/tui"
)

// runConsole shows the dashboard: attached to a remote dispatcher (--connect), or
// hosting one in this process, with an observer of --repo and --runners local
// runners (or all of that on a throwaway sample repository with --demo).
func runConsole(ctx context.Context, o *options, stderr io.Writer) int {
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		fmt.Fprintln(stderr, "eventide: the console needs a terminal; without one, run the services headless: eventide --mode=dispatcher (and --mode=runner, --mode=observer; see --help)")
		return exitUsage
	}
	if o.connect != "" {
		c := console.Dial(o.connect, o.token, o.name)
		defer c.Close()
		if err := tui.New(c, tui.Options{Address: o.connect}).Run(ctx); err != nil {
			fmt.Fprintf(stderr, "eventide: console: %v\n", err)
			return 1
		}
		return 0
	}

	dataDir, resultsDir := o.dataDir, o.resultsDir
	if o.demo {
		tmp, err := os.MkdirTemp("", "eventide-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "eventide: demo: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		repo, err := makeDemoRepo(ctx, filepath.Join(tmp, "repo"))
		if err != nil {
			fmt.Fprintf(stderr, "eventide: demo: %v\n", err)
			return 1
		}
		o.repo, dataDir, resultsDir = repo, filepath.Join(tmp, "data"), filepath.Join(tmp, "test_results")
		if o.runners == 0 {
			o.runners = 2
		}
		if !o.portSet {
			o.port = 0 // a demo should not clash with a real dispatcher
		}
	}
	// The terminal belongs to the dashboard: the services log to a file.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "eventide: data directory: %v\n", err)
		return exitUsage
	}
	logPath := filepath.Join(dataDir, "console.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: log file: %v\n", err)
		return exitUsage
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))

	addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: dispatcher cannot listen on %s: %v (choose another with --port, or 0 for any)\n", addr, err)
		return exitUsage
	}
	d, err := dispatcher.New(dispatcher.Config{
		ResultsDir: resultsDir, DataDir: dataDir, LogRetention: o.logRetention, MaxLogBytes: o.maxLogBytes,
		MaxAttempts: o.maxAttempts, Heartbeat: o.heartbeat, LeaseTimeout: o.leaseTimeout,
		HandshakeTimeout: o.handshakeTimeout, Token: o.token, Logger: log.With("mode", "dispatcher"), Version: version,
	})
	if err != nil {
		l.Close()
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	listen := l.Addr().String()
	log.Info("dispatcher listening", "addr", listen, "version", version)
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	var services sync.WaitGroup // the runners, the observer and the demo's committer
	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()

	for i := range o.runners {
		name := fmt.Sprintf("local-%d", i+1)
		r := runner.New(runner.Config{
			Dispatcher: listen, Name: name, Token: o.token, Slots: 1, Repo: o.repo,
			WorkDir: filepath.Join(dataDir, "runner", name), DispatcherTimeout: o.dispatcherTimeout,
			JobTimeout: o.jobTimeout, Grace: o.grace, Logger: log.With("runner", name),
		})
		services.Go(func() { r.Run(svcCtx) })
	}
	if o.repo != "" {
		obs, err := observer.New(svcCtx, observer.Config{
			Dispatcher: listen, Token: o.token, Name: "console-observer", Repo: o.repo, Interval: o.interval,
			LatestOnly: o.latestOnly, NoWatch: o.noWatch, DataDir: filepath.Join(dataDir, "observer"),
			Logger: log.With("mode", "observer"),
		})
		if err != nil {
			d.StopAssigning()
			stopServices()
			services.Wait()
			d.Shutdown(context.Background())
			<-served
			fmt.Fprintf(stderr, "eventide: %v\n", err)
			return exitUsage
		}
		services.Go(func() { obs.Run(svcCtx) })
	}
	if o.demo {
		services.Go(func() { demoCommits(svcCtx, o.repo, log) })
	}

	c := console.InProcess(d, o.token, "console")
	m := tui.New(c, tui.Options{Address: listen, Hosted: true})
	runErr := m.Run(ctx)
	c.Close()

	// The local runners stop while the dispatcher still listens, so that it hears
	// their interrupted jobs and queues them again for the next start (it assigns
	// nothing meanwhile); then the dispatcher stops.
	d.StopAssigning()
	stopServices()
	services.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutErr := d.Shutdown(shutCtx)
	<-served
	if n := len(m.Unfinished()); n > 0 && !o.demo {
		fmt.Fprintf(stderr, "eventide: stopped with %d jobs queued or running; they go on when eventide next starts with --data-dir %s\n", n, dataDir)
	} else if n > 0 {
		fmt.Fprintf(stderr, "eventide: demo stopped with %d jobs queued or running; its repository and results are removed\n", n)
	}
	if err := errors.Join(runErr, shutErr); err != nil {
		fmt.Fprintf(stderr, "eventide: console: %v (log: %s)\n", err, logPath)
		return 1
	}
	return 0
}
