package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The console end to end: the real binary in a real terminal (tmux), read back
// with capture-pane and driven with send-keys.

// tmuxConsole is one console running in a private tmux server.
type tmuxConsole struct {
	t      *testing.T
	socket string
	exit   string // file the wrapper writes the exit status to
}

// startConsole runs eventide with args in a 100x30 tmux window, in dir.
func startConsole(t *testing.T, dir string, args ...string) *tmuxConsole {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for the console's end-to-end tests (apt-get install tmux)")
	}
	c := &tmuxConsole{t: t, socket: fmt.Sprintf("eventide-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()),
		exit: filepath.Join(t.TempDir(), "exit")}
	quoted := []string{shellQuote(binary)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	// The wrapper keeps the window open after eventide exits, so its last screen
	// and its stderr can still be read.
	script := fmt.Sprintf("cd %s && %s 2>%s.err; echo $? > %s; sleep 600", shellQuote(dir),
		strings.Join(quoted, " "), shellQuote(c.exit), shellQuote(c.exit))
	cmd := exec.Command("tmux", "-L", c.socket, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "sh", "-c", script)
	cmd.Env = childEnv("TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- last screen ----\n%s", c.screen())
			if b, err := os.ReadFile(c.exit + ".err"); err == nil {
				t.Logf("---- stderr ----\n%s", b)
			}
		}
		exec.Command("tmux", "-L", c.socket, "kill-server").Run()
	})
	return c
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (c *tmuxConsole) screen() string {
	out, err := exec.Command("tmux", "-L", c.socket, "capture-pane", "-p").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(capture-pane: %v: %s)", err, out)
	}
	return string(out)
}

func (c *tmuxConsole) keys(keys ...string) {
	c.t.Helper()
	args := append([]string{"-L", c.socket, "send-keys"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		c.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

// waitScreen waits until the screen matches re and returns the screen.
func (c *tmuxConsole) waitScreen(timeout time.Duration, re *regexp.Regexp, what string) string {
	c.t.Helper()
	var s string
	waitFor(c.t, timeout, func() bool { s = c.screen(); return re.MatchString(s) }, what)
	return s
}

// waitExit waits for eventide to exit and returns its status and stderr.
func (c *tmuxConsole) waitExit(timeout time.Duration) (string, string) {
	c.t.Helper()
	var code []byte
	waitFor(c.t, timeout, func() bool {
		b, err := os.ReadFile(c.exit)
		code = b
		return err == nil && len(b) > 0
	}, "eventide to exit")
	stderr, _ := os.ReadFile(c.exit + ".err")
	return strings.TrimSpace(string(code)), string(stderr)
}

// TestConsoleHostsCI: `eventide --repo REPO --runners 2` is CI for a repository
// in one command: its commit shows as failed (the sample has a failing test),
// `r` on it runs attempt 2, and `q` quits cleanly.
func TestConsoleHostsCI(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	dir := t.TempDir()
	c := startConsole(t, dir, "--repo", repo.dir, "--runners", "2", "--port", "0")
	short := c1[:7]
	failed := regexp.MustCompile(`(?m)^> ` + short + `.*failed .*#1`)
	c.waitScreen(patience, failed, "the commit to show as failed, attempt 1")
	s := c.screen()
	for _, want := range []string{"(hosted)", "local-1", "local-2", "runners 2 live"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	c.keys("r")
	c.waitScreen(patience, regexp.MustCompile(`(?m)^> `+short+`.*(running|failed) .*#2`), "attempt 2 of the job")
	c.waitScreen(patience, regexp.MustCompile(`(?m)^> `+short+`.*failed .*#2`), "attempt 2 to fail too")

	c.keys("q")
	code, stderr := c.waitExit(patience)
	if code != "0" {
		t.Fatalf("exit status %s, want 0; stderr:\n%s", code, stderr)
	}
	// The hosted dispatcher kept its store and result file where it ran.
	if _, err := os.Stat(filepath.Join(dir, ".eventide", "eventide.db")); err != nil {
		t.Errorf("the hosted dispatcher's store: %v", err)
	}
	r := waitResult(t, filepath.Join(dir, "test_results"), c1, patience)
	if got := r.get("Job"); !strings.HasSuffix(got, "attempt 2") {
		t.Errorf("result file says Job %q, want attempt 2", got)
	}
}

// TestConsoleConnects: `eventide --connect` shows a headless dispatcher's runner
// and results, live; the time from the dispatcher recording a result to the
// screen showing it is logged.
func TestConsoleConnects(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "e2e-remote", nil)
	d.waitLog(patience, "runner registered", "runner=e2e-remote")

	c := startConsole(t, t.TempDir(), "--connect", d.addr)
	c.waitScreen(patience, regexp.MustCompile(`e2e-remote +idle`), "the remote runner, idle")
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	shown := c.waitScreen(patience, regexp.MustCompile(c1[:7]+`.*failed`), "the job to show as failed")
	seen := time.Now()
	if !strings.Contains(shown, d.addr) {
		t.Errorf("header lacks the dispatcher's address %s:\n%s", d.addr, shown)
	}
	if l, ok := d.find("job finished", "status=failed"); ok && !l.at.IsZero() {
		t.Logf("job recorded → on screen: %v (screen polled every 10 ms)", seen.Sub(l.at).Round(time.Millisecond))
	}

	// The console survives the dispatcher going away, and says so.
	d.kill()
	c.waitScreen(patience, regexp.MustCompile(`(?i)(connection lost|reconnecting|cannot connect)`), "the lost connection to show")
	c.keys("q")
	if code, stderr := c.waitExit(patience); code != "0" {
		t.Fatalf("exit status %s, want 0; stderr:\n%s", code, stderr)
	}
}
