package main

import (
	"crypto/tls"
	"time"

	"github.com/alecthomas/kong"

	"github.com/eventide-ci/eventide/services/repoallow"
)

// Every flag is declared once, in one of the groups below; each mode is the set of
// groups it uses, so a flag's modes, its help and its environment variable all
// come from here. A flag tagged `invocation:""` belongs to one run (what to run
// it on) rather than being a setting, and so is never read from the environment
// or the --config file.

// commonFlags are used by every mode.
type commonFlags struct {
	Token   string `placeholder:"SECRET" help:"shared secret: a dispatcher that has one refuses clients without it"`
	DataDir string `placeholder:"DIR" default:".eventide" help:"where state lives: the dispatcher's database (eventide.db), a runner's repository cache and worktrees, an observer's mirrors"`
}

// hostFlags configure a dispatcher: --mode=dispatcher's, and the console's own.
type hostFlags struct {
	Host             string        `default:"localhost" help:"address to listen on"`
	Port             int           `default:"8888" help:"port to listen on (0 picks a free one; the first log line says which)"`
	Heartbeat        time.Duration `default:"1s" help:"heartbeat interval; a peer silent for 3 intervals is lost"`
	MaxAttempts      int           `placeholder:"N" default:"3" help:"attempts per job before it ends as error (infrastructure failures only)"`
	ResultsDir       string        `placeholder:"DIR" default:"test_results" help:"where result files are written"`
	NoResultFiles    bool          `help:"keep results in the database only, without a file per job in --results-dir"`
	LogRetention     time.Duration `default:"720h" help:"remove the logs of jobs finished longer ago than this (results stay); 0 keeps them"`
	MaxLogBytes      int64         `placeholder:"BYTES" default:"33554432" help:"output kept per attempt: its head, min(1 MiB, a quarter), and its tail; the middle is dropped and marked"`
	HandshakeTimeout time.Duration `default:"5s" help:"drop a client that has not said hello by then"`
	LeaseTimeout     time.Duration `default:"5s" help:"a runner must accept an assignment within this"`
	// Connections that have not said hello yet; past either bound the oldest such
	// connection is dropped (see PROTOCOL.md §4).
	MaxHandshakes          int `placeholder:"N" default:"256" help:"connections waiting for their hello, in all; past it the oldest is dropped"`
	MaxHandshakesPerSource int `placeholder:"N" default:"16" help:"connections waiting for their hello from one address (one /64 for IPv6); past it that address's oldest is dropped"`
	// Credentials and what they may queue (see net/auth, services/repoallow).
	TokenFile          string   `placeholder:"FILE" help:"more tokens, one a line: ROLES TOKEN, ROLES a comma-separated subset of runner, observer, console, console-readonly (# starts a comment); the dispatcher re-reads it on SIGHUP"`
	AllowRepo          []string `placeholder:"PATTERN" help:"run only repositories at this location or glob (repeatable; * does not cross /), e.g. /srv/git/* or https://git.example.com/team/*; without it every location is allowed"`
	MaxQueuedPerClient int      `placeholder:"N" default:"10000" help:"jobs each credential (a token-file line, the --token, or everyone when there is no token) may have waiting in the queue; beyond, its submissions are refused until some are taken"`

	allowRepos *repoallow.List // AllowRepo, checked
	// TLS (see net/tlsconf): a certificate generated in the data dir, or the
	// operator's. check turns TLS on for a non-loopback --host (see serveTLS).
	TLS     bool   `help:"serve TLS 1.3 with a self-signed certificate generated in --data-dir (tls/cert.pem) on first start and kept; the first log line shows its fingerprint, for clients' --tls-fingerprint. The default on a non-loopback --host"`
	TLSCert string `name:"tls-cert" placeholder:"FILE" help:"serve TLS 1.3 with this PEM certificate (and its chain) instead of a generated one; needs --tls-key"`
	TLSKey  string `name:"tls-key" placeholder:"FILE" help:"the PEM private key of --tls-cert"`
	// Insecure lets a dispatcher on a non-loopback address run without a token
	// (check refuses it otherwise): anyone who can reach it could enrol runners.
	// There it also means plaintext, unless TLS is asked for.
	Insecure bool `help:"serve on a non-loopback --host without --token (anyone who reaches it may enrol runners and submit jobs) and, unless --tls or --tls-cert is given, in plaintext"`
}

// clientFlags say where the dispatcher is, for the modes that connect to one.
type clientFlags struct {
	DispatcherServer string `placeholder:"HOST:PORT" default:"localhost:8888" help:"the dispatcher's HOST:PORT"`
}

// trustFlags say how a client trusts a TLS dispatcher: a runner, an observer,
// notify, or a console with --connect (the console's own clients trust the
// dispatcher it hosts by themselves). With neither, the client speaks plaintext.
type trustFlags struct {
	TLSFingerprint string `name:"tls-fingerprint" placeholder:"sha256:HEX" help:"speak TLS, accepting only the dispatcher certificate with this fingerprint (the dispatcher's first log line shows it)"`
	TLSCA          string `name:"tls-ca" placeholder:"FILE|system" help:"speak TLS, verifying the dispatcher's certificate and host name against these PEM CA certificates, or the system's roots with system"`

	trust *tls.Config // built by check from the two
}

// nameFlags name a client to the dispatcher.
type nameFlags struct {
	Name string `help:"name shown by the dispatcher (default HOST-PID)"`
}

// slotFlags describe a headless runner.
type slotFlags struct {
	Slots  int    `placeholder:"N" default:"1" help:"jobs run at once"`
	Labels string `placeholder:"LIST" help:"comma-separated labels, e.g. os=linux,gpu"`
}

// giveUpFlags say when a client that waits for its dispatcher stops waiting: a
// runner (headless, or the console's local ones) or a headless observer. Notify
// tries once and has no use for it.
type giveUpFlags struct {
	DispatcherTimeout time.Duration `default:"60s" help:"exit (status 1) after this long without a dispatcher; 0 waits for ever"`
}

// jobFlags limit the jobs a runner runs: a headless one's, or the console's local ones.
type jobFlags struct {
	JobTimeout time.Duration `default:"30m" help:"a job's time limit unless .eventide.yml sets one"`
	Grace      time.Duration `default:"5s" help:"time between SIGTERM and SIGKILL for a job's processes"`
	// Containment is checked by check (testrun.ParseMode).
	Containment string `placeholder:"MODE" default:"auto" help:"how each job's processes are held and killed: auto (a cgroup v2 where one can be made, else a process group), cgroup or pgroup"`
}

// jobUserFlags are a headless runner's alone: the console's local runners run
// as the console's user.
type jobUserFlags struct {
	JobUser string `placeholder:"NAME" help:"run jobs as this user (name or uid), so they cannot read the runner's files; the runner must run as root"`
}

// watchFlags configure an observer: a headless one, or the console's.
type watchFlags struct {
	Interval   time.Duration `default:"5s" help:"how often to look for new commits"`
	NoWatch    bool          `help:"only poll, even for a local repository (normally its refs are watched)"`
	LatestOnly bool          `help:"submit only each branch's newest commit (the prototype's behaviour)"`
}

// consoleFlags are the console's alone.
type consoleFlags struct {
	Runners int    `placeholder:"N" help:"local runners to start (default 2 with a repository or --demo)"`
	Demo    bool   `invocation:"" help:"run everything on a throwaway sample repository that gets new commits"`
	Connect string `invocation:"" placeholder:"HOST:PORT" help:"attach to the dispatcher at HOST:PORT instead of hosting one"`
}

// repoFlags name the repository (and, for notify, the branches).
type repoFlags struct {
	Repo string   `invocation:"" placeholder:"REPO" help:"the repository (path or URL); the same as the REPO argument"`
	Args []string `arg:"" optional:"" name:"REPO"`
}

// options is what a run was asked to do. Each mode's command node shares these
// groups by pointer, so whichever mode is chosen fills the same fields.
type options struct {
	mode    string // "" is the console
	portSet bool   // --port was on the command line (the demo otherwise picks a free one)
	// tokenInArgs: --token was on the command line, which every local user can
	// read (/proc/PID/cmdline), jobs run as --job-user too.
	tokenInArgs bool
	refs        []string
	// settingVars are the environment variables settings are read from, of
	// every mode: a runner hides them from its jobs.
	settingVars []string
	commonFlags
	hostFlags
	clientFlags
	trustFlags
	nameFlags
	slotFlags
	giveUpFlags
	jobFlags
	jobUserFlags
	watchFlags
	consoleFlags
	repoFlags
}

// cli is the grammar kong parses: a word for the mode (taken from --mode, see
// modeArgs) and that mode's flags.
type cli struct {
	Help    bool   `short:"h" invocation:"" help:"show this help and exit"`
	Version bool   `invocation:"" help:"print the version and exit"`
	Config  string `invocation:"" placeholder:"FILE" help:"read settings from this YAML file (see Settings below)"`

	settings *settings // kong ignores unexported fields

	Console    modeCmd `cmd:""`
	Dispatcher modeCmd `cmd:""`
	Runner     modeCmd `cmd:""`
	Observer   modeCmd `cmd:""`
	Notify     modeCmd `cmd:""`
}

// modeCmd is one mode: the flag groups it uses.
type modeCmd struct{ kong.Plugins }

// modes lists the modes in the order help names them; "console" is no --mode.
var modes = []string{"console", "dispatcher", "runner", "observer", "notify"}

func newCLI(o *options, st *settings) *cli {
	return &cli{settings: st,
		Console:    modeCmd{kong.Plugins{&o.repoFlags, &o.consoleFlags, &o.trustFlags, &o.hostFlags, &o.nameFlags, &o.giveUpFlags, &o.jobFlags, &o.watchFlags, &o.commonFlags}},
		Dispatcher: modeCmd{kong.Plugins{&o.hostFlags, &o.commonFlags}},
		Runner:     modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.trustFlags, &o.nameFlags, &o.slotFlags, &o.giveUpFlags, &o.jobFlags, &o.jobUserFlags, &o.commonFlags}},
		Observer:   modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.trustFlags, &o.nameFlags, &o.giveUpFlags, &o.watchFlags, &o.commonFlags}},
		Notify:     modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.trustFlags, &o.nameFlags, &o.commonFlags}},
	}
}
