// Command eventide is a distributed continuous-integration system in one binary:
// a dispatcher, test runners and a repository observer that speak JSON over TCP.
//
// main.go picks the mode. options.go declares every flag once; parse.go reads
// the command line (help.go prints the help), settings.go the environment and
// the --config file, check.go refuses what cannot work. wiring.go builds each
// service's configuration from the options; hosted.go starts and stops the
// console's services, headless.go runs the other modes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/eventide-ci/eventide/services/gitrepo"
	"github.com/eventide-ci/eventide/services/testrun"
)

const version = "0.1.0"

// exitUsage is the status for bad flags, arguments and start-up failures the user
// can fix.
const exitUsage = 2

func main() {
	// A runner re-executes this binary as each job's supervisor; that is all
	// such a process does.
	testrun.MaybeSupervise()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	req, err := parse(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "eventide: %v\n", err)
		return exitUsage
	}
	o := req.opts
	switch {
	case req.help:
		printHelp(stdout, req.app, req.helpMode)
		return 0
	case req.version:
		info, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionLine(info))
		return 0
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if usesGit(o) {
		if err := gitrepo.CheckVersion(ctx); err != nil {
			fmt.Fprintf(stderr, "eventide: %v\n", err)
			return exitUsage
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("mode", o.mode)
	switch o.mode {
	case "dispatcher":
		return runDispatcher(ctx, o, log, stderr)
	case "runner":
		return runRunner(ctx, o, log, stderr)
	case "observer":
		return runObserver(ctx, o, log, stderr)
	case "notify":
		return runNotify(ctx, o, stdout, stderr)
	case "":
		return runConsole(ctx, o, stderr)
	}
	panic(errors.New("mode " + o.mode + " has no run function"))
}

// usesGit reports whether this run needs git: everything but a bare dispatcher
// and a console that only hosts one or connects to one.
func usesGit(o *options) bool {
	switch o.mode {
	case "runner", "observer", "notify":
		return true
	case "":
		return o.Connect == "" && (o.Demo || o.Repo != "" || o.Runners > 0)
	}
	return false
}
