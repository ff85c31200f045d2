package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The command line as a user meets it, on the real binary: help and version on
// stdout, one-line mistakes, settings from the environment and a config file.

// runSplit runs the binary with args and env added to a clean environment,
// returning its stdout, stderr and exit code apart.
func runSplit(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = childEnv(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("eventide %v did not exit within %v:\n%s%s", args, patience, &out, &errOut)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("eventide %v: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// oneDash finds a long flag written with one dash.
var oneDash = regexp.MustCompile(`(^|[\s\[])-[a-z][a-z-]+`)

func TestCLIHelpAndVersion(t *testing.T) {
	t.Parallel()
	out, errOut, code := runSplit(t, nil, "--help")
	if code != 0 || errOut != "" {
		t.Errorf("--help: exit %d, stderr %q; want 0 and nothing", code, errOut)
	}
	for _, want := range []string{"--mode=dispatcher", "--dispatcher-server=HOST:PORT", "--no-result-files", "eventide help MODE", "EVENTIDE_<FLAG>", "--config"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help on stdout lacks %q:\n%s", want, out)
		}
	}
	if m := oneDash.FindString(out); m != "" {
		t.Errorf("--help writes %q with one dash", m)
	}

	out, errOut, code = runSplit(t, nil, "help", "runner")
	if code != 0 || errOut != "" {
		t.Errorf("help runner: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"--mode=runner", "--dispatcher-server", "--slots", "--labels", "--dispatcher-timeout", "--job-timeout", "--grace", "--token", "--data-dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("help runner lacks %s:\n%s", want, out)
		}
	}
	for _, other := range []string{"--host", "--port", "--interval", "--demo", "--runners", "--results-dir", "--heartbeat", "--connect"} {
		if strings.Contains(out, other+"=") || strings.Contains(out, other+" ") {
			t.Errorf("help runner shows %s, which is not a runner's:\n%s", other, out)
		}
	}
	if m := oneDash.FindString(out); m != "" {
		t.Errorf("help runner writes %q with one dash", m)
	}

	out, errOut, code = runSplit(t, nil, "--version")
	if code != 0 || errOut != "" {
		t.Errorf("--version: exit %d, stderr %q", code, errOut)
	}
	if !regexp.MustCompile(`^eventide \S+ protocol \d+ revision \S+`).MatchString(out) || strings.Count(out, "\n") != 1 {
		t.Errorf("--version printed %q", out)
	}
	// The build records the revision unless built with -buildvcs=false (or from a
	// git worktree, which Go does not recognise); the version says the same.
	info, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if m := regexp.MustCompile(`vcs\.revision=([0-9a-f]+)`).FindSubmatch(info); m != nil {
		if !strings.Contains(out, "revision "+string(m[1])) {
			t.Errorf("--version %q lacks the revision %s the build recorded", out, m[1])
		}
	} else if !strings.Contains(out, "revision unknown") {
		t.Errorf("--version %q: the build recorded no revision, so it should say unknown", out)
	}
}

// A mistake on the command line is one line that says where to read more, with
// exit 2 and nothing on stdout.
func TestCLIMistakes(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	for _, tc := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"--bogus"}, []string{"unknown flag --bogus", "see eventide --help"}},
		{[]string{"--mode=runer"}, []string{`unknown mode "runer"`, "did you mean runner?"}},
		{[]string{"--mode=observer", "--job-timeout", "3s", repo}, []string{"--job-timeout is for", "--mode=runner", "not --mode=observer"}},
		{[]string{"--mode=dispatcher", "--port", "http"}, []string{"--port", "http", "see eventide help dispatcher"}},
	} {
		out, errOut, code := runSplit(t, nil, tc.args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", tc.args, code, out)
		}
		if strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: want one line, got:\n%s", tc.args, errOut)
		}
		for _, want := range tc.wants {
			if !strings.Contains(errOut, want) {
				t.Errorf("%q: %q does not say %q", tc.args, errOut, want)
			}
		}
	}
}

// Settings come from the command line, else EVENTIDE_<FLAG>, else the --config
// file, which may hold other modes' keys too; the variables a runner sets for a
// job are no settings.
func TestCLISettings(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "eventide.yml")
	body := "# one file for every mode\ndispatcher-server: 127.0.0.1:1\nname: from-file\nslots: 3\n" +
		"port: 9999\nresults-dir: /nowhere\ninterval: 2s\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	env := childEnv("EVENTIDE_SLOTS=2", "EVENTIDE_JOB_ID=job-7", "EVENTIDE_COMMIT=not-a-setting")
	r := startProc(t, "runner-settings", t.TempDir(), env, "--mode=runner", "--config", cfg, "--data-dir", t.TempDir())
	r.waitLog(patience, "runner starting", "runner=from-file", "dispatcher=127.0.0.1:1", "slots=2")

	r = startProc(t, "runner-flag", t.TempDir(), env, "--mode=runner", "--config", cfg, "--slots", "5", "--data-dir", t.TempDir())
	r.waitLog(patience, "runner starting", "runner=from-file", "slots=5")

	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("slots: 3\nheartbeats: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runSplit(t, nil, "--mode=dispatcher", "--config", bad)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, `unknown key "heartbeats"`) || !strings.Contains(errOut, bad) {
		t.Errorf("unknown key: exit %d, stderr %q; want 2 and one line naming the key and %s", code, errOut, bad)
	}
}

// --no-result-files holds in the console too: its hosted dispatcher records the
// job's result and writes no file for it.
func TestConsoleNoResultFiles(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	dir := t.TempDir()
	c := startConsole(t, dir, "--repo", repo.dir, "--runners", "1", "--port", "0", "--heartbeat", testHeartbeat, "--no-result-files")
	c.waitScreen(patience, regexp.MustCompile(`(?m)^> `+c1[:7]+`.*failed .*#1`), "the commit to show as failed")
	c.keys("q")
	if code, stderr := c.waitExit(patience); code != "0" {
		t.Fatalf("exit status %s, want 0; stderr:\n%s", code, stderr)
	}
	log, err := os.ReadFile(filepath.Join(dir, ".eventide", "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `msg="job finished"`) || !strings.Contains(string(log), "status=failed") {
		t.Errorf("console.log does not record the finished job:\n%s", log)
	}
	// The dispatcher has stopped, so any file it was going to write is written.
	if got := results(t, filepath.Join(dir, "test_results")); len(got) != 0 {
		t.Errorf("result files written despite --no-result-files: %v", got)
	}
}
