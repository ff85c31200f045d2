package main

import (
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/eventide-ci/eventide/net/wire"
)

const overview = `eventide: distributed continuous integration in one binary.

Usage:
  eventide [--repo REPO] [--runners N]     the console, hosting a dispatcher
  eventide --demo                          the console on a sample repository
  eventide --connect HOST:PORT             the console of a remote dispatcher
  eventide --mode=dispatcher [--host H] [--port P] [--results-dir DIR]
  eventide --mode=runner [--dispatcher-server HOST:PORT] [--slots N] [REPO]
  eventide --mode=observer [--dispatcher-server HOST:PORT] [--interval D] REPO
  eventide notify [--dispatcher-server HOST:PORT] REPO [BRANCH...]
  eventide help MODE                       the flags of one mode (or console)

REPO is a local path or any URL git accepts. A runner given REPO clones from it;
without one it clones the repository each job names. Flags may come before or
after REPO. notify submits the tips of the named branches (default: HEAD) once,
for a git post-commit or post-receive hook, and exits.
`

// modeUsage is each mode's usage line and what it does.
var modeUsage = map[string]string{
	"console": `Usage: eventide [flags] [REPO]

The console: a dashboard hosting a dispatcher, with an observer of REPO and
--runners local runners (--demo: on a throwaway sample repository), or showing
a remote dispatcher (--connect).`,
	"dispatcher": `Usage: eventide --mode=dispatcher [flags]

Queues the commits observers submit and assigns them to runners.`,
	"runner": `Usage: eventide --mode=runner [flags] [REPO]

Runs the tests of the jobs the dispatcher assigns. Given REPO it clones from
there; without one, from the repository each job names.`,
	"observer": `Usage: eventide --mode=observer [flags] REPO

Submits every new commit of REPO to the dispatcher.`,
	"notify": `Usage: eventide notify [flags] REPO [BRANCH...]

Submits the tips of the named branches (default: HEAD) once and exits: the
command for a git post-commit or post-receive hook.`,
}

const settingsHelp = `Settings: every flag above but %s can also come from the environment
as EVENTIDE_<FLAG> (EVENTIDE_DISPATCHER_SERVER for --dispatcher-server) or from
the YAML file --config FILE, as "dispatcher-server: HOST:PORT". A flag beats the
environment, which beats the file. One file serves every mode: each takes the
keys it uses.
`

// printHelp writes the help of mode ("" and not explicit: the overview, with
// every flag and the modes it is for).
func printHelp(w io.Writer, app *kong.Application, mode string) {
	var flags []*kong.Flag
	if mode == "" {
		fmt.Fprint(w, overview)
		fmt.Fprintln(w, "\nFlags (each for the modes named; eventide help MODE shows one mode's):")
		seen := map[string]bool{}
		for _, m := range app.Children {
			for _, f := range m.Flags {
				if !seen[f.Name] {
					seen[f.Name] = true
					flags = append(flags, f)
				}
			}
		}
	} else {
		fmt.Fprintln(w, modeUsage[mode])
		fmt.Fprintln(w, "\nFlags:")
		for _, m := range app.Children {
			if m.Name == mode {
				flags = m.Flags
			}
		}
	}
	var rows [][2]string
	if mode == "" {
		rows = append(rows, [2]string{"--mode=MODE", "dispatcher, runner or observer; none: the console"})
	}
	var notSettings []string
	for _, f := range append(flags, app.Flags...) {
		help := f.Help
		if in := flagModes(app, f.Name); mode == "" && len(in) > 0 && len(in) < len(app.Children) {
			help = strings.Join(in, ", ") + ": " + help
		}
		if f.HasDefault && f.Default != "" && f.Default != "0" && f.Default != "false" {
			help += " (default " + f.Default + ")"
		}
		rows = append(rows, [2]string{flagSyntax(f), help})
		if !isSetting(f) {
			notSettings = append(notSettings, "--"+f.Name)
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprint(w, fill(fmt.Sprintf("  %-*s  ", width, r[0]), r[1]))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, fill("", fmt.Sprintf(settingsHelp, strings.Join(notSettings, ", "))))
}

// flagSyntax is how a flag is written, with a placeholder for its value.
func flagSyntax(f *kong.Flag) string {
	s := "--" + f.Name
	if f.Short != 0 {
		s = fmt.Sprintf("-%c, %s", f.Short, s)
	}
	switch {
	case f.IsBool():
		return s
	case f.PlaceHolder != "":
		return s + "=" + f.PlaceHolder
	case f.Target.Type() == reflect.TypeFor[time.Duration]():
		return s + "=DURATION"
	}
	return s + "=" + strings.ToUpper(f.Name)
}

const helpWidth = 80

// fill writes text after prefix, folded at helpWidth, continuation lines
// indented to the prefix's width.
func fill(prefix, text string) string {
	var b strings.Builder
	b.WriteString(prefix)
	col := len(prefix)
	for i, word := range strings.Fields(text) {
		if i > 0 && col+1+len(word) > helpWidth {
			b.WriteString("\n" + strings.Repeat(" ", len(prefix)))
			col = len(prefix)
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String() + "\n"
}

// versionLine says which eventide this is: its version, protocol, and the VCS
// revision it was built from, when the build recorded one (go build does in a
// git checkout unless -buildvcs=false).
func versionLine(info *debug.BuildInfo) string {
	vcs := map[string]string{"vcs.revision": "unknown"}
	if info != nil {
		for _, s := range info.Settings {
			vcs[s.Key] = s.Value
		}
	}
	line := fmt.Sprintf("eventide %s protocol %d revision %s", version, wire.ProtocolVersion, vcs["vcs.revision"])
	if t := vcs["vcs.time"]; t != "" {
		line += " " + t
	}
	if vcs["vcs.modified"] == "true" {
		line += " (modified)"
	}
	return line
}
