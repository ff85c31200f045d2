package testkit

import (
	"flag"
	"runtime"
	"strconv"
)

// WaitingParallel is how many parallel tests a package of mostly waiting tests
// runs at once (see RaiseParallel).
const WaitingParallel = 6

// RaiseParallel sets -test.parallel to n unless the command line set it or the
// machine has at least n cores; call it from TestMain before m.Run. The default,
// GOMAXPROCS, suits tests that keep a core busy. Tests that mostly wait (for a
// process to start, a git command, a heartbeat, a poll interval) left a 2-core
// machine half idle two at a time: the README's test command took minutes of
// waiting. Above about 6 the race detector's memory (tens of MiB a process in the
// end-to-end tests) grows for little gain.
func RaiseParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < n {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}
