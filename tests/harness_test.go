// Package tests holds Eventide's end-to-end tests: they build the real binary once
// and run dispatchers, runners and observers as separate processes talking over
// loopback TCP, against throwaway git repositories.
package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// binary is the eventide binary as shipped, and raceBinary the same built with
// the race detector, both built by TestMain. The tests in raceTests run
// raceBinary; the others binary. The race detector costs 2-10 times the CPU and
// several times the memory of every process, and the end-to-end tests start
// hundreds of them: with it everywhere the suite needed nearly 4 minutes on an
// idle 2-core machine. Data races in the product are the business of the package
// tests, which all run under -race (the dispatcher's over real TCP with runners
// and consoles); here the race build keeps the runs with the most concurrency in
// the most processes: fault injection (SIGKILLs of runners and dispatchers
// while 100 jobs run) and the connection flood. EVENTIDE_E2E_RACE=0 builds
// only the shipped binary (for measurements), =1 runs every test on the race
// build.
var binary, raceBinary string

// raceTests are the top-level tests that run raceBinary.
var raceTests = []string{"TestFaultInjection", "TestFaultSoak", "TestFloodAdmission"}

// binaryFor is the binary t's processes run.
func binaryFor(t testing.TB) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	if slices.Contains(raceTests, top) {
		return raceBinary
	}
	return binary
}

// raceBuild reports whether t's processes run the race-detector build.
func raceBuild(t testing.TB) bool { return binaryFor(t) == raceBinary && raceBinary != binary }

// Most tests here call t.Parallel: each has its own temporary directories,
// ports, data dirs and tmux socket, and most of their time is spent waiting for
// processes, so two at a time use a 2-core machine better. The heavy ones (fault
// injection, the flood, the load smoke test) stay serial, so that what they log
// is about Eventide rather than their neighbours.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	testkit.RaiseParallel(testkit.WaitingParallel)
	dir, err := os.MkdirTemp("", "eventide-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary, raceBinary = filepath.Join(dir, "eventide"), filepath.Join(dir, "eventide-race")
	builds := map[string][]string{binary: nil, raceBinary: {"-race"}}
	switch os.Getenv("EVENTIDE_E2E_RACE") {
	case "0":
		raceBinary = binary
		delete(builds, filepath.Join(dir, "eventide-race"))
	case "1":
		binary = raceBinary
		delete(builds, filepath.Join(dir, "eventide"))
	}
	errs := make(chan error, len(builds))
	for out, flags := range builds {
		go func() {
			build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, "github.com/eventide-ci/eventide")...)
			build.Dir = ".." // the module root
			if b, err := build.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("building %s: %v\n%s", filepath.Base(out), err, b)
				return
			}
			errs <- nil
		}()
	}
	for range builds {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return m.Run()
}

// ---------------------------------------------------------------------------
// Waiting

// patience bounds a wait for something that should happen within seconds (see
// testkit.Patience: a stuck test fails, a slow machine does not).
const patience = testkit.Patience

// waitFor polls cond every 10 ms until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// ---------------------------------------------------------------------------
// Processes

// logLine is one line a child printed, with the time the test read it.
type logLine struct {
	at   time.Time
	text string
}

// proc is a child process whose combined output is kept line by line.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	buf   bytes.Buffer
	lines []logLine

	readDone chan struct{} // the output pipe reached EOF
	done     chan struct{} // the process has been waited for
	state    *os.ProcessState
	waitErr  error
	// strayDir, when set, is a directory whose processes (test commands that a
	// killed runner left behind in their own process groups) are killed at cleanup.
	strayDir string
}

// childEnv is the environment of every child: the test's own, without any
// EVENTIDE_* variable, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "EVENTIDE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startProc starts the binary with args in its own process group, in dir. It is killed
// (SIGKILL to the group) and waited for at cleanup, and its output is logged
// when the test failed.
func startProc(t testing.TB, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binaryFor(t), args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	pw.Close()
	p := &proc{t: t, name: name, cmd: cmd, readDone: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.readDone)
		defer pr.Close()
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				p.mu.Lock()
				p.buf.WriteString(line)
				p.lines = append(p.lines, logLine{at: time.Now(), text: strings.TrimRight(line, "\n")})
				p.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.state, p.waitErr = cmd.ProcessState, err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(patience):
			t.Errorf("%s: not reaped %v after SIGKILL", name, patience)
		}
		if p.strayDir != "" {
			killStrays(p.strayDir)
		}
		select {
		case <-p.readDone:
		case <-time.After(5 * time.Second):
		}
		out := p.output()
		// Under the race build a data race in a child is a product bug.
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("---- output of %s (%v) ----\n%s", name, args, out)
		}
	})
	return p
}

// kill SIGKILLs the process group, if the process still runs.
func (p *proc) kill() {
	if !p.exited() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// signal sends sig to the process alone.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: sending %v: %v", p.name, sig, err)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit code (-1 when killed
// by a signal).
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	// The process has exited, but its last lines may still be in the pipe: read
	// them before anyone looks. A test process it left behind may hold the pipe
	// open, so this is bounded.
	select {
	case <-p.readDone:
	case <-time.After(10 * time.Second):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ExitCode()
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// find returns the first line containing every one of subs.
func (p *proc) find(subs ...string) (logLine, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if containsAll(l.text, subs) {
			return l, true
		}
	}
	return logLine{}, false
}

// count counts the lines containing every one of subs.
func (p *proc) count(subs ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if containsAll(l.text, subs) {
			n++
		}
	}
	return n
}

// waitLog waits for a line containing every one of subs and returns it.
func (p *proc) waitLog(timeout time.Duration, subs ...string) logLine {
	p.t.Helper()
	var got logLine
	waitFor(p.t, timeout, func() bool {
		var ok bool
		got, ok = p.find(subs...)
		return ok
	}, fmt.Sprintf("%s to log a line with %q", p.name, subs))
	return got
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// killStrays SIGKILLs every process whose working directory is inside dir: test
// commands of a SIGKILLed runner live on in their own process groups.
func killStrays(dir string) {
	for _, pid := range strays(dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// strays lists the processes whose working directory is inside dir.
func strays(dir string) []int {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ---------------------------------------------------------------------------
// The services

var listenRE = regexp.MustCompile(`msg="dispatcher listening".* addr=(\S+)`)

// dispatcher is a running dispatcher process.
type dispatcher struct {
	*proc
	addr       string
	port       int
	resultsDir string
	// fingerprint is its certificate's, from its first log line, and tls a client
	// configuration pinning it, when it speaks TLS (startTLSDispatcher); the
	// in-process clients (dialVia) then speak TLS too.
	fingerprint string
	tls         *tls.Config
}

// startDispatcher starts a dispatcher on 127.0.0.1 (port 0 picks one) writing to
// resultsDir, with a 100ms heartbeat; extra flags are appended. It runs in the
// parent of resultsDir, so a stray relative write would land where tests look.
// testHeartbeat is the dispatcher's heartbeat in the end-to-end tests: the
// production default, because a peer silent for 3 intervals is declared lost, and
// a busy machine can stall a process (above all one built with -race) for longer
// than a few hundred milliseconds. A test about heartbeats passes its own
// --heartbeat.
const testHeartbeat = "1s"

func startDispatcher(t testing.TB, port int, resultsDir string, env []string, extra ...string) *dispatcher {
	t.Helper()
	if env == nil {
		env = childEnv()
	}
	args := []string{"--mode=dispatcher", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--results-dir", resultsDir}
	if !slices.Contains(extra, "--heartbeat") {
		args = append(args, "--heartbeat", testHeartbeat)
	}
	args = append(args, extra...)
	p := startProc(t, "dispatcher", filepath.Dir(resultsDir), env, args...)
	var addr string
	waitFor(t, patience, func() bool {
		if l, ok := p.find(`msg="dispatcher listening"`); ok {
			if m := listenRE.FindStringSubmatch(l.text); m != nil {
				addr = m[1]
				return true
			}
		}
		if p.exited() {
			t.Fatalf("dispatcher exited at start:\n%s", p.output())
		}
		return false
	}, "the dispatcher to listen")
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("dispatcher address %q: %v", addr, err)
	}
	n, _ := strconv.Atoi(portStr)
	return &dispatcher{proc: p, addr: addr, port: n, resultsDir: resultsDir}
}

// startRunner starts a runner named name with its own data dir.
func startRunner(t testing.TB, addr, dataDir, name string, env []string, extra ...string) *proc {
	t.Helper()
	if env == nil {
		env = childEnv()
	}
	args := append([]string{"--mode=runner", "--dispatcher-server", addr, "--data-dir", dataDir, "--name", name}, extra...)
	p := startProc(t, "runner "+name, dataDir, env, args...)
	p.strayDir = dataDir
	return p
}

// startObserver starts an observer of repo looking every 200ms; extra flags go
// before the repository.
func startObserver(t testing.TB, addr, dataDir, repo string, env []string, extra ...string) *proc {
	t.Helper()
	if env == nil {
		env = childEnv()
	}
	args := append([]string{"--mode=observer", "--dispatcher-server", addr,
		"--interval", "200ms", "--data-dir", dataDir, "--name", "e2e-observer"}, extra...)
	return startProc(t, "observer", dataDir, env, append(args, repo)...)
}

// reservePort returns a port that was free a moment ago.
func reservePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// ---------------------------------------------------------------------------
// Result files

// results lists the result files (not the hidden work files) in dir.
func results(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

// resultFile is a parsed test_results/<commit> file.
type resultFile struct {
	raw     string
	fields  map[string][]string // header key → values, in order
	output  string
	summary string
}

func (r *resultFile) get(key string) string {
	if v := r.fields[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseResult(t testing.TB, raw string) *resultFile {
	t.Helper()
	head, out, ok := strings.Cut(raw, "\n--- output ---\n")
	if !ok {
		t.Fatalf("result file has no output marker:\n%s", raw)
	}
	r := &resultFile{raw: raw, fields: map[string][]string{}, output: out, summary: head}
	for _, line := range strings.Split(head, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			continue
		}
		r.fields[k] = append(r.fields[k], strings.TrimSpace(v))
	}
	return r
}

// waitResult waits for dir/commit and parses it.
func waitResult(t testing.TB, dir, commit string, timeout time.Duration) *resultFile {
	t.Helper()
	path := filepath.Join(dir, commit)
	waitFor(t, timeout, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, "result file "+path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseResult(t, string(b))
}

// checkOutcome checks a result's status and test counts.
func checkOutcome(t testing.TB, r *resultFile, status string, passed, failed int) {
	t.Helper()
	if got := r.get("Status"); got != status {
		t.Errorf("Status = %q, want %q\n%s", got, status, r.raw)
	}
	want := fmt.Sprintf("%d passed, %d failed, 0 errors, 0 skipped", passed, failed)
	if got := r.get("Tests"); got != want {
		t.Errorf("Tests = %q, want %q\n%s", got, want, r.raw)
	}
	if !strings.Contains(r.output, fmt.Sprintf("Ran %d tests", passed+failed)) {
		t.Errorf("output lacks unittest's %q:\n%s", fmt.Sprintf("Ran %d tests", passed+failed), r.raw)
	}
}

// ---------------------------------------------------------------------------
// Git repositories

// sampleTest is tests/test_sample.py: test_good passes after sleeping SLEEP
// seconds; test_bad fails unless it is told to pass. When the test process has
// EVENTIDE_E2E_MARKER set, it first creates that file, so a test can tell when
// (and on which runner) the tests are running.
func sampleTest(sleep float64, badPasses bool, note string) string {
	return fmt.Sprintf(`import os
import time
import unittest

SLEEP = %v
BAD_PASSES = %s
NOTE = %q


class SampleTest(unittest.TestCase):
    def test_good(self):
        marker = os.environ.get("EVENTIDE_E2E_MARKER")
        if marker:
            with open(marker, "w") as f:
                f.write(os.environ.get("EVENTIDE_COMMIT", ""))
        time.sleep(SLEEP)
        self.assertEqual(1 + 1, 2)

    def test_bad(self):
        self.assertTrue(BAD_PASSES, "this test fails on purpose")


if __name__ == "__main__":
    unittest.main()
`, sleep, map[bool]string{true: "True", false: "False"}[badPasses], note)
}

// gitRepo is a throwaway repository. Its git commands, and the hooks they run,
// see the children's environment (see childEnv).
type gitRepo struct {
	t   testing.TB
	dir string
	kit *testkit.Repo
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	return g.kit.Git(args...)
}

// newRepo makes a repository on branch main whose first commit holds the
// sample test (one pass, one failure; test_good sleeps sleep seconds).
func newRepo(t testing.TB, sleep float64) (*gitRepo, string) {
	t.Helper()
	kit := testkit.NewRepo(t, "main")
	kit.Base = childEnv()
	g := &gitRepo{t: t, dir: kit.Dir, kit: kit}
	sha := g.commit("first commit", map[string]string{"tests/test_sample.py": sampleTest(sleep, false, "first")})
	return g, sha
}

// commit writes files (path relative to the repository → content), commits
// them all and returns the new commit's id.
func (g *gitRepo) commit(msg string, files map[string]string) string {
	g.t.Helper()
	return g.kit.Commit(msg, files)
}

// commitTimed is commit that also returns the moment just before `git commit`
// ran: where a commit → result measurement starts.
func (g *gitRepo) commitTimed(msg string, files map[string]string) (string, time.Time) {
	g.t.Helper()
	g.kit.WriteFiles(files)
	g.git("add", "--all")
	start := time.Now()
	return g.kit.Commit(msg, nil), start
}

// startedOn waits until one of two runners (started with EVENTIDE_E2E_MARKER set to
// marks/started-NAME) has started the tests of a job, and returns its name and the
// other's.
func startedOn(t testing.TB, marks string, names []string) (a, b string) {
	t.Helper()
	waitFor(t, patience, func() bool {
		for i, n := range names {
			if exists(filepath.Join(marks, "started-"+n)) {
				a, b = n, names[1-i]
				return true
			}
		}
		return false
	}, "the tests to start on a runner")
	return a, b
}

// ---------------------------------------------------------------------------
// A raw protocol client

// frame is a JSON-RPC 2.0 frame as it travels.
type frame struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      uint64          `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// rawConn is a plain TCP connection to the dispatcher.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	wm sync.Mutex // serialises writes with the heartbeat goroutine
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

// send writes s as it is.
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if err := rc.write(s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) write(s string) error {
	rc.wm.Lock()
	defer rc.wm.Unlock()
	rc.c.SetWriteDeadline(time.Now().Add(patience))
	_, err := io.WriteString(rc.c, s)
	return err
}

// keepAlive sends a heartbeat every 50ms until the connection fails, as a
// client must once admitted (the dispatcher drops one silent for 3 intervals).
func (rc *rawConn) keepAlive() {
	go func() {
		for {
			time.Sleep(50 * time.Millisecond) // pacing, not synchronisation
			if rc.write(`{"jsonrpc":"2.0","method":"heartbeat"}`+"\n") != nil {
				return
			}
		}
	}()
}

// request sends a request frame.
func (rc *rawConn) request(id uint64, method string, params any) {
	rc.t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		rc.t.Fatal(err)
	}
	b, err := json.Marshal(frame{JSONRPC: "2.0", ID: id, Method: method, Params: p})
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.send(string(b) + "\n")
}

// read returns the next frame other than a heartbeat, or an error (io.EOF when
// the dispatcher closed the connection).
func (rc *rawConn) read(timeout time.Duration) (*frame, error) {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		var f frame
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			return nil, fmt.Errorf("dispatcher sent a line that is not JSON (%v): %q", err, line)
		}
		if f.JSONRPC != "2.0" {
			return nil, fmt.Errorf("dispatcher sent a frame without jsonrpc 2.0: %q", line)
		}
		if f.Method == "heartbeat" && f.ID == 0 {
			continue
		}
		return &f, nil
	}
}

// expectError reads the next frame and checks that it is an error with code.
func (rc *rawConn) expectError(code int, timeout time.Duration) *frame {
	rc.t.Helper()
	f, err := rc.read(timeout)
	if err != nil {
		rc.t.Fatalf("want an error frame with code %d, got %v", code, err)
	}
	if f.Error == nil || f.Error.Code != code {
		b, _ := json.Marshal(f)
		rc.t.Fatalf("want an error frame with code %d, got %s", code, b)
	}
	return f
}

// expectClosed checks that the dispatcher closes the connection with nothing more
// to say.
func (rc *rawConn) expectClosed(timeout time.Duration) {
	rc.t.Helper()
	f, err := rc.read(timeout)
	switch {
	case err == nil:
		b, _ := json.Marshal(f)
		rc.t.Fatalf("want the connection closed, got frame %s", b)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		rc.t.Fatalf("want the connection closed, got %v", err)
	}
}

// hello sends a hello (params as given) with id 1 and returns the reply.
func (rc *rawConn) hello(params map[string]any) *frame {
	rc.t.Helper()
	rc.request(1, "hello", params)
	f, err := rc.read(patience)
	if err != nil {
		rc.t.Fatalf("reading the reply to hello: %v", err)
	}
	return f
}

// observerHello says hello as an observer and requires the welcome.
func (rc *rawConn) observerHello(token string) {
	rc.t.Helper()
	p := map[string]any{"role": "observer", "protocol_version": 1, "name": "e2e-raw"}
	if token != "" {
		p["token"] = token
	}
	f := rc.hello(p)
	if f.Error != nil || f.ID != 1 || len(f.Result) == 0 {
		b, _ := json.Marshal(f)
		rc.t.Fatalf("hello refused: %s", b)
	}
	rc.keepAlive()
}

// submitted is the reply to commit.submit.
type submitted struct {
	JobID     string `json:"job_id"`
	Duplicate bool   `json:"duplicate"`
}

// call sends a request and waits for its reply.
func (rc *rawConn) call(id uint64, method string, params any) *frame {
	rc.t.Helper()
	rc.request(id, method, params)
	for {
		f, err := rc.read(patience)
		if err != nil {
			rc.t.Fatalf("waiting for the reply to %s: %v", method, err)
		}
		if f.ID == id && f.Method == "" {
			return f
		}
	}
}

// submitCommit submits a commit over a fresh raw observer connection.
func submitCommit(t testing.TB, addr, token, repo, commit, branch string) submitted {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.c.Close()
	rc.observerHello(token)
	f := rc.call(2, "commit.submit", map[string]any{"repo": repo, "commit": commit, "branch": branch,
		"message": "submitted by the e2e tests"})
	if f.Error != nil {
		t.Fatalf("commit.submit refused: %d %s", f.Error.Code, f.Error.Message)
	}
	var s submitted
	if err := json.Unmarshal(f.Result, &s); err != nil || s.JobID == "" {
		t.Fatalf("commit.submit reply %s: %v", f.Result, err)
	}
	return s
}

// runBinary runs the binary with args and a time limit, returning its combined
// oneLine returns out, trimmed, failing the test unless it is one line: what a
// user's mistake should get.
func oneLine(t testing.TB, out string) string {
	t.Helper()
	out = strings.TrimSpace(out)
	if strings.Contains(out, "\n") {
		t.Errorf("want a one-line message, got:\n%s", out)
	}
	return out
}

// output and exit code.
func runBinary(t testing.TB, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaryFor(t), args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("eventide %v did not exit within %v:\n%s", args, timeout, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("eventide %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
