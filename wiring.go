package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
)

// Each service's configuration is built here, once, from the options: the
// headless modes use it as it is, the console adjusts what differs for the
// services it hosts (their address and names).

func dispatcherConfig(o *options, log *slog.Logger) dispatcher.Config {
	return dispatcher.Config{
		ResultsDir: o.ResultsDir, NoResultFiles: o.NoResultFiles, DataDir: o.DataDir,
		LogRetention: o.LogRetention, MaxLogBytes: o.MaxLogBytes, MaxAttempts: o.MaxAttempts,
		Heartbeat: o.Heartbeat, LeaseTimeout: o.LeaseTimeout, HandshakeTimeout: o.HandshakeTimeout,
		MaxHandshakes: o.MaxHandshakes, MaxHandshakesPerSource: o.MaxHandshakesPerSource,
		Token: o.Token, Logger: log, Version: version,
	}
}

// openDispatcher listens on --host and --port, locks the database in --data-dir
// and opens the dispatcher's store; it then says so, so that its log line means
// ready to serve. The lock is the caller's to release after Shutdown. (Listening
// first leaves no data dir behind when the port is taken; nothing is served
// before the lock is held.)
func openDispatcher(o *options, log *slog.Logger) (*dispatcher.Dispatcher, net.Listener, *dirlock.Lock, error) {
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dispatcher cannot listen on %s: %v (choose another with --port, or 0 for any)", addr, err)
	}
	lock, err := lockDispatcher(o)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	d, err := dispatcher.New(dispatcherConfig(o, log))
	if err != nil {
		l.Close()
		lock.Release()
		return nil, nil, nil, err
	}
	log.Info("dispatcher listening", "addr", l.Addr().String(), "version", version)
	return d, l, lock, nil
}

func runnerConfig(o *options, log *slog.Logger) runner.Config {
	var labels []string
	if o.Labels != "" {
		labels = strings.Split(o.Labels, ",")
	}
	return runner.Config{
		Dispatcher: o.DispatcherServer, Name: o.Name, Token: o.Token, Slots: o.Slots, Labels: labels,
		Repo: o.Repo, WorkDir: filepath.Join(o.DataDir, "runner"), DispatcherTimeout: o.DispatcherTimeout,
		JobTimeout: o.JobTimeout, Grace: o.Grace, Containment: o.Containment, Logger: log,
		HideEnv: o.settingVars, JobUser: o.JobUser,
	}
}

// localRunner is the console's runner number i (from 1), of the dispatcher at addr.
func localRunner(o *options, addr string, i int, log *slog.Logger) runner.Config {
	name := fmt.Sprintf("local-%d", i)
	cfg := runnerConfig(o, log.With("runner", name))
	cfg.Dispatcher, cfg.Name, cfg.Slots, cfg.Labels = addr, name, 1, nil
	cfg.WorkDir = filepath.Join(cfg.WorkDir, name)
	return cfg
}

func observerConfig(o *options, log *slog.Logger) observer.Config {
	return observer.Config{
		Dispatcher: o.DispatcherServer, Token: o.Token, Name: o.Name, Repo: o.Repo,
		Interval: o.Interval, LatestOnly: o.LatestOnly, NoWatch: o.NoWatch, DispatcherTimeout: o.DispatcherTimeout,
		DataDir: filepath.Join(o.DataDir, "observer"), Logger: log,
	}
}
