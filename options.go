package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/eventide-ci/eventide/net/wire"
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
	MaxLogBytes      int64         `placeholder:"BYTES" default:"33554432" help:"output kept per attempt; beyond it the oldest output is dropped and the cut marked"`
	HandshakeTimeout time.Duration `default:"5s" help:"drop a client that has not said hello by then"`
	LeaseTimeout     time.Duration `default:"5s" help:"a runner must accept an assignment within this"`
}

// clientFlags say where the dispatcher is, for the modes that connect to one.
type clientFlags struct {
	DispatcherServer string `placeholder:"HOST:PORT" default:"localhost:8888" help:"the dispatcher's HOST:PORT"`
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

// jobFlags limit the jobs a runner runs: a headless one's, or the console's local ones.
type jobFlags struct {
	DispatcherTimeout time.Duration `default:"60s" help:"a runner exits after this long without a dispatcher"`
	JobTimeout        time.Duration `default:"30m" help:"a job's time limit unless .eventide.yml sets one"`
	Grace             time.Duration `default:"5s" help:"time between SIGTERM and SIGKILL for a job's processes"`
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
	refs    []string
	commonFlags
	hostFlags
	clientFlags
	nameFlags
	slotFlags
	jobFlags
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
		Console:    modeCmd{kong.Plugins{&o.repoFlags, &o.consoleFlags, &o.hostFlags, &o.nameFlags, &o.jobFlags, &o.watchFlags, &o.commonFlags}},
		Dispatcher: modeCmd{kong.Plugins{&o.hostFlags, &o.commonFlags}},
		Runner:     modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.nameFlags, &o.slotFlags, &o.jobFlags, &o.commonFlags}},
		Observer:   modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.nameFlags, &o.watchFlags, &o.commonFlags}},
		Notify:     modeCmd{kong.Plugins{&o.repoFlags, &o.clientFlags, &o.nameFlags, &o.commonFlags}},
	}
}

// request is a parsed command line: what to run, or what to print instead.
type request struct {
	opts     *options
	app      *kong.Application // for help
	help     bool
	helpMode string // "" with no mode given: the overview
	version  bool
}

// usageError is a mistake on the command line; see says where to read more.
type usageError struct {
	err error
	see string
}

func (e *usageError) Error() string { return fmt.Sprintf("%v; see %s", e.err, e.see) }
func (e *usageError) Unwrap() error { return e.err }

// seeHelp is the help command for a mode.
func seeHelp(mode string) string {
	if mode == "" {
		return "eventide --help"
	}
	return "eventide help " + mode
}

// newParser builds the grammar for o; it fails only on a mistake in the
// declarations above.
func newParser(o *options, env func(string) (string, bool)) (*kong.Kong, error) {
	st := &settings{env: env}
	k, err := kong.New(newCLI(o, st), kong.Name("eventide"), kong.NoDefaultHelp(), kong.Resolvers(st))
	if err == nil {
		err = checkNames(k.Model)
	}
	if err != nil {
		return nil, fmt.Errorf("flag declarations: %w", err)
	}
	st.app = k.Model
	return k, nil
}

// parse reads the command line, the environment and the --config file.
func parse(args []string, env func(string) (string, bool)) (*request, error) {
	o := &options{}
	k, err := newParser(o, env)
	if err != nil {
		return nil, err
	}
	mode, wantHelp, rest, err := modeArgs(args, flagNames(k.Model))
	if err != nil {
		return nil, &usageError{err, "eventide --help"}
	}
	word := mode // "console" when given as the mode; "" says none was
	if word == "" {
		word = "console"
	}
	ctx, err := k.Parse(append([]string{word}, rest...))
	if err != nil {
		return nil, &usageError{explainFlag(err, k.Model, mode), seeHelp(mode)}
	}
	c := ctx.Model.Target.Addr().Interface().(*cli)
	if o.mode = mode; mode == "console" {
		o.mode = ""
	}
	for _, p := range ctx.Path {
		if p.Flag != nil && !p.Resolved && p.Flag.Name == "port" {
			o.portSet = true
		}
	}
	req := &request{opts: o, app: k.Model, help: c.Help || wantHelp, helpMode: mode, version: c.Version}
	if req.help || req.version {
		return req, nil
	}
	return req, o.check()
}

// modeArgs takes the mode out of args: `notify` or `help [MODE]` as the first
// word, or --mode=X anywhere before "--". It also accepts the one-dash long
// flags (-port 9000) that eventide took before it used kong.
func modeArgs(args []string, known map[string]bool) (mode string, help bool, rest []string, err error) {
	if len(args) > 0 {
		switch args[0] {
		case "notify":
			mode, args = "notify", args[1:]
		case "help":
			help, args = true, args[1:]
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				if mode, err = checkMode(args[0], modes); err != nil {
					return "", false, nil, err
				}
				args = args[1:]
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if name, _, _ := strings.Cut(a[1:], "="); known[name] && len(name) > 1 {
				a = "-" + a
			}
		}
		name, value, hasValue := strings.Cut(a, "=")
		if name != "--mode" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return "", false, nil, errors.New("--mode needs a value: dispatcher, runner or observer")
			}
			i++
			value = args[i]
		}
		if mode, err = checkMode(value, []string{"", "console", "dispatcher", "runner", "observer", "notify"}); err != nil {
			return "", false, nil, err
		}
	}
	return mode, help, rest, nil
}

// checkMode returns mode if it is one of valid, or an error suggesting the
// nearest.
func checkMode(mode string, valid []string) (string, error) {
	for _, v := range valid {
		if mode == v {
			return mode, nil
		}
	}
	best, dist := "", 3 // further than this is no typo
	for _, v := range valid {
		if d := levenshtein(mode, v); v != "" && d < dist {
			best, dist = v, d
		}
	}
	msg := fmt.Sprintf("unknown mode %q: want dispatcher, runner or observer, or none for the console", mode)
	if best != "" {
		msg = fmt.Sprintf("unknown mode %q, did you mean %s?", mode, best)
	}
	return "", errors.New(msg)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// flagNames is every long flag name of every mode.
func flagNames(app *kong.Application) map[string]bool {
	names := map[string]bool{"mode": true}
	for _, f := range app.Flags {
		names[f.Name] = true
	}
	for _, m := range app.Children {
		for _, f := range m.Flags {
			names[f.Name] = true
		}
	}
	return names
}

// flagModes lists the modes that use the flag called name.
func flagModes(app *kong.Application, name string) []string {
	var in []string
	for _, m := range app.Children {
		for _, f := range m.Flags {
			if f.Name == name {
				in = append(in, m.Name)
			}
		}
	}
	return in
}

var unknownFlag = regexp.MustCompile(`^unknown flag --([a-z0-9-]+)`)

// explainFlag turns kong's "unknown flag" for a flag of another mode into a
// line that says which modes it is for.
func explainFlag(err error, app *kong.Application, mode string) error {
	m := unknownFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	in := flagModes(app, m[1])
	if len(in) == 0 {
		return err
	}
	names := make([]string, len(in))
	for i, n := range in {
		names[i] = modeName(n)
	}
	return fmt.Errorf("--%s is for %s, not %s", m[1], strings.Join(names, " and "), modeName(mode))
}

// modeName is how help and errors name a mode.
func modeName(mode string) string {
	switch mode {
	case "", "console":
		return "the console"
	case "notify":
		return "notify"
	}
	return "--mode=" + mode
}

// check catches what the user can fix before anything starts, and fills in what
// follows from the rest: the repository from the argument, the default name.
func (o *options) check() error {
	positional := o.Args
	if len(positional) > 1 && o.mode != "notify" {
		return fmt.Errorf("one repository at most, got %q", positional)
	}
	if len(positional) >= 1 {
		if o.Repo != "" {
			return fmt.Errorf("give the repository once: --repo %s or %s", o.Repo, positional[0])
		}
		o.Repo, o.refs = positional[0], positional[1:]
	}
	switch o.mode {
	case "runner", "observer", "notify":
		if _, err := splitAddr(o.DispatcherServer); err != nil {
			return fmt.Errorf("--dispatcher-server: %w", err)
		}
	case "dispatcher", "": // the console hosts one
		if err := o.hostFlags.check(); err != nil {
			return err
		}
	}
	if o.mode == "" {
		if err := o.consoleFlags.check(o.Repo); err != nil {
			return err
		}
		if o.Repo != "" && o.Runners == 0 {
			o.Runners = 2
		}
	}
	if o.mode == "observer" && o.Repo == "" {
		return errors.New("--mode=observer needs the repository to watch: eventide --mode=observer REPO")
	}
	if o.mode == "notify" && o.Repo == "" {
		return errors.New("notify needs the repository: eventide notify REPO [BRANCH...]")
	}
	if o.Repo != "" && !strings.Contains(o.Repo, "://") && !strings.Contains(o.Repo, "@") {
		abs, err := filepath.Abs(o.Repo)
		if err != nil {
			return fmt.Errorf("repository %s: %w", o.Repo, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("repository %s does not exist", o.Repo)
		}
		o.Repo = abs
	}
	if o.Name == "" {
		o.Name = defaultName()
	}
	if err := wire.CheckName(o.Name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if o.Labels != "" {
		if err := wire.CheckLabels(strings.Split(o.Labels, ",")); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	if o.Slots < 1 || o.Slots > wire.MaxSlots {
		return fmt.Errorf("--slots %d: want 1-%d", o.Slots, wire.MaxSlots)
	}
	return nil
}

func (h *hostFlags) check() error {
	if h.Port < 0 || h.Port > 65535 {
		return fmt.Errorf("--port %d: want 0-65535", h.Port)
	}
	if h.Heartbeat < 10*time.Millisecond || h.Heartbeat > 10*time.Minute {
		return fmt.Errorf("--heartbeat %v: want 10ms to 10m", h.Heartbeat)
	}
	if h.MaxAttempts < 1 {
		return fmt.Errorf("--max-attempts %d: want at least 1", h.MaxAttempts)
	}
	if h.LogRetention < 0 {
		return fmt.Errorf("--log-retention %v: want 0 (keep) or more", h.LogRetention)
	}
	if h.MaxLogBytes < 64<<10 {
		return fmt.Errorf("--max-log-bytes %d: want at least 65536", h.MaxLogBytes)
	}
	return nil
}

func (c *consoleFlags) check(repo string) error {
	if c.Connect != "" {
		if _, err := splitAddr(c.Connect); err != nil {
			return fmt.Errorf("--connect: %w", err)
		}
		if repo != "" || c.Demo || c.Runners != 0 {
			return errors.New("--connect attaches to a remote dispatcher: --repo, --demo and --runners are for a hosted one")
		}
	}
	if c.Demo && repo != "" {
		return errors.New("--demo makes its own repository: drop --repo")
	}
	if c.Runners < 0 || c.Runners > 64 {
		return fmt.Errorf("--runners %d: want 0-64", c.Runners)
	}
	return nil
}

// defaultName is HOST-PID, with the host name reduced to what a name may hold.
func defaultName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if host = strings.Trim(host, ".-"); host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
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
