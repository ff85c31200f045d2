package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A runner with no dispatcher gives up after --dispatcher-timeout, saying why.
func TestRunnerGivesUpWithoutDispatcher(t *testing.T) {
	t.Parallel()
	port := reservePort(t)
	r := startRunner(t, "127.0.0.1:"+strconv.Itoa(port), t.TempDir(), "e2e-lonely", nil, "--dispatcher-timeout", "700ms")
	r.waitLog(patience, "waiting for the dispatcher")
	if code := r.wait(patience); code != 1 {
		t.Errorf("runner exited %d, want 1", code)
	}
	if _, ok := r.find("runner exiting", "no dispatcher"); !ok {
		t.Errorf("no log line saying why the runner gave up:\n%s", r.output())
	}
}

// A second SIGTERM cancels the job in hand (its processes die) and the runner
// exits; the job is an infrastructure failure, run again by the next runner.
func TestRunnerSecondSIGTERMCancels(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	// Slow only on the runner that has E2E_SLOW set, so the retry is quick.
	c1 := repo.commit("slow here", map[string]string{".eventide.yml": `command: |
  if [ -n "$E2E_SLOW" ]; then touch "$EVENTIDE_E2E_MARKER"; sleep 60; fi
  python3 -m unittest discover -s tests -v
`})
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	marker := filepath.Join(t.TempDir(), "started")
	r := startRunner(t, d.addr, t.TempDir(), "e2e-stop", childEnv("EVENTIDE_E2E_MARKER="+marker, "E2E_SLOW=1"), "--grace", "500ms")
	d.waitLog(patience, "runner registered", "runner=e2e-stop")
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	waitFor(t, patience, func() bool { return exists(marker) }, "the tests to start")

	r.signal(syscall.SIGTERM)
	r.waitLog(patience, "draining")
	stopped := time.Now()
	r.signal(syscall.SIGTERM)
	r.wait(patience)
	// The job sleeps 60 s: stopping well inside that shows the second SIGTERM
	// cut the job short instead of waiting for it. Not tighter: a busy machine
	// may take seconds to start, signal and reap the processes.
	took := time.Since(stopped)
	t.Logf("stopped %v after the second SIGTERM (grace 500ms)", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("runner took %v to stop after the second SIGTERM: it waited for the job", took)
	}
	waitFor(t, patience, func() bool { return len(strays(r.strayDir)) == 0 }, "the cancelled test processes to die")
	d.waitLog(patience, "job re-queued", "runner stopping")

	startRunner(t, d.addr, t.TempDir(), "e2e-next", nil)
	res := waitResult(t, resDir, c1, patience)
	checkOutcome(t, res, "failed", 1, 1)
	if job := res.get("Job"); !strings.HasSuffix(job, " attempt 2") {
		t.Errorf("Job = %q, want attempt 2", job)
	}
}

// A broken .eventide.yml ends the job as error with the parser's message and line;
// a repository's own command and timeout are used, and a timeout is an error.
func TestRepositoryConfig(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "e2e-config", nil)
	d.waitLog(patience, "runner registered", "runner=e2e-config")

	broken := repo.commit("broken config", map[string]string{".eventide.yml": "command: echo hi\ntimeout: [1,\n"})
	submitCommit(t, d.addr, "", repo.dir, broken, "main")
	res := waitResult(t, resDir, broken, patience)
	if res.get("Status") != "error" || !strings.Contains(res.get("Reason"), "line") {
		t.Errorf("broken .eventide.yml: Status %q Reason %q, want error naming the line\n%s", res.get("Status"), res.get("Reason"), res.raw)
	}

	custom := repo.commit("custom command", map[string]string{".eventide.yml": "command: echo '3 passed, 1 failed'; exit 1\n"})
	submitCommit(t, d.addr, "", repo.dir, custom, "main")
	res = waitResult(t, resDir, custom, patience)
	if res.get("Status") != "failed" || res.get("Tests") != "3 passed, 1 failed, 0 errors, 0 skipped" {
		t.Errorf("custom command: Status %q Tests %q\n%s", res.get("Status"), res.get("Tests"), res.raw)
	}

	slow := repo.commit("slow command", map[string]string{".eventide.yml": "command: sleep 30\ntimeout: 1s\n"})
	submitCommit(t, d.addr, "", repo.dir, slow, "main")
	res = waitResult(t, resDir, slow, patience)
	if res.get("Status") != "error" || !strings.Contains(res.get("Reason"), "timed out after 1s") {
		t.Errorf("timeout: Status %q Reason %q\n%s", res.get("Status"), res.get("Reason"), res.raw)
	}

	repo.git("rm", "-q", "-r", "tests", ".eventide.yml")
	repo.git("commit", "-q", "-m", "no tests at all")
	none := repo.git("rev-parse", "HEAD")
	submitCommit(t, d.addr, "", repo.dir, none, "main")
	res = waitResult(t, resDir, none, patience)
	if res.get("Status") != "error" || !strings.Contains(res.get("Reason"), "no tests found") {
		t.Errorf("no tests: Status %q Reason %q\n%s", res.get("Status"), res.get("Reason"), res.raw)
	}
}

// A runner, an observer and notify refuse to start with a git too old for them,
// saying which version they need; a bare dispatcher does not need git.
func TestOldGitRefused(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	fake := "#!/bin/sh\nfor a; do [ \"$a\" = version ] && { echo 'git version 2.20.1'; exit 0; }; done\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	env := childEnv("PATH=" + bin + ":" + os.Getenv("PATH"))
	for _, args := range [][]string{
		{"--mode=runner", "--dispatcher-server", "127.0.0.1:1"},
		{"--mode=observer", "--dispatcher-server", "127.0.0.1:1", t.TempDir()},
		{"notify", "--dispatcher-server", "127.0.0.1:1", t.TempDir()},
	} {
		p := startProc(t, args[0], t.TempDir(), env, args...)
		if code := p.wait(patience); code != 2 {
			t.Errorf("%v exited %d, want 2:\n%s", args, code, p.output())
		}
		p.waitLog(patience, "git 2.20 is too old: Eventide needs git 2.29 or newer")
	}
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), env)
	if d.exited() {
		t.Fatalf("the dispatcher refused to start:\n%s", d.output())
	}
}
