package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests play a hostile client holding the runner role's credentials (here:
// no token at all, so enrolment is open) against the real binary, and check that
// a verdict comes only from the runner that was leased the job.

// identity is a runner identity as the dispatcher issues it.
type identity struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// runnerHello says hello as a runner (protocol 8). A draining runner is never
// leased a job, which keeps the hostile client's connections free of work.
func runnerHello(rc *rawConn, name string, id *identity, jobs ...map[string]any) *frame {
	rc.t.Helper()
	p := map[string]any{"role": "runner", "protocol_version": 8, "name": name, "slots": 1, "draining": true}
	if id != nil {
		p["identity"] = id
	} else {
		p["enrol"] = true
	}
	if len(jobs) > 0 {
		p["jobs"] = jobs
	}
	return rc.hello(p)
}

// enrol enrols a fresh identity under name and returns it.
func enrol(t *testing.T, addr, name string) *identity {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.c.Close()
	f := runnerHello(rc, name, nil)
	var w struct {
		Identity *identity `json:"identity"`
	}
	if f.Error != nil || json.Unmarshal(f.Result, &w) != nil || w.Identity == nil || len(w.Identity.Secret) != 64 {
		b, _ := json.Marshal(f)
		t.Fatalf("enrolling %s: %s", name, b)
	}
	return w.Identity
}

func held(id string, attempt int, repo, commit string) map[string]any {
	return map[string]any{"job_id": id, "attempt": attempt, "repo": repo, "commit": commit, "finished": true}
}

func fakeResult(id string, attempt int, status string) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return map[string]any{"job_id": id, "attempt": attempt, "status": status, "exit_code": 0,
		"summary": map[string]any{"passed": 42}, "started_at": now, "finished_at": now, "output_bytes": 0}
}

// attack runs the hostile client's moves against the dispatcher at addr while
// the honest runner holds job (attempt 1 of commit in repo): a takeover under
// the honest runner's name, a hello listing its job and one the dispatcher never
// issued, and results and output for both. Every move must be refused.
func attack(t *testing.T, addr string, mallory *identity, job, repo, commit, fake string) {
	t.Helper()
	// The takeover: the live runner's name with another identity.
	rc := dialRaw(t, addr)
	f := runnerHello(rc, "honest", mallory, held(job, 1, repo, commit))
	if f.Error == nil || f.Error.Code != -32008 || !strings.Contains(f.Error.Message, "revoke the old identity first") {
		b, _ := json.Marshal(f)
		t.Fatalf("takeover hello: want -32008 naming the conflict, got %s", b)
	}
	rc.c.Close()

	// Its own name, listing the honest runner's job and a job never issued: both
	// are cancelled in the welcome, neither is adopted.
	rc = dialRaw(t, addr)
	defer rc.c.Close()
	f = runnerHello(rc, "mallory", mallory, held(job, 1, repo, commit), held(fake, 1, repo, commit))
	var w struct {
		Cancel []string `json:"cancel"`
	}
	if f.Error != nil || json.Unmarshal(f.Result, &w) != nil || len(w.Cancel) != 2 {
		b, _ := json.Marshal(f)
		t.Fatalf("mallory's hello with two jobs not hers: want both cancelled, got %s", b)
	}
	rc.keepAlive()
	for i, call := range []struct {
		method string
		params map[string]any
		code   int
	}{
		{"job.output", map[string]any{"job_id": job, "attempt": 1, "seq": 1, "offset": 0, "data": "all good\n"}, -32003},
		{"job.result", fakeResult(job, 1, "passed"), -32003},
		{"job.result", fakeResult(fake, 1, "passed"), -32004},
	} {
		f := rc.call(uint64(10+i), call.method, call.params)
		if f.Error == nil || f.Error.Code != call.code {
			b, _ := json.Marshal(f)
			t.Fatalf("%s %v: want error %d, got %s", call.method, call.params["job_id"], call.code, b)
		}
	}
}

// TestTakeoverAndForgedVerdictsRefused is issue 13's job takeover and forged
// verdict, before and after a dispatcher restart (the restart while the job
// runs, so the job is an orphan waiting for its runner), and a replay of the
// finished attempt's result, before and after a second restart.
func TestTakeoverAndForgedVerdictsRefused(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 4)
	resDir := filepath.Join(t.TempDir(), "results")
	d1 := startDispatcher(t, 0, resDir, nil)
	marker := filepath.Join(t.TempDir(), "started")
	startRunner(t, d1.addr, t.TempDir(), "honest", childEnv("EVENTIDE_E2E_MARKER="+marker))
	d1.waitLog(patience, "runner registered", "runner=honest")
	job := submitCommit(t, d1.addr, "", repo.dir, c1, "main").JobID
	waitFor(t, patience, func() bool { return exists(marker) }, "the tests to start")

	mallory := enrol(t, d1.addr, "mallory")
	attack(t, d1.addr, mallory, job, repo.dir, c1, "00000000000000f1")
	if _, ok := d1.find("held job refused", "job=00000000000000f1", "identity="+mallory.ID, "remote=127.0.0.1:"); !ok {
		t.Errorf("the refused held job is not logged with the identity and address:\n%s", d1.output())
	}

	// Restart while the job runs: the store says whose lease it is.
	d1.kill()
	d1.wait(patience)
	d2 := startDispatcher(t, d1.port, resDir, nil)
	attack(t, d2.addr, mallory, job, repo.dir, c1, "00000000000000f2")
	d2.waitLog(patience, "job reclaimed by its runner after a restart", "runner=honest")

	r := waitResult(t, resDir, c1, patience)
	checkOutcome(t, r, "failed", 1, 1)

	replay := func(addr string) {
		t.Helper()
		rc := dialRaw(t, addr)
		defer rc.c.Close()
		if f := runnerHello(rc, "mallory", mallory); f.Error != nil {
			t.Fatalf("mallory's hello: %d %s", f.Error.Code, f.Error.Message)
		}
		rc.keepAlive()
		if f := rc.call(20, "job.result", fakeResult(job, 1, "passed")); f.Error == nil || f.Error.Code != -32003 {
			b, _ := json.Marshal(f)
			t.Fatalf("replayed result of attempt 1: want -32003, got %s", b)
		}
	}
	replay(d2.addr)
	d2.kill()
	d2.wait(patience)
	d3 := startDispatcher(t, d1.port, resDir, nil)
	attack(t, d3.addr, mallory, job, repo.dir, c1, "00000000000000f3")
	replay(d3.addr)

	// The verdict stands: the result file and the store's record.
	checkOutcome(t, parseResult(t, readFile(t, filepath.Join(resDir, c1))), "failed", 1, 1)
	rc := dialRaw(t, d3.addr)
	rc.hello(map[string]any{"role": "console", "protocol_version": 8, "name": "e2e-console"})
	rc.keepAlive()
	f := rc.call(2, "job.get", map[string]any{"job_id": job})
	var got struct {
		State string `json:"state"`
	}
	if f.Error != nil || json.Unmarshal(f.Result, &got) != nil || got.State != "failed" {
		t.Fatalf("job.get after the attacks: %s", f.Result)
	}
	for _, d := range []*dispatcher{d1, d2, d3} {
		if n := d.count("job finished", "job="+job); n > 1 {
			t.Errorf("the job finished %d times on one dispatcher", n)
		}
		if _, ok := d.find("adopted"); ok {
			t.Errorf("a dispatcher adopted a job:\n%s", d.output())
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A runner of protocol 7 (no identity) is told to upgrade.
func TestOldRunnerToldToUpgrade(t *testing.T) {
	t.Parallel()
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	rc := dialRaw(t, d.addr)
	f := rc.hello(map[string]any{"role": "runner", "protocol_version": 7, "name": "old", "slots": 1})
	if f.Error == nil || f.Error.Code != -32001 || !strings.Contains(f.Error.Message, "upgrade the runner") {
		b, _ := json.Marshal(f)
		t.Fatalf("version 7 runner: %s", b)
	}
}

// Revocation: the runner's connection closes, it exits 2 saying it was
// revoked, its job is queued again (and runs elsewhere), and its identity is
// refused from then on.
func TestRevokedRunnerExits(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 30)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	marker := filepath.Join(t.TempDir(), "started")
	victimDir := t.TempDir()
	victim := startRunner(t, d.addr, victimDir, "victim", childEnv("EVENTIDE_E2E_MARKER="+marker))
	d.waitLog(patience, "runner registered", "runner=victim")
	victim.waitLog(patience, "enrolled with the dispatcher")
	fi, err := os.Stat(filepath.Join(victimDir, "runner", "runner-identity.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v; want 0600", err, fi)
	}
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	waitFor(t, patience, func() bool { return exists(marker) }, "the tests to start")

	rc := dialRaw(t, d.addr)
	rc.hello(map[string]any{"role": "console", "protocol_version": 8, "name": "e2e-console"})
	rc.keepAlive()
	f := rc.call(2, "runner.revoke", map[string]any{"name": "victim"})
	var rv struct {
		Identity string `json:"identity"`
		Requeued int    `json:"requeued"`
	}
	if f.Error != nil || json.Unmarshal(f.Result, &rv) != nil || rv.Requeued != 1 || rv.Identity == "" {
		b, _ := json.Marshal(f)
		t.Fatalf("runner.revoke: %s", b)
	}
	if code := victim.wait(patience); code != 2 {
		t.Fatalf("revoked runner exited %d, want 2:\n%s", code, victim.output())
	}
	if _, ok := victim.find("runner exiting", "revoked"); !ok {
		t.Errorf("the runner does not say it was revoked:\n%s", victim.output())
	}
	d.waitLog(patience, "job re-queued", "revoked")
	// Its identity stays refused: started again on its data dir, it exits 2 at once.
	again := startRunner(t, d.addr, victimDir, "victim", nil)
	if code := again.wait(patience); code != 2 {
		t.Fatalf("revoked runner started again exited %d, want 2:\n%s", code, again.output())
	}
	// The name is free for a new identity, which runs the re-queued job.
	startRunner(t, d.addr, t.TempDir(), "victim", nil)
	d.waitLog(patience, "runner enrolled", "name=victim")
	d.waitLog(patience, "job started", "attempt=2", "runner=victim")
}

// Two honest runners given the same name: the second is refused and exits 2
// with the dispatcher's reason; the first keeps its connection (no flapping).
func TestSameNameSecondRunnerRefused(t *testing.T) {
	t.Parallel()
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	first := startRunner(t, d.addr, t.TempDir(), "twin", nil)
	d.waitLog(patience, "runner registered", "runner=twin")
	second := startRunner(t, d.addr, t.TempDir(), "twin", nil)
	if code := second.wait(patience); code != 2 {
		t.Fatalf("second runner exited %d, want 2:\n%s", code, second.output())
	}
	if _, ok := second.find("runner exiting", "revoke the old identity first"); !ok {
		t.Errorf("the second runner does not say why:\n%s", second.output())
	}
	if first.exited() || d.count("runner registered", "runner=twin") != 1 || d.count("replacing its old connection") != 0 {
		t.Fatalf("the first runner was disturbed:\n%s", d.output())
	}
	if _, ok := first.find("lost the dispatcher"); ok {
		t.Fatalf("the first runner lost its connection:\n%s", first.output())
	}
}

// A dispatcher on a non-loopback address needs a token, or --insecure.
func TestNonLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, code := runBinary(t, patience, "--mode=dispatcher", "--host", "0.0.0.0", "--port", "0",
		"--data-dir", filepath.Join(dir, "data"), "--results-dir", filepath.Join(dir, "results"))
	if code != 2 || !strings.Contains(out, "--token") || !strings.Contains(out, "--insecure") {
		t.Fatalf("exit %d, want 2 naming --token:\n%s", code, out)
	}
	if exists(filepath.Join(dir, "data")) {
		t.Errorf("the refused dispatcher made its data dir")
	}
	d := startDispatcher(t, 0, filepath.Join(dir, "results"), nil, "--host", "0.0.0.0", "--insecure")
	d.kill()
	d.wait(patience) // the next one uses the same data dir, whose lock this one holds until it is gone
	// A token file is a token too.
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("runner 0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDispatcher(t, 0, filepath.Join(dir, "results2"), nil, "--host", "0.0.0.0", "--token-file", tokens)
	d.kill()
}
