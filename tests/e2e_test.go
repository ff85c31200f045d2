package tests

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkFailing checks that the one failing test is test_bad.
func checkFailing(t *testing.T, r *resultFile) {
	t.Helper()
	f := r.fields["Failing"]
	if len(f) != 1 || !strings.Contains(f[0], "test_bad") {
		t.Errorf("Failing = %q, want one name containing test_bad\n%s", f, r.raw)
	}
}

// TestThreeCommits: the observer's first look dispatches HEAD, then every later
// commit; each gets a result file with the right outcome.
func TestThreeCommits(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "e2e-runner", nil)
	startObserver(t, d.addr, t.TempDir(), repo.dir, nil)

	// Later commits are made only once HEAD was taken: a first look that found
	// them would (by design) dispatch only the newest.
	d.waitLog(patience, "job queued", "commit="+c1[:12])
	c2 := repo.commit("second: vary a file", map[string]string{
		"tests/test_sample.py": sampleTest(0, false, "second"),
		"README":               "second commit\n",
	})
	c3 := repo.commit("third: make every test pass", map[string]string{
		"tests/test_sample.py": sampleTest(0, true, "third"),
	})

	for i, c := range []string{c1, c2} {
		r := waitResult(t, resDir, c, patience)
		checkOutcome(t, r, "failed", 1, 1)
		checkFailing(t, r)
		if r.get("Commit") != c || r.get("Runner") != "e2e-runner" || r.get("Branch") != "main" {
			t.Errorf("commit %d: header names commit %q runner %q branch %q, want %s e2e-runner main",
				i+1, r.get("Commit"), r.get("Runner"), r.get("Branch"), c)
		}
		if r.get("Exit code") == "0" {
			t.Errorf("commit %d: exit code 0 for a failing run", i+1)
		}
	}
	r3 := waitResult(t, resDir, c3, patience)
	t.Logf("result file of the passing commit:\n%s", r3.raw)
	checkOutcome(t, r3, "passed", 2, 0)
	if f := r3.fields["Failing"]; len(f) != 0 {
		t.Errorf("passing commit lists failing tests %q", f)
	}
	if r3.get("Exit code") != "0" {
		t.Errorf("passing commit: Exit code %q, want 0", r3.get("Exit code"))
	}
	if got := results(t, resDir); len(got) != 3 {
		t.Errorf("result files %q, want exactly the 3 commits", got)
	}
	for _, c := range []string{c1, c2, c3} {
		if n := d.count("job queued", "commit="+c[:12]); n != 1 {
			t.Errorf("commit %s queued %d times, want once", c[:12], n)
		}
	}
}

// TestRunnerKilledJobMovesOn: a runner SIGKILLed mid-job loses the job to the
// other runner, which runs it as attempt 2.
func TestRunnerKilledJobMovesOn(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 3)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	marks := t.TempDir()
	names := []string{"e2e-a", "e2e-b"}
	runners := map[string]*proc{}
	for _, n := range names {
		runners[n] = startRunner(t, d.addr, t.TempDir(), n, childEnv("EVENTIDE_E2E_MARKER="+filepath.Join(marks, "started-"+n)))
	}
	for _, n := range names {
		d.waitLog(patience, "runner registered", "runner="+n)
	}
	submitCommit(t, d.addr, "", repo.dir, c1, "main")

	a, b := startedOn(t, marks, names)
	d.waitLog(patience, "job started", "attempt=1", "runner="+a)

	// The runner and its test command both run inside its data dir.
	if n := len(strays(runners[a].strayDir)); n < 2 {
		t.Fatalf("found %d processes working in %s's data dir, want the runner and its test command", n, a)
	}
	killedAt := time.Now()
	runners[a].kill()
	runners[a].wait(patience)
	lost := d.waitLog(patience, "runner lost", "runner="+a)
	// The test command runs in a process group of its own, but must not outlive
	// its runner (the runner asks for SIGKILL on its death).
	waitFor(t, patience, func() bool { return len(strays(runners[a].strayDir)) == 0 },
		"the test processes of the killed runner "+a+" to die")
	requeued := d.waitLog(patience, "job re-queued")
	started := d.waitLog(patience, "job started", "attempt=2", "runner="+b)
	waitFor(t, patience, func() bool { return exists(filepath.Join(marks, "started-"+b)) }, "the tests to start on "+b)
	t.Logf("kill → dispatcher saw runner lost: %v, → job re-queued: %v, → job started on %s: %v",
		lost.at.Sub(killedAt).Round(time.Millisecond), requeued.at.Sub(killedAt).Round(time.Millisecond),
		b, started.at.Sub(killedAt).Round(time.Millisecond))

	r := waitResult(t, resDir, c1, patience)
	checkOutcome(t, r, "failed", 1, 1)
	checkFailing(t, r)
	if got := r.get("Runner"); got != b {
		t.Errorf("Runner = %q, want %q", got, b)
	}
	if job := r.get("Job"); !strings.HasSuffix(job, " attempt 2") {
		t.Errorf("Job = %q, want attempt 2", job)
	}
	retried := r.fields["Retried"]
	if len(retried) != 1 || !strings.Contains(retried[0], "attempt 1 on "+a) || !strings.Contains(retried[0], "lost") {
		t.Errorf("Retried = %q, want one line saying attempt 1 on %s was lost", retried, a)
	}
	if !strings.Contains(r.output, "runner "+b) {
		t.Errorf("output does not come from %s:\n%s", b, r.output)
	}
	if got := results(t, resDir); len(got) != 1 || got[0] != c1 {
		t.Errorf("result files %q, want just %s", got, c1)
	}
	if n := d.count("job finished"); n != 1 {
		t.Errorf("dispatcher logged %d finished jobs, want 1", n)
	}
}

// TestDispatcherRestartDeliversResult: the dispatcher dies mid-job; a new one on
// the same port and results directory gets the result from the reconnecting
// runner.
func TestDispatcherRestartDeliversResult(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 3)
	resDir := filepath.Join(t.TempDir(), "results")
	d1 := startDispatcher(t, 0, resDir, nil)
	marker := filepath.Join(t.TempDir(), "started")
	startRunner(t, d1.addr, t.TempDir(), "e2e-runner", childEnv("EVENTIDE_E2E_MARKER="+marker))
	d1.waitLog(patience, "runner registered", "runner=e2e-runner")
	submitCommit(t, d1.addr, "", repo.dir, c1, "main")
	waitFor(t, patience, func() bool { return exists(marker) }, "the tests to start")

	d1.kill()
	d1.wait(patience)
	d2 := startDispatcher(t, d1.port, resDir, nil)
	if d2.addr != d1.addr {
		t.Fatalf("new dispatcher on %s, want %s", d2.addr, d1.addr)
	}
	d2.waitLog(patience, "runner registered", "runner=e2e-runner", "held=1")
	// The store kept the running job, so the runner reclaims it (not an adoption
	// of an unknown job).
	d2.waitLog(patience, "job reclaimed by its runner after a restart", "runner=e2e-runner")

	r := waitResult(t, resDir, c1, patience)
	t.Logf("result file after the restart:\n%s", r.raw)
	checkOutcome(t, r, "failed", 1, 1)
	checkFailing(t, r)
	if got := r.get("Runner"); got != "e2e-runner" {
		t.Errorf("Runner = %q, want e2e-runner", got)
	}
	if got := r.get("Commit"); got != c1 {
		t.Errorf("Commit = %q, want %s", got, c1)
	}
	if job := r.get("Job"); !strings.HasSuffix(job, " attempt 1") {
		t.Errorf("Job = %q, want attempt 1", job)
	}
	if got := results(t, resDir); len(got) != 1 {
		t.Errorf("result files %q, want just %s", got, c1)
	}
	t.Run("output kept across the restart", func(t *testing.T) {
		// The first dispatcher stored the first chunk(s) in the store, and the
		// new one carries on from their offsets.
		if n := strings.Count(r.output, "eventide: runner e2e-runner, commit "+c1); n != 1 {
			t.Errorf("the runner's header line is in the output %d times, want once", n)
		}
		if strings.Contains(r.output, "bytes of output were lost here") {
			t.Fatal("regression: after a restart the resumed job's logBytes does not count the output the " +
				"store already holds, so a gap is marked right after output that is present")
		}
	})
}

// TestRunnerFrozenJobMovesOn: a runner that stops answering (SIGSTOP: its TCP
// connection stays open) is declared lost after 3 missed heartbeats and its job
// runs elsewhere; once it wakes up, its stale attempt is cancelled, not recorded.
func TestRunnerFrozenJobMovesOn(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 3)
	resDir := filepath.Join(t.TempDir(), "results")
	// Short heartbeats, so that the freeze is noticed quickly; not so short that a
	// busy machine makes the runner that is not frozen look lost too: at 300 ms a
	// runner starved of CPU for 0.9 s (not rare at load 20 under -race) would be
	// lost, and attempt 2 might not be the one on the other runner.
	const hb = time.Second
	d := startDispatcher(t, 0, resDir, nil, "--heartbeat", hb.String())
	marks := t.TempDir()
	names := []string{"e2e-a", "e2e-b"}
	runners := map[string]*proc{}
	for _, n := range names {
		runners[n] = startRunner(t, d.addr, t.TempDir(), n, childEnv("EVENTIDE_E2E_MARKER="+filepath.Join(marks, "started-"+n)))
	}
	for _, n := range names {
		d.waitLog(patience, "runner registered", "runner="+n)
	}
	s1 := submitCommit(t, d.addr, "", repo.dir, c1, "main")
	a, b := startedOn(t, marks, names)
	// Whatever happens below, A must not stay stopped: a stopped process ignores
	// everything but SIGKILL and SIGCONT. (Cleanups run last first, so this runs
	// before the harness kills A.)
	t.Cleanup(func() { runners[a].cmd.Process.Signal(syscall.SIGCONT) })

	frozenAt := time.Now()
	runners[a].signal(syscall.SIGSTOP)
	lost := d.waitLog(patience, "runner lost", "runner="+a)
	started := d.waitLog(patience, "job started", "attempt=2", "runner="+b)
	t.Logf("SIGSTOP → runner lost: %v, → job started on %s: %v (heartbeat %v, 3 missed)",
		lost.at.Sub(frozenAt).Round(time.Millisecond), b, started.at.Sub(frozenAt).Round(time.Millisecond), hb)
	// Silence is counted from the last frame A sent, up to one heartbeat
	// interval before it froze.
	if el := lost.at.Sub(frozenAt); el < 2*hb-50*time.Millisecond {
		t.Errorf("runner declared lost %v after it froze, well before 3 heartbeat intervals of silence", el)
	}
	runners[a].signal(syscall.SIGCONT)
	// It comes back still holding attempt 1, which the dispatcher tells it to drop.
	d.waitLog(patience, "runner registered", "runner="+a, "held=1")
	runners[a].waitLog(patience, "dispatcher says the job moved on")

	r := waitResult(t, resDir, c1, patience)
	checkOutcome(t, r, "failed", 1, 1)
	if got := r.get("Runner"); got != b {
		t.Errorf("Runner = %q, want %q", got, b)
	}
	if job := r.get("Job"); !strings.HasSuffix(job, " attempt 2") {
		t.Errorf("Job = %q, want attempt 2", job)
	}
	if n := d.count("job finished"); n != 1 {
		t.Errorf("dispatcher logged %d finished jobs, want 1", n)
	}
	if _, ok := d.find("job finished", "runner="+a); ok {
		t.Errorf("the stale attempt of %s was recorded", a)
	}
	// The runner dropped exactly the stale attempt when the dispatcher told it to.
	if _, ok := runners[a].find("dispatcher says the job moved on", "job="+s1.JobID, "attempt=1"); !ok {
		t.Errorf("%s did not log that the dispatcher moved job %s on from attempt 1", a, s1.JobID)
	}

	// A, resumed, is healthy: with B gone, the next commit runs on A.
	runners[b].kill()
	runners[b].wait(patience)
	d.waitLog(patience, "runner lost", "runner="+b)
	markA := filepath.Join(marks, "started-"+a)
	if err := os.Remove(markA); err != nil {
		t.Fatal(err)
	}
	c2 := repo.commit("second: make every test pass", map[string]string{
		"tests/test_sample.py": sampleTest(0, true, "second"),
	})
	s2 := submitCommit(t, d.addr, "", repo.dir, c2, "main")
	d.waitLog(patience, "job started", "job="+s2.JobID, "attempt=1", "runner="+a)
	waitFor(t, patience, func() bool {
		got, err := os.ReadFile(markA)
		return err == nil && string(got) == c2
	}, "the tests of the second commit to start on "+a)
	r2 := waitResult(t, resDir, c2, patience)
	checkOutcome(t, r2, "passed", 2, 0)
	if got := r2.get("Runner"); got != a {
		t.Errorf("second commit: Runner = %q, want %q", got, a)
	}
	if job := r2.get("Job"); !strings.HasPrefix(job, s2.JobID) || !strings.HasSuffix(job, " attempt 1") {
		t.Errorf("second commit: Job = %q, want job %s attempt 1", job, s2.JobID)
	}
	if retried := r2.fields["Retried"]; len(retried) != 0 {
		t.Errorf("second commit: Retried = %q, want none", retried)
	}
	runners[a].waitLog(patience, "result delivered", "job="+s2.JobID, "attempt=1", "status=passed")
	d.waitLog(patience, "job finished", "job="+s2.JobID, "attempt=1", "runner="+a, "status=passed")

	// Checked last, once A has delivered a later result: the stale attempt was
	// never delivered nor recorded.
	if l, ok := runners[a].find("result delivered", "job="+s1.JobID); ok {
		t.Errorf("%s delivered the result of its stale attempt: %s", a, l.text)
	}
	if l, ok := d.find("job finished", "job="+s1.JobID, "runner="+a); ok {
		t.Errorf("the stale attempt of %s was recorded: %s", a, l.text)
	}
	if n := d.count("job finished"); n != 2 {
		t.Errorf("dispatcher logged %d finished jobs, want 2", n)
	}
	if got := results(t, resDir); len(got) != 2 {
		t.Errorf("result files %q, want just %s and %s", got, c1, c2)
	}
	if runners[a].exited() {
		t.Errorf("%s exited", a)
	}
}

// snapshot lists every path under dir (skipping the subtrees skip) with its size
// and modification time.
func snapshot(t *testing.T, dir string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if slices.Contains(skip, path) {
			return filepath.SkipDir
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out[path] = info.Mode().String() + " " + strconv.FormatInt(info.Size(), 10) + " " + info.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// etcNames lists /etc (names only: other programs may touch the files).
func etcNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestBadInputRefused sends a dispatcher garbage, refused handshakes and invalid
// requests over raw sockets; each gets its error code, and the dispatcher goes on
// serving its runner and observers.
func TestBadInputRefused(t *testing.T) {
	t.Parallel()
	const token = "s3cret"
	repo, head := newRepo(t, 0)
	base := t.TempDir()
	resDir := filepath.Join(base, "results")
	// Long enough for a 1 MiB line to arrive on a busy machine before the
	// handshake times out (that subtest wants -32700, not a timeout); 2 s left
	// a dispatcher built with -race little room at load 20.
	const handshake = 5 * time.Second
	d := startDispatcher(t, 0, resDir, nil, "--token", token, "--handshake-timeout", handshake.String())
	startRunner(t, d.addr, t.TempDir(), "e2e-runner", childEnv("EVENTIDE_TOKEN="+token))
	d.waitLog(patience, "runner registered", "runner=e2e-runner")

	// The dispatcher's own database changes for reasons of its own (the runner's
	// record, say); that no bad input became a job is checked from its log below.
	dataDir := filepath.Join(base, ".eventide")
	before := snapshot(t, base, resDir, dataDir)
	etcBefore := etcNames(t)
	passwd, err := os.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("not JSON", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		rc.send("not json\n")
		rc.expectError(-32700, patience)
		rc.expectClosed(patience)
	})

	t.Run("line over 1 MiB", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		go func() {
			// The dispatcher may hang up before reading it all: errors are expected.
			rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			rc.c.Write(append(bytes.Repeat([]byte("a"), 1<<20+100), '\n'))
		}()
		rc.expectError(-32700, patience)
		rc.expectClosed(patience)
	})

	t.Run("protocol version 99", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		f := rc.hello(map[string]any{"role": "observer", "protocol_version": 99, "name": "e2e-raw", "token": token})
		if f.Error == nil || f.Error.Code != -32001 || f.ID != 1 {
			t.Fatalf("want error -32001, got %+v", f)
		}
		rc.expectClosed(patience)
	})

	for _, tc := range []struct {
		name  string
		token any
	}{{"no token", nil}, {"wrong token", "s3cre7"}, {"empty token", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, d.addr)
			p := map[string]any{"role": "observer", "protocol_version": 1, "name": "e2e-raw"}
			if tc.token != nil {
				p["token"] = tc.token
			}
			f := rc.hello(p)
			if f.Error == nil || f.Error.Code != -32000 || f.ID != 1 {
				t.Fatalf("want error -32000, got %+v", f)
			}
			rc.expectClosed(patience)
		})
	}

	t.Run("silent client", func(t *testing.T) {
		start := time.Now()
		rc := dialRaw(t, d.addr)
		rc.expectError(-32002, patience)
		rc.expectClosed(patience)
		if el := time.Since(start); el < handshake-50*time.Millisecond {
			t.Errorf("dropped after %v, before the %v handshake timeout", el, handshake)
		}
	})

	// A protocol violation (-32601, -32602, -32002) is answered and then the
	// connection is closed (docs/PROTOCOL.md §6), so each gets its own connection.
	t.Run("hostile submit", func(t *testing.T) {
		for _, p := range []map[string]any{
			{"repo": repo.dir, "commit": "../../etc/passwd", "branch": "main"},
			{"repo": repo.dir, "commit": "--upload-pack=x", "branch": "main"},
			{"repo": "--upload-pack=x", "commit": head, "branch": "main"},
			{"repo": repo.dir, "commit": head, "branch": "--upload-pack=x"},
			{"repo": "ext::sh -c touch% /tmp/pwned", "commit": head},
			{"repo": "relative/path", "commit": head},
		} {
			rc := dialRaw(t, d.addr)
			rc.observerHello(token)
			f := rc.call(2, "commit.submit", p)
			if f.Error == nil || f.Error.Code != -32602 {
				b, _ := json.Marshal(f)
				t.Errorf("commit.submit %v: want error -32602, got %s", p, b)
				continue
			}
			rc.expectClosed(patience)
		}
	})

	t.Run("unknown method", func(t *testing.T) {
		for _, m := range []string{"frobnicate", "job.result", "job.assign"} {
			rc := dialRaw(t, d.addr)
			rc.observerHello(token)
			f := rc.call(2, m, map[string]any{})
			if f.Error == nil || f.Error.Code != -32601 {
				t.Errorf("method %q: want error -32601, got %+v", m, f)
				continue
			}
			rc.expectClosed(patience)
		}
	})

	t.Run("unknown notification", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		rc.observerHello(token)
		rc.send(`{"jsonrpc":"2.0","method":"frobnicate","params":{}}` + "\n")
		if f := rc.expectError(-32601, patience); f.ID != 0 {
			t.Errorf("error about a notification has id %d, want none", f.ID)
		}
		rc.expectClosed(patience)
	})

	t.Run("second hello", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		rc.observerHello(token)
		f := rc.call(2, "hello", map[string]any{"role": "observer", "protocol_version": 1, "name": "e2e-raw", "token": token})
		if f.Error == nil || f.Error.Code != -32002 {
			t.Fatalf("second hello: want error -32002, got %+v", f)
		}
		rc.expectClosed(patience)
	})

	t.Run("runner with 0 slots", func(t *testing.T) {
		rc := dialRaw(t, d.addr)
		f := rc.hello(map[string]any{"role": "runner", "protocol_version": 1, "name": "e2e-zero", "token": token, "slots": 0})
		if f.Error == nil || f.Error.Code != -32602 || f.ID != 1 {
			t.Fatalf("want error -32602 in reply to the hello, got %+v", f)
		}
		rc.expectClosed(patience)
	})

	// Nothing was written outside the results directory, nor in it.
	after := snapshot(t, base, resDir, dataDir)
	if l, ok := d.find("job queued"); ok {
		t.Errorf("bad input became a job: %s", l.text)
	}
	for p, v := range after {
		if before[p] != v {
			t.Errorf("%s appeared or changed (%s → %s)", p, before[p], v)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s disappeared", p)
		}
	}
	if got := etcNames(t); !slices.Equal(got, etcBefore) {
		t.Errorf("/etc changed: before %q, after %q", etcBefore, got)
	}
	if p2, err := os.Stat("/etc/passwd"); err != nil || !p2.ModTime().Equal(passwd.ModTime()) || p2.Size() != passwd.Size() {
		t.Errorf("/etc/passwd changed: %v", err)
	}
	for _, p := range []string{filepath.Join(filepath.Dir(base), "etc"), filepath.Join(base, "etc")} {
		if exists(p) {
			t.Errorf("%s was created", p)
		}
	}
	if got := results(t, resDir); len(got) != 0 {
		t.Errorf("result files %q appeared for refused submissions", got)
	}

	// The runner stayed connected, and a proper observer still gets results.
	if d.count("runner lost") != 0 {
		t.Errorf("the runner was lost during the bad input")
	}
	startObserver(t, d.addr, t.TempDir(), repo.dir, childEnv("EVENTIDE_TOKEN="+token))
	r := waitResult(t, resDir, head, patience)
	checkOutcome(t, r, "failed", 1, 1)
	checkFailing(t, r)
	if got := results(t, resDir); len(got) != 1 {
		t.Errorf("result files %q, want just %s", got, head)
	}
}

// TestStartupErrors: mistakes the user can fix exit 2 with a message naming
// what is wrong.
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	t.Run("observer of a missing repository", func(t *testing.T) {
		out, code := runBinary(t, patience, "--mode=observer", "--data-dir", t.TempDir(), "/no/such/repo")
		if code != 2 {
			t.Errorf("exit %d, want 2; output:\n%s", code, out)
		}
		if msg := oneLine(t, out); !strings.Contains(msg, "/no/such/repo") {
			t.Errorf("message %q does not name the path", msg)
		}
	})

	t.Run("runner with a bad dispatcher address", func(t *testing.T) {
		out, code := runBinary(t, patience, "--mode=runner", "--data-dir", t.TempDir(), "--dispatcher-server", "nonsense")
		if code != 2 {
			t.Errorf("exit %d, want 2; output:\n%s", code, out)
		}
		if msg := oneLine(t, out); !strings.Contains(msg, "nonsense") {
			t.Errorf("message %q does not name the address", msg)
		}
	})

	t.Run("dispatcher on a port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addr := l.Addr().String()
		_, port, _ := strings.Cut(addr, ":")
		out, code := runBinary(t, patience, "--mode=dispatcher", "--host", "127.0.0.1", "--port", port,
			"--results-dir", filepath.Join(t.TempDir(), "results"))
		if code != 2 {
			t.Errorf("exit %d, want 2; output:\n%s", code, out)
		}
		if msg := oneLine(t, out); !strings.Contains(msg, addr) {
			t.Errorf("message %q does not name %s", msg, addr)
		}
	})

	// The store's bad states stop the dispatcher at once (exit 2, not a crash
	// loop of panics) with a message that names the file and what to do.
	for _, tc := range []struct {
		name  string
		prep  func(t *testing.T, dataDir string) string // returns what the message must name
		wants []string
	}{
		{"data dir is a file", func(t *testing.T, dataDir string) string {
			if err := os.WriteFile(dataDir, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dataDir
		}, []string{"data directory", "--data-dir"}},
		{"database is not a database", func(t *testing.T, dataDir string) string {
			os.MkdirAll(dataDir, 0o755)
			db := filepath.Join(dataDir, "eventide.db")
			if err := os.WriteFile(db, bytes.Repeat([]byte("garbage!"), 1024), 0o644); err != nil {
				t.Fatal(err)
			}
			return db
		}, []string{"corrupt", "backup"}},
		{"database from a newer eventide", func(t *testing.T, dataDir string) string {
			os.MkdirAll(dataDir, 0o755)
			db := filepath.Join(dataDir, "eventide.db")
			py := "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version=99'); c.execute('CREATE TABLE x(y)'); c.commit()"
			if out, err := exec.Command("python3", "-c", py, db).CombinedOutput(); err != nil {
				t.Fatalf("making a newer database: %v\n%s", err, out)
			}
			return db
		}, []string{"schema version 99", "newer"}},
	} {
		t.Run("dispatcher with "+tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			names := tc.prep(t, dataDir)
			out, code := runBinary(t, patience, "--mode=dispatcher", "--host", "127.0.0.1", "--port", "0",
				"--data-dir", dataDir, "--results-dir", filepath.Join(t.TempDir(), "results"))
			if code != 2 {
				t.Errorf("exit %d, want 2; output:\n%s", code, out)
			}
			msg := oneLine(t, out)
			for _, want := range append(tc.wants, names) {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
		})
	}

	t.Run("help", func(t *testing.T) {
		out, code := runBinary(t, patience, "--help")
		if code != 0 {
			t.Errorf("exit %d, want 0; output:\n%s", code, out)
		}
		for _, m := range []string{"--mode=dispatcher", "--mode=runner", "--mode=observer"} {
			if !strings.Contains(out, m) {
				t.Errorf("--help does not mention %s:\n%s", m, out)
			}
		}
	})
}

// TestRunnerStartedBeforeDispatcher: a runner waits for a dispatcher that is not
// there yet and serves it once it comes.
func TestRunnerStartedBeforeDispatcher(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	port := reservePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	r := startRunner(t, addr, t.TempDir(), "e2e-early", nil)
	r.waitLog(patience, "waiting for the dispatcher", "addr="+addr)

	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, port, resDir, nil)
	d.waitLog(patience, "runner registered", "runner=e2e-early")
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	res := waitResult(t, resDir, c1, patience)
	checkOutcome(t, res, "failed", 1, 1)
	if got := res.get("Runner"); got != "e2e-early" {
		t.Errorf("Runner = %q, want e2e-early", got)
	}
}

// TestObserverRestartNoRepeat: an observer restarted with its data dir submits
// only what is new since it stopped.
func TestObserverRestartNoRepeat(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "e2e-runner", nil)
	obsData := t.TempDir()

	o1 := startObserver(t, d.addr, obsData, repo.dir, nil)
	d.waitLog(patience, "job queued", "commit="+c1[:12])
	c2 := repo.commit("second", map[string]string{"tests/test_sample.py": sampleTest(0, false, "second")})
	waitResult(t, resDir, c1, patience)
	waitResult(t, resDir, c2, patience)
	o1.signal(syscall.SIGTERM)
	if code := o1.wait(patience); code != 0 {
		t.Errorf("observer exited %d on SIGTERM, want 0", code)
	}

	c3 := repo.commit("third", map[string]string{"tests/test_sample.py": sampleTest(0, false, "third")})
	c4 := repo.commit("fourth", map[string]string{"tests/test_sample.py": sampleTest(0, false, "fourth")})
	o2 := startObserver(t, d.addr, obsData, repo.dir, nil)
	for _, c := range []string{c3, c4} {
		r := waitResult(t, resDir, c, patience)
		checkOutcome(t, r, "failed", 1, 1)
	}
	// The restarted observer submits oldest first, so a repeat of c1 or c2 would
	// have been queued before c4.
	if got := results(t, resDir); len(got) != 4 {
		t.Errorf("result files %q, want 4", got)
	}
	if n := d.count("job queued"); n != 4 {
		t.Errorf("dispatcher queued %d jobs, want 4", n)
	}
	for i, c := range []string{c1, c2, c3, c4} {
		if n := d.count("job queued", "commit="+c[:12]); n != 1 {
			t.Errorf("commit %d (%s) queued %d times, want once", i+1, c[:12], n)
		}
	}
	for _, c := range []string{c1, c2} {
		if _, ok := o2.find("commit submitted", "commit="+c[:12]); ok {
			t.Errorf("restarted observer submitted %s again", c[:12])
		}
	}
}

// TestRunnerSIGTERMDrains: SIGTERM lets a busy runner finish and deliver its job,
// then it exits 0; it takes no new job meanwhile, and that job waits in the queue
// for the next runner.
func TestRunnerSIGTERMDrains(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 2)
	c2 := repo.commit("fast", map[string]string{"tests/test_sample.py": sampleTest(0, false, "fast")})
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	marker := filepath.Join(t.TempDir(), "started")
	r := startRunner(t, d.addr, t.TempDir(), "e2e-drain", childEnv("EVENTIDE_E2E_MARKER="+marker))
	d.waitLog(patience, "runner registered", "runner=e2e-drain")
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	waitFor(t, patience, func() bool { return exists(marker) }, "the tests to start")

	r.signal(syscall.SIGTERM)
	d.waitLog(patience, "runner draining", "runner=e2e-drain")
	submitCommit(t, d.addr, "", repo.dir, c2, "main")

	res := waitResult(t, resDir, c1, patience)
	checkOutcome(t, res, "failed", 1, 1)
	if got := res.get("Runner"); got != "e2e-drain" {
		t.Errorf("Runner = %q, want e2e-drain", got)
	}
	if code := r.wait(patience); code != 0 {
		t.Errorf("runner exited %d after draining, want 0", code)
	}
	if n := r.count("job accepted"); n != 1 {
		t.Errorf("draining runner accepted %d jobs, want only the first", n)
	}
	if exists(filepath.Join(resDir, c2)) {
		t.Errorf("the job submitted during the drain has a result before any runner could take it")
	}

	startRunner(t, d.addr, t.TempDir(), "e2e-next", nil)
	res2 := waitResult(t, resDir, c2, patience)
	checkOutcome(t, res2, "failed", 1, 1)
	if got := res2.get("Runner"); got != "e2e-next" {
		t.Errorf("Runner = %q, want e2e-next", got)
	}
	if job := res2.get("Job"); !strings.HasSuffix(job, " attempt 1") {
		t.Errorf("Job = %q, want attempt 1 (no attempt wasted on the draining runner)", job)
	}
}
