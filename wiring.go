package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
)

// Each service's configuration is built here, once, from the options: the
// headless modes use it as it is, the console adjusts what differs for the
// services it hosts (their address and names).

// listening is a dispatcher ready to serve: its listener, the lock on its
// database (the caller's to release after Shutdown) and, over TLS, its
// certificate's fingerprint.
type listening struct {
	d           *dispatcher.Dispatcher
	l           net.Listener
	lock        *dirlock.Lock
	fingerprint string // "" in plaintext
}

func dispatcherConfig(o *options, log *slog.Logger) dispatcher.Config {
	return dispatcher.Config{
		ResultsDir: o.ResultsDir, NoResultFiles: o.NoResultFiles, DataDir: o.DataDir,
		LogRetention: o.LogRetention, MaxLogBytes: o.MaxLogBytes, MaxAttempts: o.MaxAttempts,
		Heartbeat: o.Heartbeat, LeaseTimeout: o.LeaseTimeout, HandshakeTimeout: o.HandshakeTimeout,
		MaxHandshakes: o.MaxHandshakes, MaxHandshakesPerSource: o.MaxHandshakesPerSource,
		Token: o.Token, TokenFile: o.TokenFile, AllowRepos: o.allowRepos, MaxQueuedPerClient: o.MaxQueuedPerClient,
		Logger: log, Version: version,
	}
}

// openDispatcher listens on --host and --port, locks the database in --data-dir,
// loads (or makes) its TLS certificate and opens the dispatcher's store; it then
// says so, so that its log line means ready to serve. (Listening first leaves no
// data dir behind when the port is taken; nothing is served before the lock is
// held.) Over TLS its first log line names the certificate by its fingerprint,
// as the ready line does.
func openDispatcher(o *options, log *slog.Logger) (*listening, error) {
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dispatcher cannot listen on %s: %v (choose another with --port, or 0 for any)", addr, err)
	}
	lock, err := lockDispatcher(o)
	if err != nil {
		l.Close()
		return nil, err
	}
	cfg := dispatcherConfig(o, log)
	var fp string
	if o.serveTLS() {
		// After the lock: the generated certificate is made once, by one process.
		cert, file, err := serverCert(o)
		if err != nil {
			l.Close()
			lock.Release()
			return nil, err
		}
		fp = tlsconf.CertFingerprint(cert)
		cfg.TLS = tlsconf.Server(cert)
		log.Info("serving TLS: clients pin this certificate with --tls-fingerprint (or trust its CA with --tls-ca)", "tls", fp, "cert", file)
	}
	d, err := dispatcher.New(cfg)
	if err != nil {
		l.Close()
		lock.Release()
		return nil, err
	}
	// Before the line that means ready, so that a test (or a person) who saw it
	// has seen any warning.
	if a, ok := l.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		if !o.allowRepos.Restricts() {
			log.Warn("no --allow-repo: runners will clone and run any repository a client submits", "addr", l.Addr().String())
		}
		if fp == "" {
			log.Warn("--insecure: serving in plaintext beyond loopback; tokens, identities and output cross the network in clear", "addr", l.Addr().String())
		}
	}
	attrs := []any{"addr", l.Addr().String(), "version", version}
	if fp != "" {
		attrs = append(attrs, "tls", fp)
	}
	log.Info("dispatcher listening", attrs...)
	return &listening{d: d, l: l, lock: lock, fingerprint: fp}, nil
}

// serverCert is --tls-cert's certificate, or the one generated in the data dir;
// with the file it came from.
func serverCert(o *options) (tls.Certificate, string, error) {
	if o.TLSCert != "" {
		cert, err := tlsconf.Load(o.TLSCert, o.TLSKey)
		return cert, o.TLSCert, err
	}
	cert, err := tlsconf.LoadOrCreate(o.DataDir)
	file, _ := tlsconf.Files(o.DataDir)
	return cert, file, err
}

// pinned trusts exactly the certificate with fingerprint fp: how the console's
// own runners and observer reach the dispatcher it hosts.
func pinned(fp string) *tls.Config {
	if fp == "" {
		return nil
	}
	cfg, err := tlsconf.Client(fp, "", "")
	if err != nil {
		panic(err) // fp came from tlsconf.CertFingerprint
	}
	return cfg
}

func runnerConfig(o *options, log *slog.Logger) runner.Config {
	var labels []string
	if o.Labels != "" {
		labels = strings.Split(o.Labels, ",")
	}
	return runner.Config{
		Dispatcher: o.DispatcherServer, TLS: o.trust, Name: o.Name, Token: o.Token, Slots: o.Slots, Labels: labels,
		Repo: o.Repo, WorkDir: filepath.Join(o.DataDir, "runner"), DispatcherTimeout: o.DispatcherTimeout,
		JobTimeout: o.JobTimeout, Grace: o.Grace, Containment: o.Containment, Logger: log,
		HideEnv: o.settingVars, JobUser: o.JobUser,
	}
}

// localRunner is the console's runner number i (from 1), of the dispatcher at
// addr, whose certificate has fingerprint fp ("" in plaintext).
func localRunner(o *options, addr, fp string, i int, log *slog.Logger) runner.Config {
	name := fmt.Sprintf("local-%d", i)
	cfg := runnerConfig(o, log.With("runner", name))
	cfg.Dispatcher, cfg.TLS, cfg.Name, cfg.Slots, cfg.Labels = addr, pinned(fp), name, 1, nil
	cfg.WorkDir = filepath.Join(cfg.WorkDir, name)
	return cfg
}

func observerConfig(o *options, log *slog.Logger) observer.Config {
	return observer.Config{
		Dispatcher: o.DispatcherServer, TLS: o.trust, Token: o.Token, Name: o.Name, Repo: o.Repo,
		Interval: o.Interval, LatestOnly: o.LatestOnly, NoWatch: o.NoWatch, DispatcherTimeout: o.DispatcherTimeout,
		DataDir: filepath.Join(o.DataDir, "observer"), Logger: log,
	}
}
