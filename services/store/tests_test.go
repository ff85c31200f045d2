package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// bigSuite is n records: every seventh without a duration, every hundredth
// failed with a message, durations spread so that slowest first is no
// accident of the order reported.
func bigSuite(n int) []TestRecord {
	recs := make([]TestRecord, n)
	for i := range recs {
		r := &recs[i]
		r.ID = fmt.Sprintf("pkg%d/TestCase%05d", i%50, i)
		r.Suite = fmt.Sprintf("pkg%d", i%50)
		r.Outcome = wire.OutcomePassed
		if i%7 != 0 {
			r.DurationMS = new(int64((i * 7919) % 100_003))
		}
		if i%100 == 1 {
			r.Outcome, r.Message = wire.OutcomeFailed, fmt.Sprintf("case_test.go:%d: got %d\nwant %d", i, i, i+1)
		}
	}
	return recs
}

// finishedJob is a job of commit c that ended with its attempt-th result.
func finishedJob(id, c string, attempt int, status wire.State, seq int64) Job {
	j := testJob(id, status, seq)
	j.Commit, j.Attempt, j.Runner, j.FinishedAt = c, attempt, "r1", base.Add(time.Duration(seq)*time.Minute)
	return j
}

// putFinished records job j's attempt with its result and records, and
// returns what the store found out.
func putFinished(t testing.TB, s *testStore, j Job, tests []TestRecord) *Flakiness {
	t.Helper()
	res := Result{Attempt: j.Attempt, Status: j.State, StartedAt: j.FinishedAt.Add(-time.Second), FinishedAt: j.FinishedAt}
	found := new(Flakiness)
	applyOK(t, s, PutJob{Job: j}, PutAttempt{JobID: j.ID, Attempt: Attempt{N: j.Attempt, Runner: "r1", Outcome: string(j.State)}},
		PutResult{JobID: j.ID, Repo: j.Repo, Commit: j.Commit, Result: res, Tests: tests, Found: found})
	return found
}

// TestTestRecordsPaged stores a 50,000-record result (fewer under -race) and pages through it in
// the order reported and slowest first (tests without a duration last).
func TestTestRecordsPaged(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	recs := bigSuite(suiteSize)
	start := time.Now()
	putFinished(t, s, finishedJob("big", "c1", 1, wire.StatusFailed, 1), recs)
	t.Logf("stored %d records in %v", len(recs), time.Since(start))

	if j := getJob(t, s, "big"); j.Result == nil || j.Result.TestsTotal != len(recs) {
		t.Fatalf("job = %s, want %d tests", dumpJob(j), len(recs))
	}
	read := func(order string) []TestRecord {
		var all []TestRecord
		for off := 0; ; {
			p, err := s.Tests(ctx, "big", 1, off, wire.MaxTestsPage, order)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != len(recs) {
				t.Fatalf("total = %d, want %d", p.Total, len(recs))
			}
			if len(p.Tests) == 0 {
				return all
			}
			all = append(all, p.Tests...)
			off += len(p.Tests)
		}
	}
	if got := read(wire.TestsInOrder); !slices.EqualFunc(got, recs, sameRecord) {
		t.Errorf("in order: %d records, first %+v; want %d as stored", len(got), got[:min(1, len(got))], len(recs))
	}
	want := slices.Clone(recs)
	slices.SortStableFunc(want, func(a, b TestRecord) int {
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
	if got := read(wire.TestsSlowest); !slices.EqualFunc(got, want, sameRecord) {
		t.Errorf("slowest first: %d records, first %+v; want %d, first %+v", len(got), got[:min(1, len(got))], len(want), want[0])
	}
	// A page from the middle, and past the end.
	if p, err := s.Tests(ctx, "big", 1, len(recs)-10, 20, ""); err != nil || len(p.Tests) != 10 || p.Tests[0].ID != recs[len(recs)-10].ID {
		t.Errorf("last page = %d records, %v", len(p.Tests), err)
	}
	// An attempt without a result has no records, and says so without error.
	if p, err := s.Tests(ctx, "big", 2, 0, 20, ""); err != nil || p.Total != 0 || len(p.Tests) != 0 {
		t.Errorf("attempt 2 = %+v, %v; want empty", p, err)
	}
}

func sameRecord(a, b TestRecord) bool {
	return a.ID == b.ID && a.Suite == b.Suite && a.Outcome == b.Outcome && a.Message == b.Message &&
		(a.DurationMS == nil) == (b.DurationMS == nil) && (a.DurationMS == nil || *a.DurationMS == *b.DurationMS)
}

// TestFlakyBookkeeping follows one test that flips on two commits: a retry of
// a job, then a second job of the next commit; the flip count is per commit,
// and a passed job becomes flaky when another of its commit fails.
func TestFlakyBookkeeping(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	rec := func(id, outcome string) TestRecord { return TestRecord{ID: id, Suite: "s", Outcome: outcome} }
	pass, fail, errd := wire.OutcomePassed, wire.OutcomeFailed, wire.OutcomeError

	// Commit c1: attempt 1 fails T1 (and errors T3), attempt 2 passes everything.
	j := finishedJob("j1", "c1", 1, wire.StatusFailed, 1)
	if f := putFinished(t, s, j, []TestRecord{rec("T1", fail), rec("T2", pass), rec("T3", errd)}); f.Flaky || len(f.Tests) > 0 {
		t.Errorf("first attempt found %+v, want nothing", f)
	}
	j.Attempt, j.State = 2, wire.StatusPassed
	f := putFinished(t, s, j, []TestRecord{rec("T1", pass), rec("T2", pass), rec("T3", pass)})
	if !f.Flaky || !slices.Equal(f.Tests, []string{"T1", "T3"}) || len(f.Jobs) > 0 {
		t.Errorf("retry found %+v, want flaky with T1 and T3", f)
	}
	if got := getJob(t, s, "j1"); !got.Result.Flaky || !slices.Equal(got.FlakyTests, []string{"T1", "T3"}) {
		t.Errorf("j1 = flaky %v, tests %v", got.Result.Flaky, got.FlakyTests)
	}
	// A third attempt of c1 failing T1 again is no new flip of c1.
	j.Attempt, j.State = 3, wire.StatusFailed
	putFinished(t, s, j, []TestRecord{rec("T1", fail)})

	// Commit c2: job k1 passes, then job k2 of the same commit fails T1.
	k1 := finishedJob("k1", "c2", 1, wire.StatusPassed, 2)
	if f := putFinished(t, s, k1, []TestRecord{rec("T1", pass)}); f.Flaky {
		t.Errorf("k1 found %+v, want not flaky", f)
	}
	k2 := finishedJob("k2", "c2", 1, wire.StatusFailed, 3)
	if f := putFinished(t, s, k2, []TestRecord{rec("T1", fail)}); f.Flaky || !slices.Equal(f.Jobs, []string{"k1"}) ||
		!slices.Equal(f.Tests, []string{"T1"}) {
		t.Errorf("k2 found %+v, want k1 flaky now and T1", f)
	}
	if got := getJob(t, s, "k1"); !got.Result.Flaky || !slices.Equal(got.FlakyTests, []string{"T1"}) {
		t.Errorf("k1 = flaky %v, tests %v", got.Result.Flaky, got.FlakyTests)
	}
	if got := getJob(t, s, "k2"); got.Result.Flaky || !slices.Equal(got.FlakyTests, []string{"T1"}) {
		t.Errorf("k2 (failed) = flaky %v, tests %v; want not flaky, T1", got.Result.Flaky, got.FlakyTests)
	}
	// Another repository's commit of the same id is not mixed in.
	o := finishedJob("o1", "c2", 1, wire.StatusPassed, 4)
	o.Repo = "github.com/other/repo"
	if f := putFinished(t, s, o, []TestRecord{rec("T1", pass)}); f.Flaky || len(f.Tests) > 0 {
		t.Errorf("other repository's job found %+v", f)
	}

	list, err := s.Flaky(ctx, "github.com/eventide-ci/demo", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "T1" || list[0].Flips != 2 || list[0].LastJob != "k2" || list[0].LastCommit != "c2" ||
		list[0].Suite != "s" || list[1].ID != "T3" || list[1].Flips != 1 || list[1].LastCommit != "c1" {
		t.Errorf("flaky list = %+v", list)
	}
	if list, err := s.Flaky(ctx, "github.com/other/repo", 10); err != nil || len(list) != 0 {
		t.Errorf("other repository's flaky list = %+v, %v", list, err)
	}
	// Lists carry the flaky tests too.
	jobs, _, err := s.Jobs(ctx, JobQuery{Commit: "c2", Repo: "github.com/eventide-ci/demo"})
	if err != nil || len(jobs) != 2 || !slices.Equal(jobs[0].FlakyTests, []string{"T1"}) {
		t.Errorf("listed = %+v, %v", jobs, err)
	}
}

// TestMigrateFromV5WithTests upgrades a version 5 database holding a result
// with per-test outcomes: they become records (no suite, duration or message)
// that page as new ones do, counted in the result's total.
func TestMigrateFromV5WithTests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := rawDB(t, dir)
	for i := 0; i < 5; i++ {
		if _, err := db.Exec(migrations[i]); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	stmts := []string{
		`PRAGMA user_version = 5`,
		`INSERT INTO jobs (id, repo, commit_id, state, attempt, queued_at, finished_at) VALUES ('v5', 'github.com/o/r', 'c5', 'failed', 1, 1, 2)`,
		`INSERT INTO attempts (job_id, n, runner, assigned_at, outcome) VALUES ('v5', 1, 'r', 1, 'failed')`,
		`INSERT INTO results (job_id, attempt, status, exit_code, passed, failed, errors, skipped, started_at, finished_at, output_bytes)
			VALUES ('v5', 1, 'failed', 1, 1, 1, 0, 0, 1, 2, 0)`,
		`INSERT INTO test_outcomes (job_id, attempt, pos, name, outcome) VALUES ('v5', 1, 0, 'TestB', 'failed'), ('v5', 1, 1, 'TestA', 'passed')`,
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, Options{})
	if j := getJob(t, s, "v5"); j.Result == nil || j.Result.TestsTotal != 2 || j.Result.Flaky || len(j.Attempts) != 1 || j.Attempts[0].Rerun {
		t.Errorf("upgraded job = %s", dumpJob(j))
	}
	for order, want := range map[string][]string{"": {"TestB", "TestA"}, wire.TestsSlowest: {"TestB", "TestA"}} {
		p, err := s.Tests(context.Background(), "v5", 1, 0, 10, order)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Tests {
			ids = append(ids, r.ID)
			if r.DurationMS != nil || r.Suite != "" || r.Message != "" {
				t.Errorf("upgraded record %+v has more than its name and outcome", r)
			}
		}
		if p.Total != 2 || !slices.Equal(ids, want) {
			t.Errorf("order %q: total %d, %v; want 2, %v", order, p.Total, ids, want)
		}
	}
	// A new attempt of its commit compares with the old one's outcomes.
	j := finishedJob("v5", "c5", 2, wire.StatusPassed, 9)
	j.Repo = "github.com/o/r"
	if f := putFinished(t, s, j, []TestRecord{{ID: "TestB", Outcome: wire.OutcomePassed}}); !f.Flaky || !slices.Equal(f.Tests, []string{"TestB"}) {
		t.Errorf("after upgrade, a retry found %+v; want TestB flaky", f)
	}
	if snap, err := s.Load(context.Background(), 10); err != nil || len(snap.Recent) != 1 {
		t.Errorf("Load = %v, %v", snap, err)
	}
}

// BenchmarkPutResult50k stores one result with 50,000 records: the batch's
// whole transaction, with its fsync. "first" is a commit's first result;
// "retry" a second attempt of a commit whose first failed 500 of the tests,
// which adds the search for flaky tests (the first attempt's records read
// back, 500 flips recorded).
func BenchmarkPutResult50k(b *testing.B) {
	recs := bigSuite(50_000)
	pass := slices.Clone(recs)
	for i := range pass {
		pass[i].Outcome, pass[i].Message = wire.OutcomePassed, ""
	}
	for _, retry := range []bool{false, true} {
		name := "first"
		if retry {
			name = "retry"
		}
		b.Run(name, func(b *testing.B) {
			s := openStore(b, b.TempDir(), Options{})
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				j := finishedJob(fmt.Sprintf("b%06d", i), fmt.Sprintf("c%06d", i), 1, wire.StatusFailed, int64(i))
				if !retry {
					putFinished(b, s, j, recs)
					continue
				}
				b.StopTimer()
				putFinished(b, s, j, recs)
				b.StartTimer()
				j.Attempt, j.State = 2, wire.StatusPassed
				if f := putFinished(b, s, j, pass); !f.Flaky || len(f.Tests) != wire.MaxFlakyTests {
					b.Fatalf("found %+v", f)
				}
			}
		})
	}
}
