package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// Scoped credentials (--token-file), their reload on SIGHUP, --allow-repo and the
// queue quota per credential, through the real binary.

const (
	codeUnauthorized  = -32000
	codeInvalidParams = -32602
	codeUnknownJob    = -32004
	codeOverQuota     = -32010
)

// A token for each role, long enough for a token file.
func tokenFor(name string) string { return "e2e-" + name + "-0123456789abcdef" }

func writeTokens(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// helloAs opens a connection and says hello in role with token; it returns the
// connection and the reply (a welcome, or the refusal).
func helloAs(t *testing.T, addr, role, token string) (*rawConn, *frame) {
	t.Helper()
	rc := dialRaw(t, addr)
	p := map[string]any{"role": role, "protocol_version": wire.ProtocolVersion, "name": "e2e-" + role, "token": token}
	if role == "runner" {
		p["slots"] = 1
	}
	return rc, rc.hello(p)
}

// admitted says hello and requires the welcome; the connection is kept alive.
func admitted(t *testing.T, addr, role, token string) *rawConn {
	t.Helper()
	rc, f := helloAs(t, addr, role, token)
	if f.Error != nil {
		t.Fatalf("%s refused: %d %s", role, f.Error.Code, f.Error.Message)
	}
	rc.keepAlive()
	return rc
}

func wantError(t *testing.T, f *frame, code int, msg string) {
	t.Helper()
	if f.Error == nil || f.Error.Code != code || !strings.Contains(f.Error.Message, msg) {
		b, _ := json.Marshal(f)
		t.Errorf("want error %d with %q, got %s", code, msg, b)
	}
}

// Each token admits the roles its line lists and no other; a read-only console
// may watch but not retry, stop or drain; the shared --token admits every role;
// no token appears in the log.
func TestScopedTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tf := filepath.Join(dir, "tokens")
	run, obs, con, ro, shared := tokenFor("runner"), tokenFor("observer"), tokenFor("console"), tokenFor("readonly"), tokenFor("shared")
	writeTokens(t, tf, "# one token a line", "runner "+run, "observer "+obs, "", "console "+con, "console-readonly "+ro)
	d := startDispatcher(t, 0, filepath.Join(dir, "results"), nil, "--token-file", tf, "--token", shared)

	for _, c := range []struct{ token, role string }{
		{run, "observer"}, {run, "console"},
		{obs, "runner"}, {obs, "console"},
		{con, "runner"}, {con, "observer"},
		{ro, "runner"}, {ro, "observer"},
	} {
		rc, f := helloAs(t, d.addr, c.role, c.token)
		wantError(t, f, codeUnauthorized, "this token does not allow the "+c.role+" role")
		rc.expectClosed(patience)
	}
	_, f := helloAs(t, d.addr, "console", "e2e-wrong-0123456789abcdef")
	wantError(t, f, codeUnauthorized, "missing or wrong token")

	admitted(t, d.addr, "observer", obs)
	admitted(t, d.addr, "observer", shared)
	admitted(t, d.addr, "console", shared)

	unknown := map[string]any{"job_id": "00000000000000aa"}
	watcher := admitted(t, d.addr, "console", ro)
	if f := watcher.call(2, wire.MethodConsoleSubscribe, map[string]any{}); f.Error != nil {
		t.Errorf("read-only subscribe: %s", f.Error.Message)
	}
	if f := watcher.call(3, wire.MethodJobsList, map[string]any{}); f.Error != nil {
		t.Errorf("read-only jobs.list: %s", f.Error.Message)
	}
	wantError(t, watcher.call(4, wire.MethodJobGet, unknown), codeUnknownJob, "")
	wantError(t, watcher.call(5, wire.MethodJobLog, unknown), codeUnknownJob, "")
	for i, m := range []string{wire.MethodJobRetry, wire.MethodJobStop} {
		wantError(t, watcher.call(uint64(6+i), m, unknown), codeUnauthorized, "read-only console: "+m+" is not allowed")
	}
	wantError(t, watcher.call(8, wire.MethodRunnerStop, map[string]any{"name": "nobody"}), codeUnauthorized, "read-only console")
	// Refused, and still connected.
	if f := watcher.call(9, wire.MethodJobsList, map[string]any{}); f.Error != nil {
		t.Errorf("read-only jobs.list after a refusal: %s", f.Error.Message)
	}

	// The same calls from a full console get past the role: the job is unknown.
	full := admitted(t, d.addr, "console", con)
	wantError(t, full.call(2, wire.MethodJobRetry, unknown), codeUnknownJob, "")
	wantError(t, full.call(3, wire.MethodJobStop, unknown), codeUnknownJob, "")

	d.waitLog(patience, "console connected", "read_only=true", "credential=cred-")
	out := d.output()
	for _, tok := range []string{run, obs, con, ro, shared} {
		if strings.Contains(out, tok) {
			t.Errorf("the dispatcher logged a token")
		}
	}
}

// SIGHUP re-reads the token file: a session whose token was removed is told and
// closed, others go on, a new token is admitted, and a bad file changes nothing.
func TestTokenFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tf := filepath.Join(dir, "tokens")
	old, keep, added := tokenFor("old"), tokenFor("keep"), tokenFor("added")
	writeTokens(t, tf, "console "+old, "observer "+keep)
	d := startDispatcher(t, 0, filepath.Join(dir, "results"), nil, "--token-file", tf)

	gone := admitted(t, d.addr, "console", old)
	stays := admitted(t, d.addr, "observer", keep)
	if _, f := helloAs(t, d.addr, "console", added); f.Error == nil {
		t.Fatal("a token not yet in the file was admitted")
	}

	writeTokens(t, tf, "observer "+keep, "console,console-readonly "+added)
	d.signal(syscall.SIGHUP)
	d.waitLog(patience, "token file reloaded", "credentials=2", "closed=1")
	// Told why, then closed.
	f, err := gone.read(patience)
	if err != nil {
		t.Fatalf("the removed token's console: %v, want an error frame before the close", err)
	}
	wantError(t, f, codeUnauthorized, "no longer accepted")
	gone.expectClosed(patience)
	if _, f := helloAs(t, d.addr, "console", old); f.Error == nil {
		t.Error("a removed token was admitted")
	}
	admitted(t, d.addr, "console", added)
	sub := stays.call(2, wire.MethodCommitSubmit, map[string]any{"repo": filepath.Join(dir, "repo"), "commit": strings.Repeat("ab", 20)})
	if sub.Error != nil {
		t.Errorf("the session whose token stayed: %s", sub.Error.Message)
	}

	// A bad file: logged, and the tokens stay as they were.
	writeTokens(t, tf, "console "+added, "observer "+keep+" stray-field")
	d.signal(syscall.SIGHUP)
	l := d.waitLog(patience, "token file not reloaded", tf+":2: want ROLES TOKEN")
	if strings.Contains(l.text, keep) {
		t.Error("the error shows the token")
	}
	admitted(t, d.addr, "console", added)
	admitted(t, d.addr, "observer", keep)
	if d.exited() {
		t.Fatal("SIGHUP stopped the dispatcher")
	}
}

// --allow-repo: a submission of another location is refused with -32602; the
// patterns match canonical locations, and a non-loopback dispatcher without any
// pattern warns.
func TestAllowRepo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	d := startDispatcher(t, 0, filepath.Join(dir, "results"), nil,
		"--allow-repo", allowed+"/*", "--allow-repo", "https://git.example.com/team/*")
	rc := dialRaw(t, d.addr)
	rc.observerHello("")
	commit := strings.Repeat("c0", 20)
	for i, c := range []struct {
		repo string
		ok   bool
	}{
		{allowed + "/app", true},
		{allowed + "/app2.git/", true},
		{"file://" + allowed + "/app3", true},
		{"https://Git.Example.COM/team/app.git", true},
		{filepath.Join(dir, "other", "app"), false},
		{allowed + "/sub/app", false}, // * does not cross /
		{allowed + "/x/../../other", false},
		{"https://git.example.com/other/app", false},
		{"https://evil.example.com/team/app", false},
	} {
		if !c.ok { // the refusal closes the connection, as any invalid params do
			rc = dialRaw(t, d.addr)
			rc.observerHello("")
		}
		f := rc.call(uint64(2+i), wire.MethodCommitSubmit, map[string]any{"repo": c.repo, "commit": commit})
		switch {
		case c.ok && f.Error != nil:
			t.Errorf("%s refused: %s", c.repo, f.Error.Message)
		case !c.ok:
			wantError(t, f, codeInvalidParams, "repository not allowed: "+c.repo)
		}
	}
	if _, warned := d.find("no --allow-repo"); warned {
		t.Error("a loopback dispatcher warned")
	}

	// On every address, without a pattern: the warning (before the ready line).
	wide := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil, "--host", "0.0.0.0", "--token", tokenFor("wide"))
	if _, warned := wide.find("no --allow-repo"); !warned {
		t.Error("a dispatcher on 0.0.0.0 without --allow-repo did not warn")
	}
}

// --max-queued-per-client 3: a 4th submission of one credential is refused with
// -32010; the observer offers it again until runners make room, and every commit
// is tested once.
func TestQueueQuota(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "tokens")
	obs, run := tokenFor("observer"), tokenFor("runner")
	writeTokens(t, tf, "observer "+obs, "runner "+run)
	d := startDispatcher(t, 0, filepath.Join(dir, "results"), nil, "--token-file", tf, "--max-queued-per-client", "3")
	repo, first := newRepo(t, 0)
	o := startObserver(t, d.addr, t.TempDir(), repo.dir, childEnv("EVENTIDE_TOKEN="+obs))
	d.waitLog(patience, "job queued", "commit="+first[:12])

	commits := []string{first}
	for i := range 5 {
		commits = append(commits, repo.commit(fmt.Sprintf("commit %d", i+1), map[string]string{"n.txt": fmt.Sprint(i)}))
	}
	d.waitLog(patience, "job queued", "commit="+commits[2][:12])
	o.waitLog(patience, "queue quota reached", "commit="+commits[3][:12])
	// The queue holds 3 of this credential's jobs and no runner takes them: the
	// observer is refused the 4th, and so is anyone else with its token.
	rc := dialRaw(t, d.addr)
	rc.observerHello(obs)
	f := rc.call(2, wire.MethodCommitSubmit, map[string]any{"repo": repo.dir, "commit": commits[5], "branch": "main"})
	wantError(t, f, codeOverQuota, "--max-queued-per-client")
	// A duplicate of a queued commit is no new job, and is taken.
	if f := rc.call(3, wire.MethodCommitSubmit, map[string]any{"repo": repo.dir, "commit": commits[1]}); f.Error != nil {
		t.Errorf("a duplicate over the quota: %s", f.Error.Message)
	}
	rc.c.Close()

	startRunner(t, d.addr, t.TempDir(), "quota-runner", childEnv("EVENTIDE_TOKEN="+run))
	for _, c := range commits {
		waitResult(t, d.resultsDir, c, 3*patience)
	}
	for _, c := range commits {
		if n := d.count("job queued", "commit="+c[:12]); n != 1 {
			t.Errorf("commit %s queued %d times, want once", c[:12], n)
		}
		if n := d.count("job started", "commit="+c[:12]); n != 1 {
			t.Errorf("commit %s tested %d times, want once", c[:12], n)
		}
	}
}
