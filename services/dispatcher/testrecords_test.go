package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// Per-test records (protocol 10) through a real dispatcher over TCP: runners
// send job.tests chunks and results, a console reads pages and flaky tests.

// dialRunner connects a one-slot runner holding held, over TCP; it answers
// what the dispatcher asks and queues its assignments.
func dialRunner(t *testing.T, s *server, name string, held ...wire.HeldJob) *fakeRunner {
	t.Helper()
	c, _, err := peer.Dial(ctxT(t), s.addr, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1, Token: s.token,
		Identity: s.d.TestIdentity(name), Jobs: held}, peer.Options{MaxMissed: 20})
	if err != nil {
		t.Fatalf("runner %s: %v", name, err)
	}
	fr := &fakeRunner{name: name, conn: c, assigns: make(chan wire.Assign, 64), cancels: make(chan wire.JobRef, 64),
		served: make(chan struct{}), logf: t.Logf}
	go func() {
		defer close(fr.served)
		c.Serve(context.Background(), peer.HandlerFunc(fr.handle))
	}()
	t.Cleanup(func() {
		c.Close()
		<-fr.served
	})
	return fr
}

// dialConsole is a console connection that calls methods net/console does not
// wrap.
func dialConsole(t *testing.T, s *server) *peer.Conn {
	t.Helper()
	c, _, err := peer.Dial(ctxT(t), s.addr, &wire.Hello{Role: wire.RoleConsole, Name: "tests-console", Token: s.token}, peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.Serve(context.Background(), peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }))
	}()
	t.Cleanup(func() {
		c.Close()
		<-served
	})
	return c
}

func getJob(t *testing.T, c *peer.Conn, q wire.JobGet) wire.JobInfo {
	t.Helper()
	var in wire.JobInfo
	if err := c.Call(ctxT(t), wire.MethodJobGet, &q, &in); err != nil {
		t.Fatalf("job.get %+v: %v", q, err)
	}
	return in
}

func flakyList(t *testing.T, c *peer.Conn, repo string) wire.FlakyList {
	t.Helper()
	var l wire.FlakyList
	if err := c.Call(ctxT(t), wire.MethodTestsFlaky, &wire.FlakyQuery{Repo: repo}, &l); err != nil {
		t.Fatalf("tests.flaky: %v", err)
	}
	return l
}

// records makes n records named prefix0…, the i-th lasting (i*37)%1000 ms
// (every tenth without a duration), failing where fail says.
func records(prefix string, n int, fail func(i int) bool) []wire.TestRecord {
	out := make([]wire.TestRecord, n)
	for i := range out {
		r := &out[i]
		r.ID, r.Suite, r.Outcome = fmt.Sprintf("%s%05d", prefix, i), "suite", wire.OutcomePassed
		if i%10 != 3 {
			r.DurationMS = new(int64(i * 37 % 1000))
		}
		if fail != nil && fail(i) {
			r.Outcome, r.Message = wire.OutcomeFailed, "expected 1\ngot 2"
		}
	}
	return out
}

// sendChunks sends recs as chunks of size records, seq 0, 1, …, and returns
// how many it sent.
func (fr *fakeRunner) sendChunks(t *testing.T, a wire.Assign, recs []wire.TestRecord, size int) int {
	t.Helper()
	n := 0
	for lo := 0; lo < len(recs); lo += size {
		fr.sendChunk(t, a, n, recs[lo:min(lo+size, len(recs))])
		n++
	}
	return n
}

func (fr *fakeRunner) sendChunk(t *testing.T, a wire.Assign, seq int, recs []wire.TestRecord) {
	t.Helper()
	var reply json.RawMessage
	if err := fr.conn.Call(ctxT(t), wire.MethodJobTests, &wire.TestChunk{JobID: a.JobID, Attempt: a.Attempt, Seq: seq, Tests: recs}, &reply); err != nil {
		t.Fatalf("job.tests seq %d: %v", seq, err)
	}
	if string(reply) != "{}" {
		t.Fatalf("job.tests seq %d replied %s, want {}", seq, reply)
	}
}

// sendResult sends a result announcing chunks chunks, counting recs.
func (fr *fakeRunner) sendResult(ctx context.Context, a wire.Assign, status string, chunks, retryFailed int, recs []wire.TestRecord) error {
	now := time.Now()
	res := &wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: status, StartedAt: now, FinishedAt: now,
		TestChunks: chunks, RetryFailed: retryFailed, Summary: wire.Summary{Reported: new(true)}}
	for _, r := range recs {
		switch r.Outcome {
		case wire.OutcomePassed:
			res.Summary.Passed++
		case wire.OutcomeFailed:
			res.Summary.Failed++
			if len(res.Summary.Failing) < wire.MaxFailing {
				res.Summary.Failing = append(res.Summary.Failing, r.ID)
			}
		}
	}
	if status == wire.StatusFailed {
		res.ExitCode = 1
	}
	return fr.conn.Call(ctx, wire.MethodJobResult, res, nil)
}

// readAll pages through an attempt's records with job.get.
func readAll(t *testing.T, c *peer.Conn, id string, attempt int, order string, total int) []wire.TestRecord {
	t.Helper()
	var all []wire.TestRecord
	for off := 0; ; {
		in := getJob(t, c, wire.JobGet{JobID: id, Attempt: attempt, TestsOffset: off, TestsLimit: wire.MaxTestsPage, TestsOrder: order})
		p := in.Tests
		if p == nil || p.Total != total || p.Offset != off {
			t.Fatalf("page at %d: %+v, want total %d", off, p, total)
		}
		all = append(all, p.Tests...)
		if p.Next == 0 {
			if len(all) != total {
				t.Fatalf("last page at %d: read %d records, want %d", off, len(all), total)
			}
			return all
		}
		if p.Next != off+len(p.Tests) {
			t.Fatalf("page at %d: next %d after %d records", off, p.Next, len(p.Tests))
		}
		off = p.Next
	}
}

func ids(recs []wire.TestRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// slowestFirst is recs as "slowest" orders them: longest first, ties and
// tests without a duration (last) in the order reported.
func slowestFirst(recs []wire.TestRecord) []string {
	s := slices.Clone(recs)
	slices.SortStableFunc(s, func(a, b wire.TestRecord) int {
		switch {
		case a.DurationMS == nil && b.DurationMS == nil:
			return 0
		case a.DurationMS == nil:
			return 1
		case b.DurationMS == nil:
			return -1
		}
		return int(*b.DurationMS - *a.DurationMS)
	})
	return ids(s)
}

// Chunks then the result: all records stored with it, a chunk sent twice kept
// once, pages in both orders over 50,000 records (fewer under -race), the total on job objects.
func TestTestChunksStoredWithResult(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := dialConsole(t, s)
	r := dialRunner(t, s, "r1")
	id := s.submit(t, 1, "main")
	a := r.next(t)
	recs := records("pkg/TestBig", bigSuite, func(i int) bool { return i%1000 == 7 })
	size := min(wire.MaxTestChunk, bigSuite/25)
	n := r.sendChunks(t, a, recs, size)
	r.sendChunk(t, a, 3, recs[3*size:4*size]) // a repeat after a reconnect
	if err := r.sendResult(ctxT(t), a, wire.StatusFailed, n, 0, recs); err != nil {
		t.Fatalf("result: %v", err)
	}
	in := getJob(t, c, wire.JobGet{JobID: id})
	if in.TestsTotal != len(recs) || in.Tests != nil || in.State != wire.StatusFailed {
		t.Fatalf("job = state %s, tests_total %d, page %v; want failed, %d, no page", in.State, in.TestsTotal, in.Tests, len(recs))
	}
	if got := readAll(t, c, id, 0, wire.TestsInOrder, len(recs)); !slices.Equal(ids(got), ids(recs)) {
		t.Errorf("reported order differs from what was sent")
	} else if got[7].Message != "expected 1\ngot 2" || got[7].Suite != "suite" || *got[7].DurationMS != 7*37 || got[3].DurationMS != nil {
		t.Errorf("records read back as %+v, %+v", got[7], got[3])
	}
	if got := readAll(t, c, id, 1, wire.TestsSlowest, len(recs)); !slices.Equal(ids(got), slowestFirst(recs)) {
		t.Errorf("slowest first: got %v…, want %v…", ids(got)[:5], slowestFirst(recs)[:5])
	}
	var list wire.JobList
	if err := c.Call(ctxT(t), wire.MethodJobsList, &wire.JobQuery{}, &list); err != nil || len(list.Jobs) != 1 || list.Jobs[0].TestsTotal != len(recs) {
		t.Errorf("jobs.list = %+v, %v; want tests_total %d", list, err, len(recs))
	}
}

// A result announcing more chunks than arrived is refused, saying how many
// are missing, and recorded once the runner sends them again; chunks of a
// stale attempt are refused as its output is.
func TestMissingTestChunks(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := dialConsole(t, s)
	r := dialRunner(t, s, "r1")
	id := s.submit(t, 1, "main")
	a := r.next(t)
	recs := records("TestX", 10, nil)
	r.sendChunk(t, a, 0, recs[:5])
	err := r.sendResult(ctxT(t), a, wire.StatusPassed, 2, 0, recs)
	wantCode(t, "result with a chunk missing", err, wire.CodeInternal)
	if !strings.Contains(err.Error(), "have 1 of 2 test chunks; send them again") {
		t.Errorf("refusal %q does not say what is missing", err)
	}
	if in := getJob(t, c, wire.JobGet{JobID: id}); in.State != wire.StateRunning {
		t.Fatalf("after the refusal the job is %s, want running", in.State)
	}
	r.sendChunk(t, a, 0, recs[:5])
	r.sendChunk(t, a, 1, recs[5:])
	if err := r.sendResult(ctxT(t), a, wire.StatusPassed, 2, 0, recs); err != nil {
		t.Fatalf("result after the resend: %v", err)
	}
	in := getJob(t, c, wire.JobGet{JobID: id, TestsLimit: 100})
	if in.State != wire.StatusPassed || in.TestsTotal != 10 || in.Tests == nil || !slices.Equal(ids(in.Tests.Tests), ids(recs)) {
		t.Errorf("job = %s with %+v", in.State, in.Tests)
	}
	// The result is recorded: a chunk sent again is acknowledged, and one for
	// an attempt that never was is refused as stale.
	r.sendChunk(t, a, 1, recs[5:])
	err = r.conn.Call(ctxT(t), wire.MethodJobTests, &wire.TestChunk{JobID: id, Attempt: 2, Seq: 0, Tests: recs[:1]}, nil)
	wantCode(t, "chunk of another attempt", err, wire.CodeStaleAttempt)
	// Bad records are refused, naming what is wrong.
	err = r.conn.Call(ctxT(t), wire.MethodJobTests, &wire.TestChunk{JobID: id, Attempt: 1, Seq: 0,
		Tests: []wire.TestRecord{{ID: "T", Outcome: "maybe"}}}, nil)
	wantCode(t, "chunk with a bad outcome", err, wire.CodeInvalidParams)
}

// The dispatcher restarts between the chunks and the result: the chunks it
// held are gone, so it refuses the result until the runner, reconnected,
// sends them again.
func TestTestChunksAcrossRestart(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	s1 := startDispatcher(t, serverOpts{dataDir: data})
	r1 := dialRunner(t, s1, "r1")
	id := s1.submit(t, 1, "main")
	a := r1.next(t)
	recs := records("TestR", 30, func(i int) bool { return i == 4 })
	n := r1.sendChunks(t, a, recs, 10)
	s1.shutdown(t)

	s2 := startDispatcher(t, serverOpts{dataDir: data})
	r2 := dialRunner(t, s2, "r1", wire.HeldJob{Assign: a})
	err := r2.sendResult(ctxT(t), a, wire.StatusFailed, n, 0, recs)
	wantCode(t, "result after a restart lost the chunks", err, wire.CodeInternal)
	if !strings.Contains(err.Error(), fmt.Sprintf("have 0 of %d test chunks", n)) {
		t.Errorf("refusal %q", err)
	}
	r2.sendChunks(t, a, recs, 10)
	if err := r2.sendResult(ctxT(t), a, wire.StatusFailed, n, 0, recs); err != nil {
		t.Fatalf("result after the resend: %v", err)
	}
	c := dialConsole(t, s2)
	in := getJob(t, c, wire.JobGet{JobID: id, TestsLimit: 100, TestsOrder: wire.TestsSlowest})
	if in.State != wire.StatusFailed || in.TestsTotal != 30 || len(in.Tests.Tests) != 30 {
		t.Errorf("job after restart = %s, %d tests, page %+v", in.State, in.TestsTotal, in.Tests)
	}
}

// A test that failed in one attempt and passed in another of the same commit
// is flaky: after a person's retry, and across two jobs of one commit. The
// passed job says so on job objects, in events and in its result file, and
// tests.flaky counts the commits on which each test flipped.
func TestFlakyTests(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := dialConsole(t, s)
	cl := newClient(t, s, transports[0])
	_, st := subscribe(t, cl)
	r := dialRunner(t, s, "r1")
	ctx := ctxT(t)
	run := func(status string, recs []wire.TestRecord) wire.Assign {
		t.Helper()
		a := r.next(t)
		n := r.sendChunks(t, a, recs, 2)
		if err := r.sendResult(ctx, a, status, n, 0, recs); err != nil {
			t.Fatal(err)
		}
		return a
	}
	failT1 := records("T", 3, func(i int) bool { return i == 1 })
	allPass := records("T", 3, nil)

	// Commit 1: fails, then a person's retry passes.
	id := s.submit(t, 1, "main")
	run(wire.StatusFailed, failT1)
	st.wait(t, "attempt 1 failed", 0, jobIs(id, wire.StatusFailed))
	m := st.mark()
	if _, err := cl.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	run(wire.StatusPassed, allPass)
	ev, _ := st.wait(t, "flaky pass", m, func(ev wire.Event) bool {
		return jobIs(id, wire.StatusPassed)(ev) && ev.Job.Flaky
	})
	if !slices.Equal(ev.Job.FlakyTests, []string{"T00001"}) || ev.Job.TestsTotal != 3 {
		t.Errorf("event = %+v, want flaky test T00001 and 3 tests", ev.Job)
	}
	in := getJob(t, c, wire.JobGet{JobID: id})
	if !in.Flaky || !slices.Equal(in.FlakyTests, []string{"T00001"}) || in.State != wire.StatusPassed {
		t.Errorf("job.get = state %s, flaky %v %v", in.State, in.Flaky, in.FlakyTests)
	}
	file := waitFile(t, s, commitID(1), "Flaky:")
	if !strings.Contains(file, "Status:    passed · flaky\n") || !strings.Contains(file, "Flaky:     T00001\n") {
		t.Errorf("result file:\n%s", file)
	}
	// A pass that flipped nothing is plainly passed.
	s.submit(t, 2, "main")
	run(wire.StatusPassed, allPass)
	if f := waitFile(t, s, commitID(2), "Status:"); !strings.Contains(f, "Status:    passed\n") || strings.Contains(f, "Flaky") {
		t.Errorf("result file of a plain pass:\n%s", f)
	}

	// Commit 3: job k1 passes; the commit submitted again as k2 fails T1: k1
	// is flaky now.
	k1 := s.submit(t, 3, "main")
	run(wire.StatusPassed, allPass)
	st.wait(t, "k1 passed", m, jobIs(k1, wire.StatusPassed))
	m = st.mark()
	k2 := s.submit(t, 3, "main")
	run(wire.StatusFailed, failT1)
	st.wait(t, "k1 flaky", m, func(ev wire.Event) bool { return jobIs(k1, wire.StatusPassed)(ev) && ev.Job.Flaky })
	if in := getJob(t, c, wire.JobGet{JobID: k2}); in.Flaky || !slices.Equal(in.FlakyTests, []string{"T00001"}) {
		t.Errorf("k2 (failed) = flaky %v, tests %v; want not flaky, T00001", in.Flaky, in.FlakyTests)
	}

	l := flakyList(t, c, "/r")
	if len(l.Tests) != 1 || l.Tests[0].ID != "T00001" || l.Tests[0].Flips != 2 || l.Tests[0].LastJob != k2 ||
		l.Tests[0].LastCommit != commitID(3) || l.Tests[0].LastSeen.IsZero() {
		t.Errorf("tests.flaky = %+v", l)
	}
	if l := flakyList(t, c, "/elsewhere"); len(l.Tests) != 0 {
		t.Errorf("tests.flaky of another repository = %+v", l)
	}
}

// waitFile waits for the result file of commit to hold want, and returns it.
func waitFile(t *testing.T, s *server, commit, want string) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(waitTime)
	for {
		b, err := os.ReadFile(filepath.Join(s.resultsDir, commit))
		if got = string(b); err == nil && strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("result file of %s lacks %q:\n%s", commit, want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// retry_failed re-runs a failed job up to N times, each a new attempt marked
// as a re-run, without counting against --max-attempts (1 here); a re-run
// that passes leaves the job passed and flaky.
func TestRetryFailed(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{maxAttempts: 1})
	c := dialConsole(t, s)
	r := dialRunner(t, s, "r1")
	ctx := ctxT(t)
	fail := records("T", 2, func(i int) bool { return i == 0 })

	// Two re-runs allowed; all three attempts fail.
	id := s.submit(t, 1, "main")
	for n := 1; n <= 3; n++ {
		a := r.next(t)
		if a.JobID != id || a.Attempt != n {
			t.Fatalf("assignment %+v, want %s attempt %d", a, id, n)
		}
		ch := r.sendChunks(t, a, fail, 10)
		if err := r.sendResult(ctx, a, wire.StatusFailed, ch, 2, fail); err != nil {
			t.Fatal(err)
		}
	}
	waitFile(t, s, commitID(1), "Status:    failed\n")
	in := getJob(t, c, wire.JobGet{JobID: id, Attempt: 2, TestsLimit: 10})
	if in.State != wire.StatusFailed || in.Attempt != 3 || len(in.Attempts) != 3 || in.Flaky {
		t.Fatalf("job = %s at attempt %d, %d attempts, flaky %v", in.State, in.Attempt, len(in.Attempts), in.Flaky)
	}
	for i, at := range in.Attempts {
		if at.Outcome != wire.StatusFailed || at.Rerun != (i > 0) {
			t.Errorf("attempt %d = %+v, want failed, rerun %v", at.N, at, i > 0)
		}
	}
	if in.Tests == nil || in.Tests.Attempt != 2 || in.Tests.Total != 2 {
		t.Errorf("attempt 2's tests = %+v", in.Tests)
	}

	// One re-run allowed; it passes: passed · flaky.
	id2 := s.submit(t, 2, "main")
	a := r.next(t)
	ch := r.sendChunks(t, a, fail, 10)
	if err := r.sendResult(ctx, a, wire.StatusFailed, ch, 1, fail); err != nil {
		t.Fatal(err)
	}
	a = r.next(t)
	if a.JobID != id2 || a.Attempt != 2 {
		t.Fatalf("assignment %+v, want %s attempt 2", a, id2)
	}
	pass := records("T", 2, nil)
	ch = r.sendChunks(t, a, pass, 10)
	if err := r.sendResult(ctx, a, wire.StatusPassed, ch, 1, pass); err != nil {
		t.Fatal(err)
	}
	file := waitFile(t, s, commitID(2), "Flaky:")
	if !strings.Contains(file, "Status:    passed · flaky\n") || !strings.Contains(file, "Flaky:     T00000\n") {
		t.Errorf("result file:\n%s", file)
	}
	in = getJob(t, c, wire.JobGet{JobID: id2})
	if in.State != wire.StatusPassed || !in.Flaky || len(in.Attempts) != 2 || !in.Attempts[1].Rerun {
		t.Errorf("job = %s, flaky %v, attempts %+v", in.State, in.Flaky, in.Attempts)
	}
	var list wire.JobList
	if err := c.Call(ctx, wire.MethodJobsList, &wire.JobQuery{States: []string{wire.StatusPassed}}, &list); err != nil ||
		len(list.Jobs) != 1 || list.Jobs[0].ID != id2 || !list.Jobs[0].Flaky {
		t.Errorf("jobs.list of passed jobs = %+v, %v; want the flaky one, as passed", list, err)
	}
}

// A page of 1,000 records with the longest ids, suites and messages would not
// fit in a frame: job.get sends fewer, and next reads on to the last.
func TestTestPagesFitAFrame(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := dialConsole(t, s)
	r := dialRunner(t, s, "r1")
	id := s.submit(t, 1, "main")
	a := r.next(t)
	recs := make([]wire.TestRecord, 1200)
	msg := strings.Repeat("long failure message line\n", wire.MaxTestMessage/26)
	for i := range recs {
		recs[i] = wire.TestRecord{ID: fmt.Sprintf("%05d", i) + strings.Repeat("x", wire.MaxTestName-5), Suite: strings.Repeat("s", wire.MaxTestName),
			Outcome: wire.OutcomeFailed, DurationMS: new(int64(i)), Message: msg}
	}
	n := r.sendChunks(t, a, recs, 300)
	if err := r.sendResult(ctxT(t), a, wire.StatusFailed, n, 0, recs); err != nil {
		t.Fatal(err)
	}
	first := getJob(t, c, wire.JobGet{JobID: id, TestsLimit: wire.MaxTestsPage})
	if p := first.Tests; p == nil || len(p.Tests) == 0 || len(p.Tests) >= wire.MaxTestsPage || p.Next != len(p.Tests) {
		t.Fatalf("first page: %d records, next %d; want fewer than %d, next after them", len(p.Tests), p.Next, wire.MaxTestsPage)
	}
	if got := readAll(t, c, id, 1, wire.TestsSlowest, len(recs)); !slices.Equal(ids(got), slowestFirst(recs)) {
		t.Errorf("slowest first through cut pages: got %d records in another order", len(got))
	}
}
