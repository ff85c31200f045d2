//go:build linux

package testrun

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
)

const testGrace = 200 * time.Millisecond

// sh builds a Spec running script with /bin/sh; args become $1, $2, ...
func sh(script string, args ...string) Spec {
	return Spec{Command: append([]string{"/bin/sh", "-c", script, "sh"}, args...)}
}

// lockedBuffer is an Output that tests may read while Run is writing, and
// that runs onLine for each complete line so a test can react to the
// command's progress instead of sleeping.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	onLine func(line string)
	start  int // offset of the first byte not yet passed to onLine
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	for {
		rest := b.buf.Bytes()[b.start:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		b.start += i + 1
		if b.onLine != nil {
			b.onLine(string(rest[:i]))
		}
	}
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// field returns the values of "key=value" lines in out, in order.
func field(out, key string) []string {
	var vals []string
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

func pids(t *testing.T, out string) []int {
	t.Helper()
	var ps []int
	for _, v := range field(out, "pid") {
		pid, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("bad pid line %q in output:\n%s", v, out)
		}
		ps = append(ps, pid)
	}
	return ps
}

func token(out string) string {
	if v := field(out, "token"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func requireOutcome(t *testing.T, got Outcome, reason Reason, code int) {
	t.Helper()
	if got.Reason != reason || got.ExitCode != code {
		t.Fatalf("outcome = %v/%d (err %v), want %v/%d", got.Reason, got.ExitCode, got.Err, reason, code)
	}
}

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		ReasonExited: "exited", ReasonTimeout: "timeout", ReasonCancelled: "cancelled",
		ReasonStartFailed: "start failed", Reason(42): "Reason(42)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -KILL $$", -1}, // death by signal is still an exit of its own accord
	} {
		t.Run(tc.script, func(t *testing.T) {
			t.Parallel()
			got := Run(t.Context(), sh(tc.script), Options{})
			requireOutcome(t, got, ReasonExited, tc.code)
			if got.Err != nil {
				t.Fatalf("Err = %v, want nil", got.Err)
			}
		})
	}
}

func TestRunOutputInOrder(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	got := Run(t.Context(), sh("echo one; echo two >&2; echo three; echo four >&2"), Options{Output: &out})
	requireOutcome(t, got, ReasonExited, 0)
	if want := "one\ntwo\nthree\nfour\n"; out.String() != want {
		t.Fatalf("output = %q, want %q", out.String(), want)
	}
}

func TestRunEnvDirAndToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out lockedBuffer
	got := Run(t.Context(),
		sh(`echo "var=$EVENTIDE_TEST_VAR"; echo "dir=$(pwd -P)"; echo "token=$EVENTIDE_RUN_TOKEN"; read x || echo stdin=eof`),
		Options{
			Dir:    dir,
			Env:    []string{"EVENTIDE_TEST_VAR=hello", TokenEnv + "=forged"},
			Output: &out,
		})
	requireOutcome(t, got, ReasonExited, 0)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if v := field(s, "var"); len(v) != 1 || v[0] != "hello" {
		t.Errorf("extra env not passed: %q", s)
	}
	if v := field(s, "dir"); len(v) != 1 || v[0] != realDir {
		t.Errorf("dir = %v, want %s", v, realDir)
	}
	if tok := token(s); len(tok) != 32 || tok == "forged" {
		t.Errorf("token = %q, want 32 hex digits chosen by Run", tok)
	}
	if v := field(s, "stdin"); len(v) != 1 {
		t.Errorf("stdin is not at EOF: %q", s)
	}
}

func TestRunStartFailures(t *testing.T) {
	t.Parallel()
	const missing = "eventide-no-such-command"
	for _, tc := range []struct {
		name string
		spec Spec
		opts Options
		want error
	}{
		{"not found", Spec{Command: []string{missing, "arg"}}, Options{}, exec.ErrNotFound},
		{"no dir", sh("true"), Options{Dir: filepath.Join(t.TempDir(), "gone")}, os.ErrNotExist},
		{"empty", Spec{}, Options{}, ErrEmptyCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Run(t.Context(), tc.spec, tc.opts)
			requireOutcome(t, got, ReasonStartFailed, -1)
			if !errors.Is(got.Err, tc.want) {
				t.Fatalf("Err = %v, want %v", got.Err, tc.want)
			}
		})
	}
	got := Run(t.Context(), Spec{Command: []string{missing}}, Options{})
	if got.Err == nil || !strings.Contains(got.Err.Error(), missing) {
		t.Fatalf("error %v does not name the command", got.Err)
	}
}

func TestRunAlreadyCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	marker := filepath.Join(t.TempDir(), "ran")
	got := Run(ctx, sh(`touch "$1"`, marker), Options{})
	requireOutcome(t, got, ReasonCancelled, -1)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("command ran despite the cancelled context")
	}
}

type failingWriter struct{ calls int }

var errSink = errors.New("log store unavailable")

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, errSink
}

// Output errors must not stall the command: far more than a pipe buffer
// is written after the first failure.
func TestRunOutputErrorKeepsDraining(t *testing.T) {
	t.Parallel()
	w := &failingWriter{}
	got := Run(t.Context(), sh("seq 1 200000"), Options{Output: w, Timeout: testkit.Patience}) // a bound on a hang, not a speed
	requireOutcome(t, got, ReasonExited, 0)
	if !errors.Is(got.Err, errSink) {
		t.Fatalf("Err = %v, want the writer's error", got.Err)
	}
	if w.calls != 1 {
		t.Errorf("Output called %d times after failing, want 1", w.calls)
	}
}
