package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
)

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
func newParser(o *options, env func(string) (string, bool)) (*kong.Kong, *cli, error) {
	st := &settings{env: env}
	c := newCLI(o, st)
	k, err := kong.New(c, kong.Name("eventide"), kong.NoDefaultHelp(), kong.Resolvers(st))
	if err == nil {
		err = checkNames(k.Model)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("flag declarations: %w", err)
	}
	st.app = k.Model
	return k, c, nil
}

// parse reads the command line, the environment and the --config file.
func parse(args []string, env func(string) (string, bool)) (*request, error) {
	o := &options{}
	k, c, err := newParser(o, env)
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
	if o.mode = mode; mode == "console" {
		o.mode = ""
	}
	for _, p := range ctx.Path {
		if p.Flag != nil && !p.Resolved && p.Flag.Name == "port" {
			o.portSet = true
		}
		if p.Flag != nil && !p.Resolved && p.Flag.Name == "token" {
			o.tokenInArgs = true
		}
	}
	o.settingVars = settingVars(k.Model)
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
	if best := nearest(mode, valid); best != "" {
		return "", fmt.Errorf("unknown mode %q, did you mean %s?", mode, best)
	}
	return "", fmt.Errorf("unknown mode %q: want dispatcher, runner or observer, or none for the console", mode)
}

// nearest is the one of names closest to a mistyped word, or "" when none is
// close enough to be what was meant.
func nearest(word string, names []string) string {
	best, dist := "", 3
	for _, n := range names {
		if d := levenshtein(word, n); n != "" && (d < dist || d == dist && n < best) {
			best, dist = n, d
		}
	}
	return best
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
