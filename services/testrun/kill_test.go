//go:build linux

package testrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests stop real process trees and then check, by pid and by
// scanning /proc for the run's marker, that nothing survived Run.

// killSlack is how much later than its bound (timeout and grace) a kill may
// return: on a busy machine, scanning /proc and reaping a tree under the race
// detector has taken over 4 s. It stays well below the 30 s the test processes
// would otherwise run, so a tree that was not killed still fails.
const killSlack = 15 * time.Second

// setupTimeout is the timeout of a job that must do some work (start children,
// set a trap, print their pids) before the timeout ends it: a busy machine under
// the race detector can take over a second to start a shell and fork twice, and
// a timeout that fires first leaves the test nothing to check.
const setupTimeout = 5 * time.Second

func TestRunTimeoutKillsTree(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	got := Run(t.Context(),
		sh("echo token=$EVENTIDE_RUN_TOKEN; sleep 30 & echo pid=$!; sleep 30 & echo pid=$!; wait"),
		Options{Output: &out, Timeout: setupTimeout, Grace: testGrace})
	requireOutcome(t, got, ReasonTimeout, -1)
	if !errors.Is(got.Err, ErrTimeout) {
		t.Errorf("Err = %v, want ErrTimeout", got.Err)
	}
	if got.Duration > setupTimeout+testGrace+killSlack {
		t.Errorf("took %v", got.Duration)
	}
	ps := pids(t, out.String())
	if len(ps) != 2 {
		t.Fatalf("want 2 background pids, output:\n%s", out.String())
	}
	requireNoSurvivors(t, token(out.String()), ps)
}

func TestRunSpecTimeoutOverrides(t *testing.T) {
	t.Parallel()
	spec := sh("sleep 30")
	spec.Timeout = 100 * time.Millisecond
	got := Run(t.Context(), spec, Options{Timeout: time.Hour, Grace: testGrace})
	requireOutcome(t, got, ReasonTimeout, -1)
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	abort := errors.New("user pressed stop")
	out := &lockedBuffer{onLine: func(l string) {
		if l == "ready" {
			cancel(abort)
		}
	}}
	got := Run(ctx,
		sh("echo token=$EVENTIDE_RUN_TOKEN; sleep 30 & echo pid=$!; echo ready; wait"),
		Options{Output: out, Grace: testGrace})
	requireOutcome(t, got, ReasonCancelled, -1)
	if !errors.Is(got.Err, abort) {
		t.Errorf("Err = %v, want the cancel cause", got.Err)
	}
	requireNoSurvivors(t, token(out.String()), pids(t, out.String()))
}

// escapeScript starts a child that leaves the job's session and process
// group with setsid, and waits until it has done so. It reports the
// child's pid and session id.
const escapeScript = `
echo token=$EVENTIDE_RUN_TOKEN
setsid /bin/sh -c 'echo $$ > "$1"; exec sleep 30' sh "$1" &
while [ ! -s "$1" ]; do sleep 0.01; done
pid=$(cat "$1")
echo pid=$pid
echo sid=$(cut -d' ' -f6 /proc/$pid/stat)
`

func TestRunKillsSetsidEscapee(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tail   string
		reason Reason
		code   int
	}{
		{"after exit", "exit 0", ReasonExited, 0},
		{"on timeout", "sleep 30", ReasonTimeout, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out lockedBuffer
			got := Run(t.Context(),
				sh(escapeScript+tc.tail, filepath.Join(t.TempDir(), "pid")),
				Options{Output: &out, Timeout: setupTimeout, Grace: testGrace})
			requireOutcome(t, got, tc.reason, tc.code)
			s := out.String()
			ps := pids(t, s)
			if len(ps) != 1 || !slices.Equal(field(s, "sid"), []string{strconv.Itoa(ps[0])}) {
				t.Fatalf("child did not become a session leader; output:\n%s", s)
			}
			requireNoSurvivors(t, token(s), ps)
		})
	}
}

func TestRunSigtermIgnored(t *testing.T) {
	t.Parallel()
	const timeout = setupTimeout // the trap must be set before the timeout's SIGTERM
	var out lockedBuffer
	got := Run(t.Context(),
		sh("trap '' TERM; echo token=$EVENTIDE_RUN_TOKEN; sleep 30 & echo pid=$!; wait"),
		Options{Output: &out, Timeout: timeout, Grace: testGrace})
	requireOutcome(t, got, ReasonTimeout, -1)
	if got.Duration < timeout+testGrace {
		t.Errorf("returned after %v, before the grace period was over", got.Duration)
	}
	if got.Duration > timeout+testGrace+killSlack {
		t.Errorf("took %v", got.Duration)
	}
	requireNoSurvivors(t, token(out.String()), pids(t, out.String()))
}

func TestRunKillsLeftoversAfterExit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
		grace, least time.Duration
	}{
		// Returning well within a minute's grace (within killSlack) shows that
		// a leftover which obeys SIGTERM is not waited for needlessly.
		{"obeys TERM", "sleep 30 & echo pid=$!", time.Minute, 0},
		// The file tells the script that the trap is in place, so
		// SIGTERM cannot arrive before it.
		{"ignores TERM", `(trap '' TERM; touch "$1"; exec sleep 30) & echo pid=$!
while [ ! -e "$1" ]; do sleep 0.01; done`, testGrace, testGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out lockedBuffer
			// The leftover holds the output pipe, so this also checks that
			// Run does not wait for its EOF before killing it.
			got := Run(t.Context(),
				sh("echo token=$EVENTIDE_RUN_TOKEN\n"+tc.script+"\nexit 0", filepath.Join(t.TempDir(), "trapped")),
				Options{Output: &out, Grace: tc.grace})
			requireOutcome(t, got, ReasonExited, 0)
			if got.Err != nil {
				t.Errorf("Err = %v", got.Err)
			}
			if got.Duration < tc.least || got.Duration > tc.least+killSlack {
				t.Errorf("took %v with a grace of %v, want %v to %v", got.Duration, tc.grace, tc.least, tc.least+killSlack)
			}
			requireNoSurvivors(t, token(out.String()), pids(t, out.String()))
		})
	}
}

// A grandchild that escapes both the process group (setsid) and the marker
// (env -i) cannot be found, and holds the output pipe open. Run must give
// up on EOF after a bounded time rather than hang.
func TestRunUntrackedWriterDoesNotHang(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	var out lockedBuffer
	got := Run(t.Context(), sh(`
setsid env -i /bin/sh -c 'echo $$ > "$1"; exec /bin/sleep 30' sh "$1" &
while [ ! -s "$1" ]; do sleep 0.01; done
echo done`, pidFile), Options{Output: &out, Grace: testGrace})
	if data, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			t.Cleanup(func() { killAndReap(t, pid) })
		}
	}
	requireOutcome(t, got, ReasonExited, 0)
	if bound := testGrace + drainSlack; got.Duration < bound || got.Duration > bound+killSlack {
		t.Errorf("took %v, want just over %v (the drain bound)", got.Duration, bound)
	}
	if out.String() != "done\n" {
		t.Errorf("output = %q", out.String())
	}
}
