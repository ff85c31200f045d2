package dispatcher

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// What a runner reports comes back to a console as it was sent.
func TestRecordsKeepWhatTheWireCarries(t *testing.T) {
	t.Parallel()
	now := time.Now()
	res := &wire.Result{JobID: "0123456789abcdef", Attempt: 3, Status: wire.StatusFailed, Reason: "r", ExitCode: 2,
		StartedAt: now.Add(-time.Second), FinishedAt: now, OutputBytes: 77, CPUMS: new(int64(1500)),
		Summary: wire.Summary{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Failing: []string{"t/B"},
			Tests:    []wire.TestOutcome{{Name: "t/A", Outcome: wire.OutcomePassed}, {Name: "t/B", Outcome: wire.OutcomeFailed}},
			Reported: new(true), Unknown: []string{wire.CountSkipped},
			Failures: []wire.Failure{{ID: "t/B", Message: "b.go:1: no", DurationMS: new(int64(3))}}}}
	rec := resultRecord(res)
	if rec.Attempt != 3 || rec.Status != wire.StatusFailed || rec.Reason != "r" || rec.ExitCode != 2 ||
		!rec.StartedAt.Equal(res.StartedAt) || !rec.FinishedAt.Equal(now) || rec.OutputBytes != 77 {
		t.Errorf("record %+v of %+v", rec, res)
	}
	if rec.CPUMS == nil || *rec.CPUMS != 1500 || rec.PeakMemoryBytes != nil {
		t.Errorf("record's usage: cpu_ms %v, peak_memory_bytes %v; want 1500 and not measured", rec.CPUMS, rec.PeakMemoryBytes)
	}
	// Per-test outcomes are stored as records, apart from the summary, and
	// read back a page at a time (job.get), not with the summary.
	want := res.Summary
	want.Tests = nil
	if got := wireSummary(rec.Summary); !reflect.DeepEqual(got, want) {
		t.Errorf("summary back on the wire %+v, want %+v", got, want)
	}
	if got := summaryTests(&res.Summary); len(got) != 2 || got[0].ID != "t/A" || got[1].Outcome != wire.OutcomeFailed {
		t.Errorf("records of a summary's tests = %+v", got)
	}
	q := wire.JobQuery{States: []string{wire.StateQueued, wire.StatusFailed}, Repo: "/r", Commit: commit(1), Branch: "b",
		Since: now.Add(-time.Hour), Until: now, Limit: 7, Before: "0123456789abcdef"}
	sq := storeQuery(q)
	if !reflect.DeepEqual(sq.States, []State{wire.StateQueued, wire.StatusFailed}) || sq.Repo != q.Repo || sq.Commit != q.Commit ||
		sq.Branch != q.Branch || !sq.Since.Equal(q.Since) || !sq.Until.Equal(q.Until) || sq.Limit != 7 || sq.Before != q.Before {
		t.Errorf("store query %+v of %+v", sq, q)
	}
}

// A result file says what the job consumed, and "not measured" where the runner
// did not measure it: never 0.
func TestResultFileUsage(t *testing.T) {
	now := time.Now()
	j := &Job{ID: "0123456789abcdef", Commit: commit(1), State: wire.StatusPassed, Attempt: 1}
	for _, tc := range []struct {
		cpu, peak *int64
		want      []string
	}{
		{nil, nil, []string{"CPU time:  not measured\n", "Peak memory: not measured\n"}},
		{new(int64(1234)), nil, []string{"CPU time:  1.23 s\n", "Peak memory: not measured\n"}},
		{new(int64(0)), new(int64(129394278)), []string{"CPU time:  0.00 s\n", "Peak memory: 123.4 MiB\n"}},
	} {
		res := resultRecord(&wire.Result{JobID: j.ID, Attempt: 1, Status: wire.StatusPassed, StartedAt: now, FinishedAt: now,
			CPUMS: tc.cpu, PeakMemoryBytes: tc.peak})
		got := summary(j, &res)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("result file head lacks %q:\n%s", w, got)
			}
		}
	}
}
