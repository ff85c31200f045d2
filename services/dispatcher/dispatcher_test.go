package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

func newTestDispatcher(t *testing.T, cfg Config) *Dispatcher {
	t.Helper()
	if cfg.ResultsDir == "" {
		cfg.ResultsDir = filepath.Join(t.TempDir(), "results")
	}
	if cfg.DataDir == "" && cfg.Store == nil {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	cfg.Heartbeat = time.Second // the product's: no test here is about heartbeats (timers_test.go is)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d
}

// fakeRunner speaks the real protocol over a net.Pipe and records assignments.
type fakeRunner struct {
	conn    *peer.Conn
	assigns chan wire.Assign
	refuse  bool
	done    chan struct{}
}

func connectRunner(t *testing.T, d *Dispatcher, name string, slots int, held ...wire.HeldJob) (*fakeRunner, *wire.Welcome) {
	t.Helper()
	return connectRunnerHello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: slots, Jobs: held})
}

func connectRunnerHello(t *testing.T, d *Dispatcher, h *wire.Hello) (*fakeRunner, *wire.Welcome) {
	t.Helper()
	a, b := net.Pipe()
	go d.ServeConn(a)
	c, w, err := peer.Handshake(context.Background(), b, withIdentity(d, h), peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fr := &fakeRunner{conn: c, assigns: make(chan wire.Assign, 16), done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		c.Serve(context.Background(), onAssign(func(as wire.Assign) error {
			if fr.refuse {
				return wire.Errorf(wire.CodeRefused, "no")
			}
			fr.assigns <- as
			return nil
		}))
	}()
	t.Cleanup(func() { c.Close(); <-fr.done })
	return fr, w
}

// onAssign is a fake runner's handler: it decodes each job.assign and answers
// with what take returns; other messages are ignored.
func onAssign(take func(wire.Assign) error) peer.Handler {
	return peer.HandlerFunc(func(_ context.Context, m string, p json.RawMessage) (any, error) {
		if m != wire.MethodJobAssign {
			return nil, nil
		}
		var as wire.Assign
		if err := wire.Decode(m, p, &as); err != nil {
			return nil, err
		}
		return nil, take(as)
	})
}

func (fr *fakeRunner) next(t *testing.T) wire.Assign {
	t.Helper()
	select {
	case a := <-fr.assigns:
		return a
	case <-time.After(testkit.Patience):
		t.Fatal("no assignment within 5s")
		return wire.Assign{}
	}
}

func (fr *fakeRunner) finish(t *testing.T, a wire.Assign, status string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := fr.conn.Call(ctx, wire.MethodJobOutput, &wire.Output{JobID: a.JobID, Attempt: a.Attempt, Seq: 1, Data: "Ran 2 tests\n"}, nil); err != nil {
		return err
	}
	now := time.Now()
	return fr.conn.Call(ctx, wire.MethodJobResult, &wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: status,
		StartedAt: now, FinishedAt: now, OutputBytes: 12, Summary: wire.Summary{Passed: 1, Failed: 1, Failing: []string{"test_bad (t.T.test_bad)"}}}, nil)
}

func commit(n byte) string { return strings.Repeat(string(rune('a'+n)), 40) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testkit.Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubmitDedupesActiveJobs(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	s1, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if err != nil || s1.Duplicate {
		t.Fatalf("first submit: %+v %v", s1, err)
	}
	s2, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if !s2.Duplicate || s2.JobID != s1.JobID {
		t.Fatalf("second submit of a queued commit: %+v", s2)
	}
	s3, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/other", Commit: commit(0)})
	if s3.Duplicate {
		t.Fatal("same commit of another repository was deduplicated")
	}
	if _, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: "../../tmp/pwned"}); err == nil {
		t.Fatal("a path as commit id was accepted")
	}
}

func TestFIFOAndResultFile(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	fr, _ := connectRunner(t, d, "r1", 1)
	var ids []string
	for i := range 3 {
		s, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(byte(i)), Branch: "main"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.JobID)
	}
	for i := range 3 {
		a := fr.next(t)
		if a.JobID != ids[i] || a.Attempt != 1 {
			t.Fatalf("assignment %d: got %s attempt %d, want %s attempt 1 (FIFO)", i, a.JobID, a.Attempt, ids[i])
		}
		if err := fr.finish(t, a, wire.StatusFailed); err != nil {
			t.Fatal(err)
		}
		// A second delivery of the same result is acknowledged, not recorded twice.
		if err := fr.finish(t, a, wire.StatusFailed); err != nil {
			t.Fatalf("repeated result: %v", err)
		}
	}
	b := readResult(t, d, commit(2))
	for _, want := range []string{"Status:    failed", "Tests:     1 passed, 1 failed, 0 errors, 0 skipped",
		"Failing:   test_bad (t.T.test_bad)", "Runner:    r1", "--- output ---\nRan 2 tests\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("result file lacks %q:\n%s", want, b)
		}
	}
}

func TestRunnerLostRequeuesWithNextAttempt(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{MaxAttempts: 2})
	r1, _ := connectRunner(t, d, "r1", 1)
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a1 := r1.next(t)
	waitFor(t, "job running", func() bool { j, _ := d.findJob(s.JobID); return j.State == wire.StateRunning })
	r2, _ := connectRunner(t, d, "r2", 1)
	r1.conn.Close() // runner lost: closed connection
	a2 := r2.next(t)
	if a2.JobID != a1.JobID || a2.Attempt != 2 {
		t.Fatalf("re-assignment: %+v", a2)
	}
	// Fencing: the old attempt's late output and result are refused.
	var we *wire.Error
	err := r2.finish(t, a1, wire.StatusPassed)
	if !errors.As(err, &we) || we.Code != wire.CodeStaleAttempt {
		t.Fatalf("late result of attempt 1: %v, want stale attempt", err)
	}
	// Losing the second runner uses up the attempts: the job ends as error.
	r2.conn.Close()
	waitFor(t, "job error", func() bool { j, _ := d.findJob(s.JobID); return j.State == wire.StatusError })
	j, _ := d.findJob(s.JobID)
	if !strings.Contains(j.Reason, "gave up after 2 attempts") || !strings.Contains(j.Reason, "r2 lost") {
		t.Fatalf("reason %q", j.Reason)
	}
	readResult(t, d, commit(0)) // the job that gave up has one too
}

func TestRefusalRequeues(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{MaxAttempts: 3})
	bad, _ := connectRunner(t, d, "a-refuser", 1)
	bad.refuse = true
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	waitFor(t, "refusals to use up attempts", func() bool { j, _ := d.findJob(s.JobID); return j.State == wire.StatusError })
	j, _ := d.findJob(s.JobID)
	if j.Attempt != 3 || len(j.Attempts) != 3 || j.Attempts[0].Outcome != "refused" {
		t.Fatalf("attempts: %+v", j.Attempts)
	}
}

func TestInfraErrorRetriedTestFailureNot(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	now := time.Now()
	ctx := context.Background()
	if err := r.conn.Call(ctx, wire.MethodJobResult, &wire.Result{JobID: a.JobID, Attempt: 1, Status: wire.StatusError,
		Infra: true, Reason: "checkout failed", StartedAt: now, FinishedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	a2 := r.next(t)
	if a2.Attempt != 2 {
		t.Fatalf("infra error not retried: %+v", a2)
	}
	if err := r.finish(t, a2, wire.StatusFailed); err != nil {
		t.Fatal(err)
	}
	select {
	case a3 := <-r.assigns:
		t.Fatalf("a test failure was re-run: %+v", a3)
	default:
	}
	if j, _ := d.findJob(s.JobID); j.State != wire.StatusFailed {
		t.Fatalf("state %s", j.State)
	}
}

func TestReconnectedRunnerKeepsItsJob(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	// The same runner reconnects (say, after a network blip) holding the job.
	r2, w := connectRunner(t, d, "r1", 1, wire.HeldJob{Assign: a})
	if len(w.Cancel) != 0 {
		t.Fatalf("held job cancelled: %v", w.Cancel)
	}
	if err := r2.finish(t, a, wire.StatusPassed); err != nil {
		t.Fatalf("result after reconnect: %v", err)
	}
}

// A hello listing a job the dispatcher never issued gets it cancelled, never
// adopted: its result is refused and no verdict is recorded.
func TestHeldJobNeverIssuedIsCancelled(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	a := wire.Assign{JobID: "0123456789abcdef", Attempt: 1, Repo: "/r", Commit: commit(3), Branch: "main"}
	r, w := connectRunner(t, d, "r1", 1, wire.HeldJob{Assign: a, Finished: true})
	if len(w.Cancel) != 1 || w.Cancel[0] != a.JobID {
		t.Fatalf("cancel = %v, want the unknown job", w.Cancel)
	}
	if err := r.finish(t, a, wire.StatusPassed); !isCode(err, wire.CodeUnknownJob) {
		t.Fatalf("result of a job never issued: %v, want code %d", err, wire.CodeUnknownJob)
	}
	if j, ok := d.findJob(a.JobID); ok {
		t.Fatalf("a job never issued is known now: %+v", j)
	}
}

func TestOutputDedupedByOffset(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	ctx := context.Background()
	send := func(seq uint64, off int64, data string) {
		t.Helper()
		if err := r.conn.Call(ctx, wire.MethodJobOutput, &wire.Output{JobID: a.JobID, Attempt: 1, Seq: seq, Offset: off, Data: data}, nil); err != nil {
			t.Fatal(err)
		}
	}
	send(1, 0, "hello ")
	send(1, 0, "hello ")       // repeated after a reconnect
	send(2, 3, "lo world\n")   // overlapping
	send(3, 20, "after gap\n") // bytes 15-19 lost
	now := time.Now()
	if err := r.conn.Call(ctx, wire.MethodJobResult, &wire.Result{JobID: a.JobID, Attempt: 1, Status: wire.StatusPassed,
		StartedAt: now, FinishedAt: now, OutputBytes: 30}, nil); err != nil {
		t.Fatal(err)
	}
	b := readResult(t, d, commit(0))
	_, out, _ := strings.Cut(string(b), "--- output ---\n")
	want := "hello world\n\n[eventide: 8 bytes of output were lost here]\nafter gap\n"
	if out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

// A runner that reconnects holding an older attempt than the one assigned to it
// gets that attempt cancelled, and the job goes back to the queue (not stuck).
func TestReconnectWithOlderAttemptRequeues(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{MaxAttempts: 5})
	r, _ := connectRunner(t, d, "r1", 1)
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a1 := r.next(t)
	// The dispatcher moves the job to attempt 2 on the same runner (as after an
	// infrastructure error), and the runner reconnects still holding attempt 1.
	d.mu.Lock()
	j := d.jobs[s.JobID]
	d.retryInfraLocked(j, "test")
	d.mu.Unlock()
	a2 := r.next(t)
	if a2.Attempt != 2 {
		t.Fatalf("attempt %d, want 2", a2.Attempt)
	}
	r2, w := connectRunner(t, d, "r1", 1, wire.HeldJob{Assign: a1})
	if len(w.Cancel) != 1 || w.Cancel[0] != s.JobID {
		t.Fatalf("welcome cancel %v, want the stale attempt", w.Cancel)
	}
	a3 := r2.next(t)
	if a3.JobID != s.JobID || a3.Attempt != 3 {
		t.Fatalf("re-queued job offered as %+v, want attempt 3", a3)
	}
}

// Stopping the dispatcher is not losing the runners: no job is retried or failed.
func TestShutdownFailsNothing(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{MaxAttempts: 1})
	r, _ := connectRunner(t, d, "r1", 1)
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	r.next(t)
	waitFor(t, "job running", func() bool { j, _ := d.findJob(s.JobID); return j.State == wire.StateRunning })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := d.findJob(s.JobID); j.State != wire.StateRunning {
		t.Fatalf("after shutdown the job is %s (%s), want still running on its runner", j.State, j.Reason)
	}
	if _, err := os.Stat(filepath.Join(d.cfg.ResultsDir, commit(0))); err == nil {
		t.Fatal("shutdown wrote a result file")
	}
}

// A runner that says hello as draining is offered nothing; a live one gets the job.
func TestDrainingHelloGetsNoJobs(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	drainer, _ := connectRunnerHello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "a-drainer", Slots: 4, Draining: true})
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	live, _ := connectRunner(t, d, "z-live", 1)
	a := live.next(t)
	if a.JobID != s.JobID || a.Attempt != 1 {
		t.Fatalf("assignment %+v", a)
	}
	select {
	case got := <-drainer.assigns:
		t.Fatalf("draining runner was offered %+v", got)
	default:
	}
}

func TestFinishedJobsAreEvicted(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{KeepFinished: 2})
	r, _ := connectRunner(t, d, "r1", 1)
	var ids []string
	for i := range 3 {
		s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(byte(i))})
		ids = append(ids, s.JobID)
		if err := r.finish(t, r.next(t), wire.StatusPassed); err != nil {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	_, inMemory := d.jobs[ids[0]]
	_, kept := d.jobs[ids[2]]
	d.mu.Unlock()
	if inMemory || !kept {
		t.Errorf("oldest finished job in memory: %v, newest: %v; want false, true", inMemory, kept)
	}
	// The store still has it.
	if j, ok := d.findJob(ids[0]); !ok || j.State != wire.StatusPassed {
		t.Errorf("evicted job from the store: %+v, %v", j, ok)
	}
	readResult(t, d, commit(0))
}

// readResult waits for a result file (they are written just after the result is
// stored) and returns it.
func readResult(t *testing.T, d *Dispatcher, commit string) []byte {
	t.Helper()
	path := filepath.Join(d.cfg.ResultsDir, commit)
	waitFor(t, "result file "+commit[:8], func() bool { _, err := os.Stat(path); return err == nil })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
