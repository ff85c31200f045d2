// Command eventide is a distributed continuous-integration system in one binary:
// a dispatcher, test runners and a repository observer that speak JSON over TCP.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/gitrepo"
	"github.com/eventide-ci/eventide/services/observer"
	"github.com/eventide-ci/eventide/services/runner"
	"github.com/eventide-ci/eventide/services/testrun"
)

const version = "0.1.0"

// exitUsage is the status for bad flags, arguments and start-up failures the user
// can fix.
const exitUsage = 2

type options struct {
	mode              string
	host              string
	port              int
	dispatcherServer  string
	token             string
	name              string
	slots             int
	labels            string
	heartbeat         time.Duration
	maxAttempts       int
	resultsDir        string
	noResultFiles     bool
	dataDir           string
	logRetention      time.Duration
	maxLogBytes       int64
	dispatcherTimeout time.Duration
	jobTimeout        time.Duration
	grace             time.Duration
	interval          time.Duration
	latestOnly        bool
	noWatch           bool
	handshakeTimeout  time.Duration
	leaseTimeout      time.Duration
	showVersion       bool
	repo              string
	refs              []string // notify: branches to submit
	connect           string   // console: a remote dispatcher
	runners           int      // console: local runners to host
	demo              bool     // console: a throwaway sample repository
	portSet           bool     // --port was given
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	if o.showVersion {
		fmt.Fprintln(stderr, "eventide", version, "protocol", wire.ProtocolVersion)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("mode", o.mode)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if usesGit(o) {
		if err := gitrepo.CheckVersion(ctx); err != nil {
			fmt.Fprintf(stderr, "eventide: %v\n", err)
			return exitUsage
		}
	}
	switch o.mode {
	case "dispatcher":
		return runDispatcher(ctx, o, log, stderr)
	case "runner":
		return runRunner(ctx, o, log, stderr)
	case "observer":
		return runObserver(ctx, o, log, stderr)
	case "notify":
		return runNotify(ctx, o, stderr)
	case "":
		return runConsole(ctx, o, stderr)
	}
	fmt.Fprintf(stderr, "eventide: unknown --mode %q: want dispatcher, runner or observer\n", o.mode)
	return exitUsage
}

// usesGit reports whether this run needs git: everything but a bare dispatcher
// and a console that only hosts one or connects to one.
func usesGit(o *options) bool {
	switch o.mode {
	case "runner", "observer", "notify":
		return true
	case "":
		return o.connect == "" && (o.demo || o.repo != "" || o.runners > 0)
	}
	return false
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	if len(args) > 0 && args[0] == "notify" {
		o.mode, args = "notify", args[1:]
	}
	fs := flag.NewFlagSet("eventide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", o.mode, "what to run: dispatcher, runner or observer")
	fs.StringVar(&o.host, "host", "localhost", "dispatcher: address to listen on")
	fs.IntVar(&o.port, "port", 8888, "dispatcher: port to listen on (0 picks a free one; the first log line says which)")
	fs.StringVar(&o.dispatcherServer, "dispatcher-server", "localhost:8888", "runner, observer: the dispatcher's HOST:PORT")
	fs.StringVar(&o.token, "token", os.Getenv("EVENTIDE_TOKEN"), "shared secret clients must present (default $EVENTIDE_TOKEN)")
	fs.StringVar(&o.name, "name", "", "runner, observer: name shown by the dispatcher (default HOST-PID)")
	fs.IntVar(&o.slots, "slots", 1, "runner: jobs run at once")
	fs.StringVar(&o.labels, "labels", "", "runner: comma-separated labels, e.g. os=linux,gpu")
	fs.DurationVar(&o.heartbeat, "heartbeat", time.Second, "dispatcher: heartbeat interval; a peer silent for 3 intervals is lost")
	fs.IntVar(&o.maxAttempts, "max-attempts", 3, "dispatcher: attempts per job before it ends as error (infrastructure failures only)")
	fs.StringVar(&o.resultsDir, "results-dir", "test_results", "dispatcher: where result files are written")
	fs.BoolVar(&o.noResultFiles, "no-result-files", false, "dispatcher: keep results in the database only, without a file per job in --results-dir")
	fs.StringVar(&o.dataDir, "data-dir", ".eventide", "where state lives: the dispatcher's database (eventide.db), a runner's repository cache and worktrees, an observer's mirrors")
	fs.DurationVar(&o.logRetention, "log-retention", 30*24*time.Hour, "dispatcher: remove the logs of jobs finished longer ago than this (results stay); 0 keeps them")
	fs.Int64Var(&o.maxLogBytes, "max-log-bytes", 32<<20, "dispatcher: output kept per attempt; beyond it the oldest output is dropped and the cut marked")
	fs.DurationVar(&o.dispatcherTimeout, "dispatcher-timeout", 60*time.Second, "runner: exit after this long without a dispatcher")
	fs.DurationVar(&o.jobTimeout, "job-timeout", 30*time.Minute, "runner: a job's time limit unless .eventide.yml sets one")
	fs.DurationVar(&o.grace, "grace", 5*time.Second, "runner: time between SIGTERM and SIGKILL for a job's processes")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "observer: how often to look for new commits")
	fs.BoolVar(&o.noWatch, "no-watch", false, "observer: only poll, even for a local repository (normally its refs are watched)")
	fs.BoolVar(&o.latestOnly, "latest-only", false, "observer: submit only each branch's newest commit (the prototype's behaviour)")
	fs.DurationVar(&o.handshakeTimeout, "handshake-timeout", 5*time.Second, "dispatcher: drop a client that has not said hello by then")
	fs.DurationVar(&o.leaseTimeout, "lease-timeout", 5*time.Second, "dispatcher: a runner must accept an assignment within this")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&o.repo, "repo", "", "console: a repository to observe (path or URL); the same as the REPO argument")
	fs.IntVar(&o.runners, "runners", 0, "console: local runners to start (default 2 with --repo or --demo)")
	fs.BoolVar(&o.demo, "demo", false, "console: run everything on a throwaway sample repository that gets new commits")
	fs.StringVar(&o.connect, "connect", "", "console: attach to the dispatcher at HOST:PORT instead of hosting one")
	fs.Usage = func() {
		fmt.Fprint(stderr, `eventide: distributed continuous integration in one binary.

Usage:
  eventide [--repo REPO] [--runners N]     the console, hosting a dispatcher
  eventide --demo                          the console on a sample repository
  eventide --connect HOST:PORT             the console of a remote dispatcher
  eventide --mode=dispatcher [--host H] [--port P] [--results-dir DIR]
  eventide --mode=runner [--dispatcher-server HOST:PORT] [--slots N] [REPO]
  eventide --mode=observer [--dispatcher-server HOST:PORT] [--interval D] REPO
  eventide notify [--dispatcher-server HOST:PORT] REPO [BRANCH...]

REPO is a local path or any URL git accepts. A runner given REPO clones from it;
without one it clones the repository each job names. Flags may come before or
after REPO. notify submits the tips of the named branches (default: HEAD) once,
for a git post-commit or post-receive hook, and exits.

Flags:
`)
		fs.PrintDefaults()
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) > 1 && o.mode != "notify" {
		return nil, fmt.Errorf("one repository at most, got %q", positional)
	}
	if len(positional) >= 1 {
		if o.repo != "" {
			return nil, fmt.Errorf("give the repository once: --repo %s or %s", o.repo, positional[0])
		}
		o.repo, o.refs = positional[0], positional[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "port" {
			o.portSet = true
		}
	})
	return o, o.check()
}

// check catches what the user can fix before anything starts.
func (o *options) check() error {
	switch o.mode {
	case "runner", "observer", "notify":
		if _, err := splitAddr(o.dispatcherServer); err != nil {
			return fmt.Errorf("--dispatcher-server: %w", err)
		}
	case "dispatcher", "": // the console hosts one
		if o.port < 0 || o.port > 65535 {
			return fmt.Errorf("--port %d: want 0-65535", o.port)
		}
		if o.heartbeat < 10*time.Millisecond || o.heartbeat > 10*time.Minute {
			return fmt.Errorf("--heartbeat %v: want 10ms to 10m", o.heartbeat)
		}
		if o.maxAttempts < 1 {
			return fmt.Errorf("--max-attempts %d: want at least 1", o.maxAttempts)
		}
		if o.logRetention < 0 {
			return fmt.Errorf("--log-retention %v: want 0 (keep) or more", o.logRetention)
		}
		if o.maxLogBytes < 64<<10 {
			return fmt.Errorf("--max-log-bytes %d: want at least 65536", o.maxLogBytes)
		}
	}
	if o.mode != "" && (o.connect != "" || o.demo || o.runners != 0) {
		return errors.New("--connect, --demo and --runners are for the console (no --mode)")
	}
	if o.mode == "" {
		if o.connect != "" {
			if _, err := splitAddr(o.connect); err != nil {
				return fmt.Errorf("--connect: %w", err)
			}
			if o.repo != "" || o.demo || o.runners != 0 {
				return errors.New("--connect attaches to a remote dispatcher: --repo, --demo and --runners are for a hosted one")
			}
		}
		if o.demo && o.repo != "" {
			return errors.New("--demo makes its own repository: drop --repo")
		}
		if o.runners < 0 || o.runners > 64 {
			return fmt.Errorf("--runners %d: want 0-64", o.runners)
		}
		if o.repo != "" && o.runners == 0 {
			o.runners = 2
		}
	}
	if o.mode == "observer" && o.repo == "" {
		return errors.New("--mode=observer needs the repository to watch: eventide --mode=observer REPO")
	}
	if o.mode == "notify" && o.repo == "" {
		return errors.New("notify needs the repository: eventide notify REPO [BRANCH...]")
	}
	if o.repo != "" && !strings.Contains(o.repo, "://") && !strings.Contains(o.repo, "@") {
		abs, err := filepath.Abs(o.repo)
		if err != nil {
			return fmt.Errorf("repository %s: %w", o.repo, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("repository %s does not exist", o.repo)
		}
		o.repo = abs
	}
	if o.name == "" {
		host, _ := os.Hostname()
		host = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
				return r
			}
			return '-'
		}, host)
		if host == "" {
			host = "host"
		}
		o.name = fmt.Sprintf("%s-%d", strings.Trim(host, ".-"), os.Getpid())
	}
	if err := wire.CheckName(o.name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if o.labels != "" {
		if err := wire.CheckLabels(strings.Split(o.labels, ",")); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	if o.slots < 1 || o.slots > wire.MaxSlots {
		return fmt.Errorf("--slots %d: want 1-%d", o.slots, wire.MaxSlots)
	}
	return nil
}

// splitAddr checks a HOST:PORT address.
func splitAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not HOST:PORT: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return host, nil
}

// signals delivers SIGINT and SIGTERM until ctx ends.
func signals(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	context.AfterFunc(ctx, func() { signal.Stop(ch) })
	return ch
}

func runDispatcher(ctx context.Context, o *options, log *slog.Logger, stderr io.Writer) int {
	addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: dispatcher cannot listen on %s: %v\n", addr, err)
		return exitUsage
	}
	d, err := dispatcher.New(dispatcher.Config{
		ResultsDir: o.resultsDir, NoResultFiles: o.noResultFiles, DataDir: o.dataDir, LogRetention: o.logRetention, MaxLogBytes: o.maxLogBytes,
		MaxAttempts: o.maxAttempts, Heartbeat: o.heartbeat,
		LeaseTimeout: o.leaseTimeout, HandshakeTimeout: o.handshakeTimeout, Token: o.token,
		Logger: log, Version: version,
	})
	if err != nil {
		l.Close()
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	// Said once the store is open, so that this line means ready.
	log.Info("dispatcher listening", "addr", l.Addr().String(), "version", version)
	sig := signals(ctx)
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	var serveErr error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case serveErr = <-served:
		log.Error("serving stopped", "err", serveErr)
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
	log = log.With("runner", o.name)
	if err := testrun.BecomeSubreaper(); err != nil {
		log.Warn("cannot become the subreaper of test processes; orphans that leave their process group may survive", "err", err)
	}
	var labels []string
	if o.labels != "" {
		labels = strings.Split(o.labels, ",")
	}
	r := runner.New(runner.Config{
		Dispatcher: o.dispatcherServer, Name: o.name, Token: o.token, Slots: o.slots, Labels: labels,
		Repo: o.repo, WorkDir: filepath.Join(o.dataDir, "runner"), DispatcherTimeout: o.dispatcherTimeout,
		JobTimeout: o.jobTimeout, Grace: o.grace, Logger: log,
	})
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
	log.Info("runner starting", "dispatcher", o.dispatcherServer, "slots", o.slots, "repo", o.repo)
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
	obs, err := observer.New(ctx, observer.Config{
		Dispatcher: o.dispatcherServer, Token: o.token, Name: o.name, Repo: o.repo,
		Interval: o.interval, LatestOnly: o.latestOnly, NoWatch: o.noWatch, DataDir: filepath.Join(o.dataDir, "observer"), Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
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
		return exitUsage
	}
	return 0
}

// runNotify submits the tips of the named branches (or HEAD) once: the command a
// git hook runs so that a commit is tested at once instead of at the next poll.
func runNotify(ctx context.Context, o *options, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	repo, err := gitrepo.Open(ctx, o.repo, filepath.Join(o.dataDir, "observer", "mirrors"))
	if err == nil {
		err = repo.Refresh(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "eventide notify: %v\n", err)
		return exitUsage
	}
	type target struct{ branch, commit string }
	var targets []target
	if len(o.refs) == 0 {
		b, c, err := repo.Head(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "eventide notify: %s: %v\n", o.repo, err)
			return exitUsage
		}
		targets = append(targets, target{b, c})
	} else {
		branches, err := repo.Branches(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "eventide notify: %s: %v\n", o.repo, err)
			return exitUsage
		}
		for _, ref := range o.refs {
			name := strings.TrimPrefix(ref, "refs/heads/")
			c, ok := branches[name]
			if !ok {
				fmt.Fprintf(stderr, "eventide notify: no branch %q in %s\n", ref, o.repo)
				return exitUsage
			}
			targets = append(targets, target{name, c})
		}
	}
	conn, _, err := peer.Dial(ctx, o.dispatcherServer,
		&wire.Hello{Role: wire.RoleObserver, Name: o.name, Token: o.token}, peer.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "eventide notify: dispatcher %s: %v\n", o.dispatcherServer, err)
		return 1
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn.Serve(ctx, peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) {
			return nil, wire.Errorf(wire.CodeMethodNotFound, "notify serves no requests")
		}))
	}()
	defer func() { conn.Close(); <-served }()
	for _, tg := range targets {
		c, err := repo.Commit(ctx, tg.commit)
		if err != nil {
			fmt.Fprintf(stderr, "eventide notify: %v\n", err)
			return 1
		}
		sub := &wire.Submit{Repo: repo.URL(), Commit: c.ID, Branch: tg.branch, Time: c.Time,
			Author: wire.Clip(c.Author, wire.MaxAuthorLen), Message: wire.Clip(c.Message, wire.MaxMessageLen)}
		var got wire.Submitted
		if err := conn.Call(ctx, wire.MethodCommitSubmit, sub, &got); err != nil {
			fmt.Fprintf(stderr, "eventide notify: submitting %s: %v\n", c.ID, err)
			return 1
		}
		state := "queued"
		if got.Duplicate {
			state = "already queued"
		}
		fmt.Printf("%s %s: %s as job %s\n", c.ID, tg.branch, state, got.JobID)
	}
	return 0
}
