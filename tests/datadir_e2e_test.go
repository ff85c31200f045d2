package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// One data dir serves every mode at once; what one process owns in it (the
// dispatcher's database, a runner's folder) a second one is refused, with one
// line naming the data dir and the holder's pid, and exit status 2.

// refused checks that a second process exited 2 with one line on stderr, and
// nothing on stdout, naming dataDir, pid and the part of it in use.
func refused(t *testing.T, stdout, stderr string, code int, dataDir string, pid int, what string) {
	t.Helper()
	if code != 2 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("want one line, got:\n%s", stderr)
	}
	for _, want := range []string{"data dir " + dataDir + " is in use", what, "pid " + strconv.Itoa(pid)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("%q does not say %q", stderr, want)
		}
	}
}

// A second dispatcher on the data dir of a running one (on another port) stops
// at once; the first goes on serving.
func TestSecondDispatcherRefused(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	dir := t.TempDir()
	d := startDispatcher(t, 0, filepath.Join(dir, "test_results"), nil)
	dataDir := filepath.Join(dir, ".eventide")

	start := time.Now()
	out, errOut, code := runSplit(t, nil, "--mode=dispatcher", "--host", "127.0.0.1", "--port", "0",
		"--data-dir", dataDir, "--results-dir", filepath.Join(t.TempDir(), "results"))
	t.Logf("second dispatcher refused in %v (process start included)", time.Since(start).Round(time.Millisecond))
	refused(t, out, errOut, code, dataDir, d.cmd.Process.Pid, "the dispatcher's database")

	if d.exited() {
		t.Fatalf("the first dispatcher exited:\n%s", d.output())
	}
	startRunner(t, d.addr, t.TempDir(), "e2e-after", nil)
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	checkOutcome(t, waitResult(t, d.resultsDir, c1, patience), "failed", 1, 1)
}

// The README's default: a dispatcher, a runner and an observer started in one
// directory share its .eventide, and a commit is tested.
func TestOneDataDirForEveryMode(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	dir := t.TempDir()
	d := startDispatcher(t, 0, filepath.Join(dir, "test_results"), nil)
	dataDir := filepath.Join(dir, ".eventide")
	r := startProc(t, "runner", dir, childEnv(), "--mode=runner", "--dispatcher-server", d.addr, "--name", "e2e-shared")
	r.strayDir = dataDir
	d.waitLog(patience, "runner registered", "runner=e2e-shared")
	startProc(t, "observer", dir, childEnv(), "--mode=observer", "--dispatcher-server", d.addr, "--interval", "200ms", repo.dir)
	checkOutcome(t, waitResult(t, d.resultsDir, c1, patience), "failed", 1, 1)
	for _, f := range []string{"eventide.db.lock", "runner/lock"} {
		if !exists(filepath.Join(dataDir, f)) {
			t.Errorf("no lock file %s in the shared data dir", f)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dataDir, "observer", "*.lock")); len(m) != 1 {
		t.Errorf("observer lock files: %v, want one", m)
	}
}

// A second runner on a runner's data dir stops at once, and so does a second
// observer of the same repository; the first ones go on.
func TestSecondRunnerAndObserverRefused(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	dataDir := t.TempDir()
	r := startRunner(t, d.addr, dataDir, "e2e-first", nil)
	d.waitLog(patience, "runner registered", "runner=e2e-first")
	o := startObserver(t, d.addr, dataDir, repo.dir, nil)
	o.waitLog(patience, "commit submitted", "commit="+c1[:12])

	out, errOut, code := runSplit(t, nil, "--mode=runner", "--dispatcher-server", d.addr, "--data-dir", dataDir, "--name", "e2e-second")
	refused(t, out, errOut, code, dataDir, r.cmd.Process.Pid, "a runner's folder")
	out, errOut, code = runSplit(t, nil, "--mode=observer", "--dispatcher-server", d.addr, "--data-dir", dataDir, repo.dir)
	refused(t, out, errOut, code, dataDir, o.cmd.Process.Pid, "the observer's state for "+repo.dir)

	checkOutcome(t, waitResult(t, d.resultsDir, c1, patience), "failed", 1, 1)
	if r.exited() || o.exited() {
		t.Fatalf("a first one exited:\nrunner:\n%s\nobserver:\n%s", r.output(), o.output())
	}
	if d.count("runner registered") != 1 {
		t.Errorf("the second runner registered:\n%s", d.output())
	}
}

// The console hosts a dispatcher, an observer and a local runner on one data
// dir: a headless dispatcher there is refused, a headless runner is not (the
// console's runners have folders of their own).
func TestConsoleDataDirShared(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	dir := t.TempDir()
	c := startConsole(t, dir, "--repo", repo.dir, "--runners", "1", "--port", "0")
	c.waitScreen(patience, regexp.MustCompile(`local-1`), "the local runner")
	dataDir := filepath.Join(dir, ".eventide")
	b, err := os.ReadFile(filepath.Join(dataDir, "eventide.db.lock"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the console's lock file holds %q", b)
	}
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); !strings.Contains(string(cmdline), "--runners") {
		t.Errorf("pid %d in the lock file is not the console: %q", pid, cmdline)
	}

	out, errOut, code := runSplit(t, nil, "--mode=dispatcher", "--host", "127.0.0.1", "--port", "0",
		"--data-dir", dataDir, "--results-dir", filepath.Join(t.TempDir(), "results"))
	refused(t, out, errOut, code, dataDir, pid, "the dispatcher's database")

	// The console's header says where its dispatcher listens.
	addr := regexp.MustCompile(`127\.0\.0\.1:\d+|localhost:\d+|\[::1\]:\d+`).FindString(c.screen())
	if addr == "" {
		t.Fatalf("no address in the console's header:\n%s", c.screen())
	}
	r := startProc(t, "runner", dir, childEnv(), "--mode=runner", "--dispatcher-server", addr, "--name", "e2e-beside")
	r.strayDir = dataDir
	c.waitScreen(patience, regexp.MustCompile(`e2e-beside`), "the headless runner to join")
	if r.exited() {
		t.Fatalf("the headless runner beside the console exited:\n%s", r.output())
	}
	c.keys("q")
	if code, stderr := c.waitExit(patience); code != "0" {
		t.Fatalf("console exit status %s, want 0; stderr:\n%s", code, stderr)
	}
}
