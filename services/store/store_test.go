package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/wire"
)

// base is the fixtures' clock: times round-trip through Unix nanoseconds.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// failHook is a slog handler that reports the writer's failures and recoveries
// on channels, so tests wait on events instead of sleeping.
type failHook struct {
	failed    chan string // the first unread write failure (later ones are dropped)
	recovered chan string // the first unread "writes work again"
}

func newFailHook() *failHook {
	return &failHook{failed: make(chan string, 1), recovered: make(chan string, 1)}
}

func (h *failHook) Enabled(context.Context, slog.Level) bool { return true }

func (h *failHook) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	ch := h.recovered
	if r.Level >= slog.LevelError {
		ch = h.failed
	}
	select {
	case ch <- msg:
	default:
	}
	return nil
}

func (h *failHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *failHook) WithGroup(string) slog.Handler      { return h }

// testStore is a store whose write failures a test can see.
type testStore struct {
	*SQLite
	hook *failHook
}

// openStore opens a store in dir, retrying failed batches every 10ms unless o
// says otherwise, and closes it when the test ends.
func openStore(t testing.TB, dir string, o Options) *testStore {
	t.Helper()
	h := newFailHook()
	if o.Logger == nil {
		o.Logger = slog.New(h)
	}
	if o.RetryEvery == 0 {
		o.RetryEvery = 10 * time.Millisecond
	}
	s, err := OpenSQLite(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testStore{SQLite: s, hook: h}
}

// apply applies ops and waits for their batch; it fails fast if a batch fails
// instead of waiting for retries that will not help.
func (s *testStore) apply(ops ...Op) error {
	tk := s.Apply(ops...)
	timeout := time.NewTimer(testkit.Patience)
	defer timeout.Stop()
	select {
	case <-tk.Done():
		return tk.Wait(context.Background())
	case msg := <-s.hook.failed:
		return fmt.Errorf("the batch failed (it is being retried): %s", msg)
	case <-timeout.C:
		return errors.New("timed out waiting for the batch")
	}
}

func applyOK(t testing.TB, s *testStore, ops ...Op) {
	t.Helper()
	if err := s.apply(ops...); err != nil {
		t.Fatal(err)
	}
}

func testJob(id string, st wire.State, seq int64) Job {
	return Job{
		ID: id, Repo: "github.com/eventide-ci/demo", Commit: "c0mmit-" + id, Branch: "main",
		Author: "Ada <ada@example.com>", Message: "fix: " + id, State: st,
		QueuedAt: base.Add(time.Duration(seq) * time.Second), Seq: seq,
	}
}

func sampleResult(id string, attempt int, fin time.Time) Result {
	return Result{
		Attempt: attempt, Status: wire.StatusFailed, ExitCode: 1,
		Summary: Summary{Passed: 1, Failed: 1, Skipped: 1, Failing: []string{"zeta/TestB"},
			Reported: new(true), Unknown: []string{wire.CountErrors},
			Failures: []Failure{{ID: "zeta/TestB", Message: "b_test.go:9: got 1, want 2", DurationMS: new(int64(12))}}},
		StartedAt: fin.Add(-30 * time.Second), FinishedAt: fin,
		CPUMS:      new(int64(2345)), // peak memory not measured
		TestsTotal: len(sampleTests()),
	}
}

// sampleTests are sampleResult's per-test records.
func sampleTests() []TestRecord {
	return []TestRecord{
		{ID: "zeta/TestB", Suite: "zeta", Outcome: wire.OutcomeFailed, DurationMS: new(int64(12)), Message: "b_test.go:9: got 1, want 2\nmore"},
		{ID: "alpha/TestA", Outcome: wire.OutcomePassed, DurationMS: new(int64(40))},
		{ID: "mid/TestC", Outcome: wire.OutcomeSkipped, Message: "needs a GPU"},
	}
}

// putSample records sampleResult with its tests.
func putSample(id string, attempt int, fin time.Time) PutResult {
	return PutResult{JobID: id, Result: sampleResult(id, attempt, fin), Tests: sampleTests()}
}

// norm makes a job comparable with reflect.DeepEqual: times in UTC, empty
// slices nil.
func norm(j Job) Job {
	j.QueuedAt, j.StartedAt, j.FinishedAt = j.QueuedAt.UTC(), j.StartedAt.UTC(), j.FinishedAt.UTC()
	if len(j.Attempts) == 0 {
		j.Attempts = nil
	} else {
		as := slices.Clone(j.Attempts)
		for i := range as {
			as[i].Assigned, as[i].Ended = as[i].Assigned.UTC(), as[i].Ended.UTC()
		}
		j.Attempts = as
	}
	if j.Result != nil {
		r := *j.Result
		r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), r.FinishedAt.UTC()
		if len(r.Summary.Failing) == 0 {
			r.Summary.Failing = nil
		}
		j.Result = &r
	}
	return j
}

func sameJob(t testing.TB, what string, got, want Job) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, dumpJob(g), dumpJob(w))
	}
}

func dumpJob(j Job) string {
	s := fmt.Sprintf("%+v", j)
	if j.Result != nil {
		s += fmt.Sprintf(" result=%+v", *j.Result)
	}
	return s
}

func ids(jobs []Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func getJob(t testing.TB, s *testStore, id string) Job {
	t.Helper()
	j, err := s.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

func TestPutJobInsertThenUpdate(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	j := testJob("j1", wire.StateQueued, 3)
	applyOK(t, s, PutJob{Job: j})
	sameJob(t, "inserted", getJob(t, s, "j1"), j)

	j.State, j.Attempt, j.Runner, j.Seq = wire.StateRunning, 1, "r1", 9
	j.StartedAt = base.Add(time.Minute)
	j.RetryBase = 1
	applyOK(t, s, PutJob{Job: j})
	sameJob(t, "running", getJob(t, s, "j1"), j)

	j.State, j.Reason, j.FinishedAt, j.FileWritten = wire.StatusError, "runner vanished", base.Add(2*time.Minute), true
	applyOK(t, s, PutJob{Job: j})
	sameJob(t, "finished", getJob(t, s, "j1"), j)

	if _, err := s.Job(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Job(nope) = %v, want ErrNotFound", err)
	}
}

func TestPutJobCoalescesInBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	a1 := testJob("a", wire.StateQueued, 1)
	a2 := a1
	a2.State, a2.Attempt, a2.Runner = wire.StateAssigned, 1, "r1"
	a3 := a2
	a3.State, a3.StartedAt = wire.StateRunning, base.Add(time.Minute)
	b := testJob("b", wire.StateQueued, 2)
	// One Apply is one batch: all of a's rows are written as the last.
	applyOK(t, s, PutJob{Job: a1}, PutJob{Job: a2}, PutJob{Job: b}, PutJob{Job: a3})
	sameJob(t, "a", getJob(t, s, "a"), a3)
	sameJob(t, "b", getJob(t, s, "b"), b)

	// The last PutJob still applies in its place among the other ops.
	a4 := a3
	a4.State, a4.FinishedAt = wire.StatusPassed, base.Add(2*time.Minute)
	applyOK(t, s, PutJob{Job: a3}, PutJob{Job: a4}, MarkFileWritten{JobID: "a"})
	if j := getJob(t, s, "a"); j.State != wire.StatusPassed || !j.FileWritten {
		t.Errorf("after PutJob, MarkFileWritten: state %s file_written %v", j.State, j.FileWritten)
	}
	applyOK(t, s, MarkFileWritten{JobID: "b"}, PutJob{Job: b}, PutJob{Job: b})
	if j := getJob(t, s, "b"); j.FileWritten {
		t.Error("a PutJob after MarkFileWritten in the same batch did not win")
	}
}

// Positions, attempts and runners written several times in one batch end as their
// last change says, and rows that only look alike (another branch, another
// attempt, another runner) are kept apart.
func TestRowsCoalesceInBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	j := testJob("a", wire.StateRunning, 1)
	j.Attempt = 2
	a1 := Attempt{N: 1, Runner: "r1", Assigned: base}
	a1end := a1
	a1end.Ended, a1end.Outcome, a1end.Reason = base.Add(time.Second), "lost", "runner r1 lost"
	a2 := Attempt{N: 2, Runner: "r2", Assigned: base.Add(2 * time.Second)}
	r := Runner{Name: "r1", Slots: 1, FirstSeen: base, LastSeen: base}
	r2 := r
	r2.Slots, r2.Done = 4, 9
	applyOK(t, s,
		PutPosition{Repo: "/r", Branch: "main", Commit: "c1"}, PutJob{Job: j},
		PutAttempt{JobID: "a", Attempt: a1}, PutPosition{Repo: "/r", Branch: "dev", Commit: "d1"},
		PutRunner{Runner: r}, PutAttempt{JobID: "a", Attempt: a1end}, PutAttempt{JobID: "a", Attempt: a2},
		PutPosition{Repo: "/r", Branch: "main", Commit: "c2"}, PutRunner{Runner: r2},
		PutRunner{Runner: Runner{Name: "r2", Slots: 2, FirstSeen: base, LastSeen: base}},
		PutPosition{Repo: "/r", Branch: "main", Commit: "c3"})
	if m, _, err := s.Position(ctx, "/r"); err != nil || !reflect.DeepEqual(m, map[string]string{"main": "c3", "dev": "d1"}) {
		t.Errorf("positions = %v, %v; want main c3, dev d1", m, err)
	}
	got := getJob(t, s, "a")
	if len(got.Attempts) != 2 || got.Attempts[0].Outcome != "lost" || got.Attempts[1].Runner != "r2" {
		t.Errorf("attempts = %+v; want 1 ended lost, 2 on r2", got.Attempts)
	}
	snap, err := s.Load(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Runners) != 2 || snap.Runners[0].Slots != 4 || snap.Runners[0].Done != 9 || snap.Runners[1].Slots != 2 {
		t.Errorf("runners = %+v; want r1 with 4 slots and 9 done, r2 with 2 slots", snap.Runners)
	}
}

// lifecycleOps are the changes a job goes through, in the order the dispatcher
// makes them: queued; assigned with its attempt; running; finished with the
// attempt's end and the result.
func lifecycleOps(id string, seq int64, tests int) [][]Op {
	now := base.Add(time.Duration(seq) * time.Millisecond)
	j := Job{ID: id, Repo: "github.com/eventide-ci/bench", Commit: fmt.Sprintf("%040d", seq), Branch: "main",
		Author: "Ada <ada@example.com>", Message: "make it faster", State: wire.StateQueued, QueuedAt: now, Seq: seq}
	var stages [][]Op
	stages = append(stages, []Op{PutJob{Job: j}})
	j.State, j.Attempt, j.Runner = wire.StateAssigned, 1, "runner-1"
	a := Attempt{N: 1, Runner: "runner-1", Assigned: now.Add(time.Millisecond)}
	stages = append(stages, []Op{PutJob{Job: j}, PutAttempt{JobID: id, Attempt: a}})
	j.State, j.StartedAt = wire.StateRunning, now.Add(2*time.Millisecond)
	stages = append(stages, []Op{PutJob{Job: j}})
	j.State, j.FinishedAt = wire.StatusPassed, now.Add(time.Second)
	a.Ended, a.Outcome = j.FinishedAt, wire.StatusPassed
	res := Result{Attempt: 1, Status: wire.StatusPassed, Summary: Summary{Passed: tests},
		StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, OutputBytes: 1234}
	var recs []TestRecord
	for i := 0; i < tests; i++ {
		recs = append(recs, TestRecord{ID: fmt.Sprintf("pkg/Test%03d", i), Outcome: wire.OutcomePassed})
	}
	stages = append(stages, []Op{PutJob{Job: j}, PutAttempt{JobID: id, Attempt: a},
		PutResult{JobID: id, Repo: j.Repo, Commit: j.Commit, Result: res, Tests: recs}})
	return stages
}

// TestApplyNewJobLifecycleInOneBatch applies a new job's whole lifecycle in one
// batch, as happens when the dispatcher queues, assigns and starts a job (each
// its own Apply) faster than one commit: the batch must commit, and the job
// end as its last PutJob says.
func TestApplyNewJobLifecycleInOneBatch(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3, 4} { // up to assigned, running, finished
		t.Run(fmt.Sprintf("stages%d", n), func(t *testing.T) {
			s := openStore(t, t.TempDir(), Options{})
			var ops []Op
			for _, st := range lifecycleOps("new", 1, 3)[:n] {
				ops = append(ops, st...)
			}
			if err := s.apply(ops...); err != nil {
				t.Fatalf("applying a new job's first %d stages in one batch: %v", n, err)
			}
			var last Job
			for _, op := range ops {
				if pj, ok := op.(PutJob); ok {
					last = pj.Job
				}
			}
			j := getJob(t, s, "new")
			if j.State != last.State || j.Attempt != 1 || len(j.Attempts) != 1 {
				t.Errorf("job = %s, want state %s with one attempt", dumpJob(j), last.State)
			}
			if n == 4 && (j.Result == nil || j.Result.TestsTotal != 3) {
				t.Errorf("result = %+v", j.Result)
			}
		})
	}
}

func TestPutAttempt(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	j := testJob("j", wire.StateAssigned, 1)
	j.Attempt, j.Runner = 1, "r1"
	a1 := Attempt{N: 1, Runner: "r1", Assigned: base.Add(time.Second)}
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: "j", Attempt: a1})
	if got := getJob(t, s, "j").Attempts; len(got) != 1 || !got[0].Assigned.Equal(a1.Assigned) || got[0].Runner != "r1" {
		t.Errorf("attempts = %+v", got)
	}
	// The first attempt is lost; the second goes to another runner.
	a1.Ended, a1.Outcome, a1.Reason = base.Add(time.Minute), "lost", "runner r1 went away"
	a2 := Attempt{N: 2, Runner: "r2", Assigned: base.Add(2 * time.Minute)}
	j.Attempt, j.Runner = 2, "r2"
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: "j", Attempt: a2}, PutAttempt{JobID: "j", Attempt: a1})
	want := j
	want.Attempts = []Attempt{a1, a2}
	sameJob(t, "two attempts", getJob(t, s, "j"), want)

	// An attempt of a job the store does not have is refused and left out, with
	// an error in the log; the rest of its batch, and later batches, go in.
	s2 := openStore(t, t.TempDir(), Options{})
	k := testJob("k", wire.StateQueued, 1)
	tk := s2.Apply(PutJob{Job: k}, PutAttempt{JobID: "ghost", Attempt: a1}, PutAttempt{JobID: "k", Attempt: a1})
	if err := tk.Wait(context.Background()); err != nil {
		t.Fatalf("a batch with one refused change: %v", err)
	}
	select {
	case msg := <-s2.hook.failed:
		if !strings.Contains(msg, "refused a change") || !strings.Contains(msg, "PutAttempt") {
			t.Errorf("log %q does not say which change was refused", msg)
		}
	default:
		t.Error("the refused change was not logged")
	}
	if _, err := s2.Job(context.Background(), "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ghost job: %v, want ErrNotFound", err)
	}
	wantK := k
	wantK.Attempts = []Attempt{a1}
	sameJob(t, "the valid changes of the batch", getJob(t, s2, "k"), wantK)
	applyOK(t, s2, PutJob{Job: testJob("later", wire.StateQueued, 2)})
}

func TestPutResult(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	fin := base.Add(time.Hour)
	j := testJob("j", wire.StatusFailed, 1)
	j.Attempt, j.Runner, j.StartedAt, j.FinishedAt = 1, "r1", base.Add(time.Minute), fin
	a := Attempt{N: 1, Runner: "r1", Assigned: base.Add(time.Second), Ended: fin, Outcome: wire.StatusFailed}
	res := sampleResult("j", 1, fin)
	res.OutputBytes = 0
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: "j", Attempt: a}, PutResult{JobID: "j", Result: res, Tests: sampleTests()})
	want := j
	want.Attempts = []Attempt{a}
	want.Result = &res
	sameJob(t, "Job", getJob(t, s, "j"), want)

	// Jobs lists the result without its per-test outcomes.
	list, _, err := s.Jobs(ctx, JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Result == nil || list[0].Attempts != nil {
		t.Fatalf("Jobs = %+v", list)
	}
	r := list[0].Result
	if r.Status != wire.StatusFailed || r.ExitCode != 1 || r.Summary.Passed != 1 || r.Summary.Failed != 1 ||
		r.Summary.Skipped != 1 || !slices.Equal(r.Summary.Failing, []string{"zeta/TestB"}) || !r.FinishedAt.Equal(fin) {
		t.Errorf("Jobs' result = %+v", *r)
	}

	// A result recorded again for the same attempt replaces the first, tests and all.
	res2 := res
	res2.Status, res2.ExitCode, res2.Reason = wire.StatusError, 2, "timed out"
	res2.Summary = Summary{Errors: 1}
	res2.OutputBytes, res2.TestsTotal = 0, 1
	applyOK(t, s, PutResult{JobID: "j", Result: res2, Tests: []TestRecord{{ID: "only/TestZ", Outcome: wire.OutcomeError}}})
	if p, err := s.Tests(context.Background(), "j", 1, 0, 10, ""); err != nil || p.Total != 1 || len(p.Tests) != 1 || p.Tests[0].ID != "only/TestZ" {
		t.Errorf("replaced result's tests = %+v, %v; want only/TestZ", p, err)
	}
	want.Result = &res2
	sameJob(t, "replaced result", getJob(t, s, "j"), want)

	// A result with no failing tests and no outcomes.
	k := testJob("k", wire.StatusPassed, 2)
	k.Attempt, k.FinishedAt = 1, fin
	resK := Result{Attempt: 1, Status: wire.StatusPassed, Summary: Summary{Passed: 7}, StartedAt: base, FinishedAt: fin}
	applyOK(t, s, PutJob{Job: k}, PutAttempt{JobID: "k", Attempt: Attempt{N: 1, Runner: "r"}}, PutResult{JobID: "k", Result: resK})
	got := getJob(t, s, "k")
	if got.Result == nil || got.Result.Summary.Passed != 7 || len(got.Result.Summary.Failing) != 0 || got.Result.TestsTotal != 0 {
		t.Errorf("k's result = %+v", got.Result)
	}
	if sum := got.Result.Summary; sum.Reported != nil || sum.Unknown != nil || sum.Failures != nil {
		t.Errorf("a result of a runner before protocol 9 reads back as %+v, want reported, unknown and failures unset", sum)
	}

	// A result whose output was not recognised keeps saying so.
	n := testJob("n", wire.StatusPassed, 3)
	n.Attempt, n.FinishedAt = 1, fin
	resN := Result{Attempt: 1, Status: wire.StatusPassed, Summary: Summary{Reported: new(false)}, StartedAt: base, FinishedAt: fin}
	applyOK(t, s, PutJob{Job: n}, PutAttempt{JobID: "n", Attempt: Attempt{N: 1, Runner: "r"}}, PutResult{JobID: "n", Result: resN})
	if got := getJob(t, s, "n"); got.Result == nil || got.Result.Summary.Reported == nil || *got.Result.Summary.Reported {
		t.Errorf("n's result = %+v, want reported false", got.Result)
	}

	// Only the current attempt's result is the job's: once retried, it has none.
	j.State, j.Attempt, j.FinishedAt = wire.StateQueued, 2, time.Time{}
	applyOK(t, s, PutJob{Job: j})
	if got := getJob(t, s, "j"); got.Result != nil {
		t.Errorf("a retried job shows its earlier attempt's result: %+v", got.Result)
	}
	// Outcomes follow the attempt they belong to.
	res3 := sampleResult("j", 2, fin.Add(time.Hour))
	j.State, j.FinishedAt = wire.StatusFailed, fin.Add(time.Hour)
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: "j", Attempt: Attempt{N: 2, Runner: "r2"}}, PutResult{JobID: "j", Result: res3, Tests: sampleTests()})
	if got := getJob(t, s, "j"); got.Result == nil || got.Result.TestsTotal != 3 {
		t.Errorf("attempt 2's result = %+v", got.Result)
	}
	if p, err := s.Tests(context.Background(), "j", 2, 0, 10, ""); err != nil || !reflect.DeepEqual(p.Tests, sampleTests()) {
		t.Errorf("attempt 2's tests = %+v, %v; want %+v", p, err, sampleTests())
	}
}

// logStore returns a store with a job "L" having attempts 1 and 2.
func logStore(t *testing.T) *testStore {
	t.Helper()
	s := openStore(t, t.TempDir(), Options{})
	j := testJob("L", wire.StateRunning, 1)
	j.Attempt, j.Runner = 2, "r"
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: "L", Attempt: Attempt{N: 1, Runner: "r"}},
		PutAttempt{JobID: "L", Attempt: Attempt{N: 2, Runner: "r"}})
	return s
}

func appendChunks(t *testing.T, s *testStore, attempt int, chunks map[int64]string) {
	t.Helper()
	var ops []Op
	for off, d := range chunks {
		ops = append(ops, AppendLog{JobID: "L", Attempt: attempt, Offset: off, Data: d})
	}
	applyOK(t, s, ops...)
}

func readLog(t *testing.T, s *testStore, attempt int, offset int64, limit int) LogPart {
	t.Helper()
	p, err := s.Log(context.Background(), "L", attempt, offset, limit)
	if err != nil {
		t.Fatalf("Log(%d, %d, %d): %v", attempt, offset, limit, err)
	}
	return p
}

func wantPart(t *testing.T, what string, got, want LogPart) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func lostHere(n int) string {
	return fmt.Sprintf("\n[eventide: %d bytes of output were lost here]\n", n)
}
func lostTail(n int) string {
	return fmt.Sprintf("\n[eventide: the last %d bytes of output were lost]\n", n)
}

func TestLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("contiguous", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "hello ", 6: "wörld\n"})
		wantPart(t, "from 0", readLog(t, s, 2, 0, 0), LogPart{Data: "hello wörld\n", Next: 13, Start: 0, End: 13})
		wantPart(t, "from 6", readLog(t, s, 2, 6, 0), LogPart{Data: "wörld\n", Next: 13, Start: 0, End: 13})
		wantPart(t, "inside a chunk", readLog(t, s, 2, 2, 0), LogPart{Data: "llo wörld\n", Next: 13, Start: 0, End: 13})
		wantPart(t, "at the end", readLog(t, s, 2, 13, 0), LogPart{Data: "", Next: 13, Start: 0, End: 13})
		// The other attempt has its own (empty) log.
		wantPart(t, "attempt 1", readLog(t, s, 1, 0, 0), LogPart{})
	})
	t.Run("duplicate append ignored", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "first"})
		applyOK(t, s, AppendLog{JobID: "L", Attempt: 2, Offset: 0, Data: "FIRST"},
			AppendLog{JobID: "L", Attempt: 2, Offset: 5, Data: "+more"}, AppendLog{JobID: "L", Attempt: 2, Offset: 5, Data: "+MORE"})
		wantPart(t, "resent", readLog(t, s, 2, 0, 0), LogPart{Data: "first+more", Next: 10, End: 10})
	})
	t.Run("gaps", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "aaaa", 10: "bbbb", 20: "cc"})
		all := "aaaa" + lostHere(6) + "bbbb" + lostHere(6) + "cc"
		wantPart(t, "from 0", readLog(t, s, 2, 0, 0), LogPart{Data: all, Next: 22, Start: 0, End: 22})
		wantPart(t, "from 2", readLog(t, s, 2, 2, 0), LogPart{Data: "aa" + lostHere(6) + "bbbb" + lostHere(6) + "cc", Next: 22, End: 22})
		wantPart(t, "from inside a gap", readLog(t, s, 2, 6, 0), LogPart{Data: lostHere(4) + "bbbb" + lostHere(6) + "cc", Next: 22, End: 22})
		wantPart(t, "from 12", readLog(t, s, 2, 12, 0), LogPart{Data: "bb" + lostHere(6) + "cc", Next: 22, End: 22})

		s2 := logStore(t)
		appendChunks(t, s2, 1, map[int64]string{5: "xyz"})
		wantPart(t, "lost head", readLog(t, s2, 1, 0, 0), LogPart{Data: lostHere(5) + "xyz", Next: 8, Start: 5, End: 8})
	})
	t.Run("trimmed head", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "0123", 4: "4567", 8: "89ab"})
		applyOK(t, s, TrimLog{JobID: "L", Attempt: 2, Before: 8})
		cut := Extent{Offset: 0, Len: 8}
		wantPart(t, "from 0", readLog(t, s, 2, 0, 0), LogPart{Data: DroppedMarker(8) + "89ab", Next: 12, Start: 8, End: 12, Dropped: cut})
		wantPart(t, "from inside the cut", readLog(t, s, 2, 3, 0), LogPart{Data: DroppedMarker(5) + "89ab", Next: 12, Start: 8, End: 12, Dropped: cut})
		wantPart(t, "from the start", readLog(t, s, 2, 8, 0), LogPart{Data: "89ab", Next: 12, Start: 8, End: 12, Dropped: cut})
		// A later trim below the cut does not lower it; one above it raises it.
		applyOK(t, s, TrimLog{JobID: "L", Attempt: 2, Before: 4}, AppendLog{JobID: "L", Attempt: 2, Offset: 12, Data: "cdef"})
		wantPart(t, "lower trim", readLog(t, s, 2, 0, 0), LogPart{Data: DroppedMarker(8) + "89abcdef", Next: 16, Start: 8, End: 16, Dropped: cut})
		applyOK(t, s, TrimLog{JobID: "L", Attempt: 2, Before: 12})
		cut.Len = 12
		wantPart(t, "second trim", readLog(t, s, 2, 0, 0), LogPart{Data: DroppedMarker(12) + "cdef", Next: 16, Start: 12, End: 16, Dropped: cut})
		// A gap after the cut is a loss, not a cut.
		applyOK(t, s, AppendLog{JobID: "L", Attempt: 2, Offset: 20, Data: "gh"})
		wantPart(t, "gap after cut", readLog(t, s, 2, 12, 0), LogPart{Data: "cdef" + lostHere(4) + "gh", Next: 22, Start: 12, End: 22, Dropped: cut})
		// The trim is the attempt's own.
		appendChunks(t, s, 1, map[int64]string{0: "one"})
		wantPart(t, "attempt 1", readLog(t, s, 1, 0, 0), LogPart{Data: "one", Next: 3, End: 3})
	})
	t.Run("head and tail", func(t *testing.T) {
		// The head stays; the middle goes, the chunk across the cut keeping its
		// part from the cut on.
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "head\n", 5: "0123", 9: "456789", 15: "tail\n"})
		applyOK(t, s, TrimLog{JobID: "L", Attempt: 2, From: 5, Before: 12})
		hole := Extent{Offset: 5, Len: 7}
		wantPart(t, "from 0", readLog(t, s, 2, 0, 0),
			LogPart{Data: "head\n" + DroppedMarker(7) + "789tail\n", Next: 20, Start: 0, End: 20, Dropped: hole})
		wantPart(t, "from the tail", readLog(t, s, 2, 13, 0), LogPart{Data: "89tail\n", Next: 20, Start: 0, End: 20, Dropped: hole})
		wantPart(t, "limited to the head", readLog(t, s, 2, 0, 5), LogPart{Data: "head\n", Next: 5, Start: 0, End: 20, Dropped: hole})
		// The hole grows from the same head.
		applyOK(t, s, AppendLog{JobID: "L", Attempt: 2, Offset: 20, Data: "more"}, TrimLog{JobID: "L", Attempt: 2, From: 5, Before: 17})
		hole.Len = 12
		wantPart(t, "grown", readLog(t, s, 2, 0, 0),
			LogPart{Data: "head\n" + DroppedMarker(12) + "il\nmore", Next: 24, Start: 0, End: 24, Dropped: hole})
	})
	t.Run("missing tail", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 2, map[int64]string{0: "abc"})
		res := Result{Attempt: 2, Status: wire.StatusPassed, StartedAt: base, FinishedAt: base, OutputBytes: 10}
		applyOK(t, s, PutResult{JobID: "L", Result: res})
		wantPart(t, "from 0", readLog(t, s, 2, 0, 0), LogPart{Data: "abc" + lostTail(7), Next: 10, End: 3})
		wantPart(t, "from the stored end", readLog(t, s, 2, 3, 0), LogPart{Data: lostTail(7), Next: 10, End: 3})
		wantPart(t, "from the sent end", readLog(t, s, 2, 10, 0), LogPart{Data: "", Next: 10, End: 3})
		// No marker while the limit is used up by data.
		wantPart(t, "limited", readLog(t, s, 2, 0, 3), LogPart{Data: "abc", Next: 3, End: 3})
		// All of it lost.
		res.Attempt = 1
		res.OutputBytes = 5
		applyOK(t, s, PutResult{JobID: "L", Result: res})
		wantPart(t, "nothing stored", readLog(t, s, 1, 0, 0), LogPart{Data: "[eventide: 5 bytes of output were lost]\n", Next: 5})
		// Everything there: no marker.
		s2 := logStore(t)
		appendChunks(t, s2, 2, map[int64]string{0: "abc", 3: "def"})
		res.Attempt, res.OutputBytes = 2, 6
		applyOK(t, s2, PutResult{JobID: "L", Result: res})
		wantPart(t, "complete", readLog(t, s2, 2, 0, 0), LogPart{Data: "abcdef", Next: 6, End: 6})
	})
	t.Run("limit within a chunk", func(t *testing.T) {
		s := logStore(t)
		text := "日本語のテキスト" // 3 bytes a rune
		appendChunks(t, s, 2, map[int64]string{0: text})
		wantPart(t, "limit 4", readLog(t, s, 2, 0, 4), LogPart{Data: "日", Next: 3, End: int64(len(text))})
		wantPart(t, "limit 6", readLog(t, s, 2, 0, 6), LogPart{Data: "日本", Next: 6, End: int64(len(text))})
		wantPart(t, "limit 8 from 3", readLog(t, s, 2, 3, 8), LogPart{Data: "本語", Next: 9, End: int64(len(text))})
		wantPart(t, "ascii", readLog(t, s, 2, 0, 1000), LogPart{Data: text, Next: int64(len(text)), End: int64(len(text))})
	})
	t.Run("limit across chunks", func(t *testing.T) {
		s := logStore(t)
		text := strings.Repeat("日本語のテキスト、ümlaut ok 🎉 ", 12)
		// Chunks of uneven sizes, cut at rune boundaries as the dispatcher stores them.
		chunks := map[int64]string{}
		sizes := []int{1, 7, 13, 2, 29, 64, 5, 100}
		for off, i := 0, 0; off < len(text); i++ {
			n := min(sizes[i%len(sizes)], len(text)-off)
			for off+n < len(text) && !utf8.RuneStart(text[off+n]) {
				n++
			}
			chunks[int64(off)] = text[off : off+n]
			off += n
		}
		appendChunks(t, s, 2, chunks)
		wantPart(t, "all", readLog(t, s, 2, 0, 0), LogPart{Data: text, Next: int64(len(text)), End: int64(len(text))})
		for _, limit := range []int{4, 5, 7, 16, 33, 100, len(text)} {
			var got strings.Builder
			var off int64
			var problem string // the first, for each limit
			for pages := 0; off < int64(len(text)); pages++ {
				p := readLog(t, s, 2, off, limit)
				switch {
				case problem != "":
				case len(p.Data) > limit:
					problem = fmt.Sprintf("from %d: %d bytes: %q (next %d)", off, len(p.Data), p.Data, p.Next)
				case !utf8.ValidString(p.Data):
					problem = fmt.Sprintf("from %d: a rune is split: %q (next %d)", off, p.Data, p.Next)
				case strings.Contains(p.Data, "[eventide:"):
					problem = fmt.Sprintf("from %d: a marker in a complete log: %q (next %d)", off, p.Data, p.Next)
				}
				if p.Next <= off || pages > len(text) {
					t.Fatalf("limit %d: no progress from %d (next %d)", limit, off, p.Next)
				}
				got.WriteString(p.Data)
				off = p.Next
			}
			if problem != "" {
				t.Errorf("limit %d: %s", limit, problem)
			}
			if got.String() != text {
				t.Errorf("limit %d: the pages put together (%d bytes) are not the log (%d bytes)", limit, got.Len(), len(text))
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := logStore(t)
		appendChunks(t, s, 1, map[int64]string{0: "old"})
		appendChunks(t, s, 2, map[int64]string{0: "new", 3: "er"})
		applyOK(t, s, DeleteLog{JobID: "L", Attempt: 2})
		wantPart(t, "deleted", readLog(t, s, 2, 0, 0), LogPart{})
		wantPart(t, "kept", readLog(t, s, 1, 0, 0), LogPart{Data: "old", Next: 3, End: 3})
		// Deleting nothing is fine.
		applyOK(t, s, DeleteLog{JobID: "L", Attempt: 2}, DeleteLog{JobID: "ghost", Attempt: 1})
	})
	t.Run("not found", func(t *testing.T) {
		s := logStore(t)
		if _, err := s.Log(ctx, "L", 3, 0, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown attempt: %v, want ErrNotFound", err)
		}
		if _, err := s.Log(ctx, "ghost", 1, 0, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown job: %v, want ErrNotFound", err)
		}
	})
}

func TestUnwrittenPages(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	var ops []Op
	for i, id := range []string{"c", "a", "b", "q"} {
		state := wire.State(wire.StatusPassed)
		j := testJob(id, state, int64(i))
		j.FinishedAt = base.Add(time.Duration(10-i) * time.Minute) // q first, c last
		if id == "q" {
			j.State, j.FinishedAt = wire.StateQueued, time.Time{} // not finished: no file yet
		}
		ops = append(ops, PutJob{Job: j})
	}
	applyOK(t, s, ops...)
	got, err := s.Unwritten(ctx, 2)
	if err != nil || !slices.Equal(ids(got), []string{"b", "a"}) {
		t.Fatalf("Unwritten(2) = %v, %v; want the two oldest finished: b, a", ids(got), err)
	}
	applyOK(t, s, MarkFileWritten{JobID: "b"})
	if got, err := s.Unwritten(ctx, 10); err != nil || !slices.Equal(ids(got), []string{"a", "c"}) {
		t.Fatalf("after b's file: Unwritten = %v, %v; want a, c", ids(got), err)
	}
}

func TestMarkFileWritten(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	j := testJob("f", wire.StatusPassed, 1)
	j.FinishedAt = base.Add(time.Hour)
	applyOK(t, s, PutJob{Job: j})
	snap, err := s.Load(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(snap.Unwritten); !slices.Equal(got, []string{"f"}) {
		t.Errorf("unwritten = %v", got)
	}
	applyOK(t, s, MarkFileWritten{JobID: "f"}, MarkFileWritten{JobID: "ghost"})
	if !getJob(t, s, "f").FileWritten {
		t.Error("file_written not set")
	}
	snap, err = s.Load(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Unwritten) != 0 {
		t.Errorf("unwritten = %v", ids(snap.Unwritten))
	}
	if got := ids(snap.Recent); !slices.Equal(got, []string{"f"}) || !snap.Recent[0].FileWritten {
		t.Errorf("recent = %+v", snap.Recent)
	}
}

func normRunner(r Runner) Runner {
	r.FirstSeen, r.LastSeen = r.FirstSeen.UTC(), r.LastSeen.UTC()
	if len(r.Labels) == 0 {
		r.Labels = nil
	}
	return r
}

func TestPutRunner(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	zed := Runner{Name: "zed", Labels: []string{"linux", "gpu"}, Slots: 4, FirstSeen: base, LastSeen: base.Add(time.Minute)}
	alpha := Runner{Name: "alpha", Slots: 1, FirstSeen: base.Add(time.Hour), LastSeen: base.Add(time.Hour)}
	applyOK(t, s, PutRunner{Runner: zed}, PutRunner{Runner: alpha})
	check := func(what string, want ...Runner) {
		t.Helper()
		snap, err := s.Load(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Runners) != len(want) {
			t.Fatalf("%s: runners = %+v", what, snap.Runners)
		}
		for i := range want {
			if g, w := normRunner(snap.Runners[i]), normRunner(want[i]); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: runner %d:\n got %+v\nwant %+v", what, i, g, w)
			}
		}
	}
	check("inserted", alpha, zed)
	// An update keeps when the runner was first seen.
	upd := zed
	upd.Labels, upd.Slots, upd.Done, upd.LastError = []string{"linux"}, 2, 17, "checkout failed"
	upd.FirstSeen, upd.LastSeen = base.Add(24*time.Hour), base.Add(25*time.Hour)
	applyOK(t, s, PutRunner{Runner: upd})
	want := upd
	want.FirstSeen = zed.FirstSeen
	check("updated", alpha, want)
}

func TestPosition(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	m, known, err := s.Position(ctx, "github.com/o/r")
	if err != nil || known || len(m) != 0 {
		t.Fatalf("unknown repo: %v %v %v", m, known, err)
	}
	applyOK(t, s, PutPosition{Repo: "github.com/o/r", Branch: "main", Commit: "c1"},
		PutPosition{Repo: "github.com/o/r", Branch: "dev", Commit: "d1"},
		PutPosition{Repo: "github.com/o/other", Branch: "main", Commit: "x1"})
	applyOK(t, s, PutPosition{Repo: "github.com/o/r", Branch: "main", Commit: "c2"})
	m, known, err = s.Position(ctx, "github.com/o/r")
	if err != nil || !known || !reflect.DeepEqual(m, map[string]string{"main": "c2", "dev": "d1"}) {
		t.Errorf("Position = %v %v %v", m, known, err)
	}
	m, known, err = s.Position(ctx, "github.com/o/other")
	if err != nil || !known || !reflect.DeepEqual(m, map[string]string{"main": "x1"}) {
		t.Errorf("Position(other) = %v %v %v", m, known, err)
	}
	if m, known, err := s.Position(ctx, "github.com/o/unknown"); err != nil || known || len(m) != 0 {
		t.Errorf("unknown repo: %v %v %v", m, known, err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()

	snap, err := s.Load(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Active)+len(snap.Recent)+len(snap.Unwritten)+len(snap.Runners)+len(snap.Extents) != 0 {
		t.Fatalf("empty store: %+v", snap)
	}

	var ops []Op
	put := func(j Job, extra ...Op) Job {
		ops = append(ops, PutJob{Job: j})
		ops = append(ops, extra...)
		return j
	}
	// Queued jobs, stored out of queue order.
	q1 := put(testJob("q1", wire.StateQueued, 30))
	q2 := put(testJob("q2", wire.StateQueued, 10))
	q3 := put(testJob("q3", wire.StateQueued, 20))
	// Assigned and running jobs.
	a1 := testJob("a1", wire.StateAssigned, 5)
	a1.Attempt, a1.Runner = 1, "r1"
	att := Attempt{N: 1, Runner: "r1", Assigned: base.Add(time.Minute)}
	a1.Attempts = []Attempt{att}
	put(a1, PutAttempt{JobID: "a1", Attempt: att},
		AppendLog{JobID: "a1", Attempt: 1, Offset: 0, Data: "abc"})
	run := testJob("run", wire.StateRunning, 1)
	run.Attempt, run.Runner, run.StartedAt = 2, "r2", base.Add(3*time.Minute)
	lost := Attempt{N: 1, Runner: "r1", Assigned: base.Add(time.Minute), Ended: base.Add(2 * time.Minute), Outcome: "lost"}
	cur := Attempt{N: 2, Runner: "r2", Assigned: base.Add(2 * time.Minute)}
	run.Attempts = []Attempt{lost, cur}
	put(run, PutAttempt{JobID: "run", Attempt: lost}, PutAttempt{JobID: "run", Attempt: cur},
		AppendLog{JobID: "run", Attempt: 1, Offset: 0, Data: "old attempt"},
		AppendLog{JobID: "run", Attempt: 2, Offset: 0, Data: "1234"},
		AppendLog{JobID: "run", Attempt: 2, Offset: 10, Data: "abcdef"},
		AppendLog{JobID: "run", Attempt: 2, Offset: 4, Data: "56"})
	// Finished jobs.
	fin := func(id string, seq int64, at time.Duration, written bool) Job {
		j := testJob(id, wire.StatusPassed, seq)
		j.Attempt, j.Runner, j.FinishedAt, j.FileWritten = 1, "r1", base.Add(at), written
		a := Attempt{N: 1, Runner: "r1", Assigned: base, Ended: j.FinishedAt, Outcome: wire.StatusPassed}
		res := sampleResult(id, 1, j.FinishedAt)
		res.Status = wire.StatusPassed
		j.Attempts, j.Result = []Attempt{a}, &res
		put(j, PutAttempt{JobID: id, Attempt: a}, PutResult{JobID: id, Result: res, Tests: sampleTests()},
			AppendLog{JobID: id, Attempt: 1, Offset: 0, Data: "done"})
		return j
	}
	f1 := fin("f1", 40, time.Hour, false)
	f2 := fin("f2", 41, 3*time.Hour, true)
	f3 := fin("f3", 42, 2*time.Hour, false)
	zed := Runner{Name: "zed", Slots: 1, FirstSeen: base, LastSeen: base}
	alpha := Runner{Name: "alpha", Labels: []string{"x"}, Slots: 2, FirstSeen: base, LastSeen: base}
	ops = append(ops, PutRunner{Runner: zed}, PutRunner{Runner: alpha})
	applyOK(t, s, ops...)

	check := func(s *testStore, recent int, wantRecent ...Job) {
		t.Helper()
		snap, err := s.Load(ctx, recent)
		if err != nil {
			t.Fatal(err)
		}
		wantActive := []Job{q2, q3, q1, run, a1}
		if got := ids(snap.Active); !slices.Equal(got, ids(wantActive)) {
			t.Errorf("active = %v, want %v", got, ids(wantActive))
		} else {
			for i := range wantActive {
				sameJob(t, "active "+wantActive[i].ID, snap.Active[i], wantActive[i])
			}
		}
		wantExt := map[string][]Extent{
			"run": {{0, 4}, {4, 2}, {10, 6}},
			"a1":  {{0, 3}},
		}
		if !reflect.DeepEqual(snap.Extents, wantExt) {
			t.Errorf("extents = %v, want %v", snap.Extents, wantExt)
		}
		if got := ids(snap.Recent); !slices.Equal(got, ids(wantRecent)) {
			t.Errorf("recent(%d) = %v, want %v", recent, got, ids(wantRecent))
		} else {
			for i := range wantRecent {
				sameJob(t, "recent "+wantRecent[i].ID, snap.Recent[i], wantRecent[i])
			}
		}
		if got := ids(snap.Unwritten); !slices.Equal(got, []string{"f1", "f3"}) {
			t.Errorf("unwritten = %v, want [f1 f3]", got)
		} else {
			sameJob(t, "unwritten f1", snap.Unwritten[0], f1)
			sameJob(t, "unwritten f3", snap.Unwritten[1], f3)
		}
		if len(snap.Runners) != 2 || !reflect.DeepEqual(normRunner(snap.Runners[0]), normRunner(alpha)) ||
			!reflect.DeepEqual(normRunner(snap.Runners[1]), normRunner(zed)) {
			t.Errorf("runners = %+v", snap.Runners)
		}
	}
	check(s, 2, f3, f2)
	check(s, 10, f1, f3, f2)
	check(s, 1, f2)
	check(s, 0)

	// A restart resumes from the same state.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{})
	check(s, 2, f3, f2)
}

// jobsFixture stores 30 jobs across two repositories, three branches, shared
// commits, every state, and pairs of jobs queued at the same instant.
func jobsFixture(t *testing.T, s *testStore) []Job {
	t.Helper()
	states := []wire.State{wire.StateQueued, wire.StateAssigned, wire.StateRunning, wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled}
	var jobs []Job
	var ops []Op
	for i := 0; i < 30; i++ {
		j := Job{
			ID:       fmt.Sprintf("j%02d", (i*7)%30), // ids not in queue order
			Repo:     []string{"github.com/a/x", "github.com/b/y"}[i%2],
			Branch:   []string{"main", "dev", ""}[i%3],
			Commit:   fmt.Sprintf("c%d", i%10),
			State:    states[i%len(states)],
			QueuedAt: base.Add(time.Duration(i/2) * time.Minute),
			Seq:      int64(i),
		}
		if !j.State.Active() {
			j.FinishedAt = j.QueuedAt.Add(time.Hour)
		}
		jobs = append(jobs, j)
		ops = append(ops, PutJob{Job: j})
	}
	applyOK(t, s, ops...)
	// Newest first; ties by id, highest first.
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].QueuedAt.Equal(jobs[b].QueuedAt) {
			return jobs[a].QueuedAt.After(jobs[b].QueuedAt)
		}
		return jobs[a].ID > jobs[b].ID
	})
	return jobs
}

// expectJobs filters jobs (newest first) as q says, ignoring its limit.
func expectJobs(jobs []Job, q JobQuery) []string {
	var out []string
	seenBefore := q.Before == ""
	for _, j := range jobs {
		if !seenBefore {
			if j.ID == q.Before {
				seenBefore = true
			}
			continue
		}
		if len(q.States) > 0 && !slices.Contains(q.States, j.State) ||
			q.Repo != "" && j.Repo != q.Repo || q.Commit != "" && j.Commit != q.Commit ||
			q.Branch != "" && j.Branch != q.Branch ||
			!q.Since.IsZero() && j.QueuedAt.Before(q.Since) || !q.Until.IsZero() && !j.QueuedAt.Before(q.Until) {
			continue
		}
		out = append(out, j.ID)
	}
	return out
}

func TestJobsFilters(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	jobs := jobsFixture(t, s)
	byID := map[string]Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	mid := jobs[13].ID // queued at the same instant as jobs[12] or jobs[14]
	for _, tc := range []struct {
		name string
		q    JobQuery
	}{
		{"all", JobQuery{}},
		{"queued", JobQuery{States: []wire.State{"queued"}}},
		{"finished", JobQuery{States: []wire.State{"passed", "failed", "error", "cancelled"}}},
		{"repo", JobQuery{Repo: "github.com/b/y"}},
		{"unknown repo", JobQuery{Repo: "github.com/c/z"}},
		{"commit", JobQuery{Commit: "c3"}},
		{"branch", JobQuery{Branch: "dev"}},
		{"since", JobQuery{Since: base.Add(5 * time.Minute)}},
		{"until", JobQuery{Until: base.Add(5 * time.Minute)}},
		{"since and until", JobQuery{Since: base.Add(3 * time.Minute), Until: base.Add(9 * time.Minute)}},
		{"since now", JobQuery{Since: base.Add(time.Hour)}},
		{"repo and states", JobQuery{Repo: "github.com/a/x", States: []wire.State{"queued", "running", "failed"}}},
		{"branch and commit", JobQuery{Branch: "main", Commit: "c0"}},
		{"before", JobQuery{Before: mid}},
		{"before and repo", JobQuery{Before: mid, Repo: "github.com/a/x"}},
		{"before the oldest", JobQuery{Before: jobs[len(jobs)-1].ID}},
		{"limit 5", JobQuery{Limit: 5}},
		{"limit 5 repo", JobQuery{Limit: 5, Repo: "github.com/b/y"}},
		{"limit exact", JobQuery{Limit: 30}},
		{"limit over", JobQuery{Limit: 31}},
		{"limit 1 since", JobQuery{Limit: 1, Since: base.Add(14 * time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := expectJobs(jobs, tc.q)
			wantMore := false
			if tc.q.Limit > 0 && len(want) > tc.q.Limit {
				want, wantMore = want[:tc.q.Limit], true
			}
			got, more, err := s.Jobs(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), want) || more != wantMore {
				t.Errorf("Jobs(%+v) =\n %v more=%v\nwant\n %v more=%v", tc.q, ids(got), more, want, wantMore)
			}
			for _, j := range got {
				w := byID[j.ID]
				if j.Repo != w.Repo || j.Commit != w.Commit || j.Branch != w.Branch || j.State != w.State ||
					!j.QueuedAt.Equal(w.QueuedAt) || !j.FinishedAt.Equal(w.FinishedAt) || j.Attempts != nil {
					t.Errorf("job %s = %+v, want %+v", j.ID, j, w)
				}
			}
		})
	}
	if got, _, err := s.Jobs(ctx, JobQuery{Before: "no-such-job"}); err != nil || len(got) != 0 {
		t.Errorf("before an unknown job: %v %v", ids(got), err)
	}
}

func TestJobsDefaultLimit(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	var ops []Op
	for i := 0; i < DefaultListLimit+5; i++ {
		ops = append(ops, PutJob{Job: testJob(fmt.Sprintf("j%04d", i), wire.StateQueued, int64(i))})
	}
	applyOK(t, s, ops...)
	got, more, err := s.Jobs(context.Background(), JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != DefaultListLimit || !more || got[0].ID != fmt.Sprintf("j%04d", DefaultListLimit+4) {
		t.Errorf("%d jobs, more=%v, first %s", len(got), more, got[0].ID)
	}
}

func TestJobsPaging(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	jobs := jobsFixture(t, s)
	for _, base := range []JobQuery{{}, {Repo: "github.com/a/x"}, {States: []wire.State{"passed", "queued"}}} {
		want := expectJobs(jobs, base)
		for _, limit := range []int{1, 2, 4, 7, 100} {
			q := base
			q.Limit = limit
			var got []string
			seen := map[string]bool{}
			for page := 0; ; page++ {
				list, more, err := s.Jobs(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) > limit || more && len(list) != limit {
					t.Fatalf("%+v: page of %d, more=%v", q, len(list), more)
				}
				for _, j := range list {
					if seen[j.ID] {
						t.Fatalf("%+v: %s listed twice", q, j.ID)
					}
					seen[j.ID] = true
					got = append(got, j.ID)
				}
				if !more {
					break
				}
				if page > len(jobs) {
					t.Fatalf("%+v: paging does not end", q)
				}
				q.Before = list[len(list)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("paging %+v by %d:\n got %v\nwant %v", base, limit, got, want)
			}
		}
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	cutoff := base.Add(10 * time.Hour)
	var ops []Op
	job := func(id string, st wire.State, finished time.Time, attempts int) {
		j := testJob(id, st, 1)
		j.Attempt, j.FinishedAt = attempts, finished
		ops = append(ops, PutJob{Job: j})
		for n := 1; n <= attempts; n++ {
			ops = append(ops, PutAttempt{JobID: id, Attempt: Attempt{N: n, Runner: "r"}},
				AppendLog{JobID: id, Attempt: n, Offset: 0, Data: "log of " + id},
				AppendLog{JobID: id, Attempt: n, Offset: int64(len("log of " + id)), Data: "\nmore"})
		}
		if !finished.IsZero() {
			res := sampleResult(id, attempts, finished)
			res.OutputBytes = int64(len("log of "+id) + len("\nmore"))
			ops = append(ops, PutResult{JobID: id, Result: res, Tests: sampleTests()})
		}
	}
	job("old", wire.StatusFailed, cutoff.Add(-2*time.Hour), 2) // two attempts' logs go
	job("old1", wire.StatusPassed, cutoff.Add(-time.Nanosecond), 1)
	job("edge", wire.StatusPassed, cutoff, 1) // finished at the cutoff: kept
	job("new", wire.StatusPassed, cutoff.Add(time.Hour), 1)
	job("running", wire.StateRunning, time.Time{}, 1)
	// Many more old ones than one prune transaction takes.
	for i := 0; i < 450; i++ {
		job(fmt.Sprintf("bulk%03d", i), wire.StatusPassed, base.Add(time.Duration(i)*time.Second), 1)
	}
	applyOK(t, s, ops...)

	n, err := s.Prune(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 453 {
		t.Errorf("Prune = %d, want 453", n)
	}
	for _, c := range []struct {
		id      string
		attempt int
		kept    bool
	}{{"old", 1, false}, {"old", 2, false}, {"old1", 1, false}, {"bulk000", 1, false}, {"bulk449", 1, false},
		{"edge", 1, true}, {"new", 1, true}, {"running", 1, true}} {
		p, err := s.Log(ctx, c.id, c.attempt, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if kept := p.End > 0; kept != c.kept {
			t.Errorf("%s attempt %d: log kept = %v, want %v (%+v)", c.id, c.attempt, kept, c.kept, p)
		}
	}
	// Results stay, and the log reads as lost.
	j := getJob(t, s, "old")
	if j.Result == nil || j.Result.TestsTotal != 3 || len(j.Attempts) != 2 {
		t.Errorf("pruned job = %s", dumpJob(j))
	}
	p, err := s.Log(ctx, "old", 2, 0, 0)
	if err != nil || p.Data != fmt.Sprintf("[eventide: %d bytes of output were lost]\n", j.Result.OutputBytes) {
		t.Errorf("pruned log = %+v, %v", p, err)
	}
	if n, err := s.Prune(ctx, cutoff); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v", n, err)
	}
	// A cancelled context stops it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Prune(cctx, cutoff.Add(48*time.Hour)); err == nil {
		t.Error("Prune with a cancelled context succeeded")
	}
}

func TestConcurrentApply(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%02d-%03d", w, i)
				j := testJob(id, wire.StateRunning, int64(w*each+i))
				j.Attempt, j.Runner = 1, fmt.Sprintf("r%d", w)
				if err := s.apply(PutJob{Job: j}, PutAttempt{JobID: id, Attempt: Attempt{N: 1, Runner: j.Runner}},
					AppendLog{JobID: id, Attempt: 1, Offset: 0, Data: "out " + id}); err != nil {
					t.Error(err)
					return
				}
				// Waited for: readable at once, by any reader, while others write.
				if _, err := s.Job(ctx, id); err != nil {
					t.Errorf("job %s after its ticket: %v", id, err)
				}
				if i%5 == 0 {
					if _, _, err := s.Jobs(ctx, JobQuery{Limit: 5}); err != nil {
						t.Error(err)
					}
				}
				j.State, j.FinishedAt = wire.StatusPassed, base.Add(time.Hour)
				if err := s.apply(PutJob{Job: j}, PutPosition{Repo: j.Repo, Branch: fmt.Sprintf("b%d", w), Commit: id}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, Options{})
	all, more, err := s.Jobs(ctx, JobQuery{Limit: workers * each * 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != workers*each || more {
		t.Fatalf("%d jobs after reopening, want %d", len(all), workers*each)
	}
	for _, j := range all {
		if j.State != wire.StatusPassed {
			t.Errorf("job %s: state %s", j.ID, j.State)
		}
		p, err := s.Log(ctx, j.ID, 1, 0, 0)
		if err != nil || p.Data != "out "+j.ID {
			t.Errorf("job %s: log %+v, %v", j.ID, p, err)
		}
	}
	pos, known, err := s.Position(ctx, "github.com/eventide-ci/demo")
	if err != nil || !known || len(pos) != workers || pos["b3"] != fmt.Sprintf("w03-%03d", each-1) {
		t.Errorf("positions = %v %v %v", pos, known, err)
	}
}

func TestCloseWritesQueued(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	var tickets []*Ticket
	for i := 0; i < 200; i++ {
		tickets = append(tickets, s.Apply(PutJob{Job: testJob(fmt.Sprintf("j%03d", i), wire.StateQueued, int64(i))}))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, tk := range tickets {
		select {
		case <-tk.Done():
		default:
			t.Fatalf("ticket %d not done after Close", i)
		}
		if err := tk.Wait(context.Background()); err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s = openStore(t, dir, Options{})
	got, _, err := s.Jobs(context.Background(), JobQuery{Limit: 1000})
	if err != nil || len(got) != 200 {
		t.Errorf("%d jobs after reopening, %v", len(got), err)
	}
}

func TestApplyAfterClose(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	applyOK(t, s, PutJob{Job: testJob("a", wire.StateQueued, 1)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tk := s.Apply(PutJob{Job: testJob("b", wire.StateQueued, 2)})
	select {
	case <-tk.Done():
	default:
		t.Fatal("a ticket from a closed store is not done")
	}
	if err := tk.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait = %v, want ErrClosed", err)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestTicketWait(t *testing.T) {
	t.Parallel()
	var nilTicket *Ticket
	if err := nilTicket.Wait(context.Background()); err != nil {
		t.Errorf("nil ticket: %v", err)
	}
	s := openStore(t, t.TempDir(), Options{})
	if err := s.Apply().Wait(context.Background()); err != nil { // nothing to write
		t.Errorf("empty Apply: %v", err)
	}
	// A waiter whose context ends stops waiting; the change is still written.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tk := s.Apply(PutJob{Job: testJob("a", wire.StateQueued, 1)})
	if err := tk.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v", err)
	}
	if err := tk.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	getJob(t, s, "a")
}

// fullStore opens a store in dir with room for a few small changes only.
func fullStore(t *testing.T, dir string, headroom int) *testStore {
	t.Helper()
	s := openStore(t, dir, Options{})
	s.Close()
	db := rawDB(t, dir)
	var pages int
	if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return openStore(t, dir, Options{MaxPages: pages + headroom, RetryEvery: 10 * time.Millisecond})
}

// waitFailing waits until the writer reports a failed batch.
func waitFailing(t *testing.T, s *testStore, tk *Ticket) string {
	t.Helper()
	select {
	case msg := <-s.hook.failed:
		return msg
	case <-tk.Done():
		t.Fatalf("the batch was written: %v", tk.Wait(context.Background()))
	case <-time.After(testkit.Patience):
		t.Fatal("no failure reported")
	}
	return ""
}

func TestFullDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := fullStore(t, dir, 4)
	ctx := context.Background()
	path := s.Path()

	// A small change fits.
	keep := testJob("keep", wire.StateRunning, 1)
	keep.Attempt = 1
	applyOK(t, s, PutJob{Job: keep}, PutAttempt{JobID: "keep", Attempt: Attempt{N: 1, Runner: "r"}},
		AppendLog{JobID: "keep", Attempt: 1, Offset: 0, Data: "kept output"})
	if err := s.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}

	// A big one does not.
	big := strings.Repeat("a line of test output that goes on and on\n", 8000) // ~340 KB
	tooBig := testJob("big", wire.StateRunning, 2)
	tooBig.Attempt = 1
	tk := s.Apply(PutJob{Job: tooBig}, PutAttempt{JobID: "big", Attempt: Attempt{N: 1, Runner: "r"}},
		AppendLog{JobID: "big", Attempt: 1, Offset: 0, Data: big})
	logged := waitFailing(t, s, tk)
	err := s.Err()
	if err == nil {
		t.Fatalf("Err() = nil after a failed batch (logged %q)", logged)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "full") {
		t.Errorf("Err() = %q, should name %s and say full", msg, path)
	}
	// The ticket waits: nothing is acknowledged that is not stored.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if err := tk.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on the failing batch = %v, want the context's deadline", err)
	}
	cancel()
	select {
	case <-tk.Done():
		t.Error("the failing batch's ticket is done")
	default:
	}
	// Later changes queue behind it.
	tooBig2 := testJob("big2", wire.StateQueued, 3)
	tk2 := s.Apply(PutJob{Job: tooBig2}, AppendLog{JobID: "big2", Attempt: 1, Offset: 0, Data: big})
	// Nothing of the failing batch is there.
	if _, err := s.Job(ctx, "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Job(big) = %v, want ErrNotFound", err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM logs WHERE job_id = 'big'").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d log rows of the failed batch (%v)", n, err)
	}
	if p, err := s.Log(ctx, "keep", 1, 0, 0); err != nil || p.Data != "kept output" {
		t.Errorf("earlier log = %+v, %v", p, err)
	}

	// Close gives up on the batch promptly and says so.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(testkit.Patience): // the bug retries for ever
		t.Fatal("Close hangs on a failing batch")
	}
	for name, tk := range map[string]*Ticket{"failing": tk, "queued behind": tk2} {
		select {
		case <-tk.Done():
		default:
			t.Fatalf("%s ticket not done after Close", name)
		}
		if err := tk.Wait(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("%s ticket: %v, want ErrClosed", name, err)
		}
	}

	// Without the cap, the database works, with what was committed and nothing else.
	s = openStore(t, dir, Options{})
	if p, err := s.Log(ctx, "keep", 1, 0, 0); err != nil || p.Data != "kept output" {
		t.Errorf("after reopening: log = %+v, %v", p, err)
	}
	if j := getJob(t, s, "keep"); j.State != wire.StateRunning || len(j.Attempts) != 1 {
		t.Errorf("after reopening: %s", dumpJob(j))
	}
	for _, id := range []string{"big", "big2"} {
		if _, err := s.Job(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Job(%s) after reopening = %v, want ErrNotFound", id, err)
		}
	}
	applyOK(t, s, PutJob{Job: tooBig}, AppendLog{JobID: "big", Attempt: 1, Offset: 0, Data: big})
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

// TestFullDiskRecovers raises the cap while a batch is being retried (as freeing
// disk space would): the batch goes through, its ticket completes, and Err clears.
func TestFullDiskRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := fullStore(t, dir, 4)
	ctx := context.Background()
	big := strings.Repeat("0123456789abcdef", 16384) // 256 KiB
	j := testJob("big", wire.StateQueued, 1)
	tk := s.Apply(PutJob{Job: j}, AppendLog{JobID: "big", Attempt: 1, Offset: 0, Data: big})
	waitFailing(t, s, tk)
	tk2 := s.Apply(PutJob{Job: testJob("small", wire.StateQueued, 2)})
	if s.Err() == nil {
		t.Fatal("Err() = nil while failing")
	}
	// max_page_count is the writer connection's: set it between two tries.
	if _, err := s.wdb.ExecContext(ctx, "PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.Patience)
	defer cancel()
	if err := tk.Wait(wctx); err != nil {
		t.Fatalf("Wait after freeing space: %v", err)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() after recovering = %v", err)
	}
	if err := tk2.Wait(wctx); err != nil {
		t.Errorf("the batch queued behind: %v", err)
	}
	select {
	case msg := <-s.hook.recovered:
		if !strings.Contains(msg, "work again") {
			t.Errorf("logged %q", msg)
		}
	default:
		t.Error("recovery not logged")
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT length(data) FROM logs WHERE job_id = 'big'").Scan(&n); err != nil || n != len(big) {
		t.Errorf("stored %d bytes, %v", n, err)
	}
	getJob(t, s, "small")
}

// benchStore opens a store for a benchmark, without the failure hook.
func benchStore(b *testing.B) *SQLite {
	s, err := OpenSQLite(b.TempDir(), Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func runLifecycle(s *SQLite, stages [][]Op) error {
	ctx := context.Background()
	for _, ops := range stages {
		if err := s.Apply(ops...).Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkApply measures a job's whole lifecycle (four changes, each waited
// for as the dispatcher does) with 8 goroutines at once, so batches group
// changes of several jobs. An op is one job.
func BenchmarkApply(b *testing.B) {
	s := benchStore(b)
	defer s.Close()
	const workers = 8
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := runLifecycle(s, lifecycleOps(fmt.Sprintf("job%08d", i), i, 20)); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkApplySerial is the worst case: one goroutine waiting for each change,
// so every batch holds one change and costs one commit.
func BenchmarkApplySerial(b *testing.B) {
	s := benchStore(b)
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := runLifecycle(s, lifecycleOps(fmt.Sprintf("job%08d", i), int64(i), 20)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
