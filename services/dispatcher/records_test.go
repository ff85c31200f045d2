package dispatcher

import (
	"reflect"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// What a runner reports comes back to a console as it was sent.
func TestRecordsKeepWhatTheWireCarries(t *testing.T) {
	t.Parallel()
	now := time.Now()
	res := &wire.Result{JobID: "0123456789abcdef", Attempt: 3, Status: wire.StatusFailed, Reason: "r", ExitCode: 2,
		StartedAt: now.Add(-time.Second), FinishedAt: now, OutputBytes: 77,
		Summary: wire.Summary{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Failing: []string{"t/B"},
			Tests: []wire.TestOutcome{{Name: "t/A", Outcome: wire.OutcomePassed}, {Name: "t/B", Outcome: wire.OutcomeFailed}}}}
	rec := resultRecord(res)
	if rec.Attempt != 3 || rec.Status != wire.StatusFailed || rec.Reason != "r" || rec.ExitCode != 2 ||
		!rec.StartedAt.Equal(res.StartedAt) || !rec.FinishedAt.Equal(now) || rec.OutputBytes != 77 {
		t.Errorf("record %+v of %+v", rec, res)
	}
	if got := wireSummary(rec.Summary); !reflect.DeepEqual(got, res.Summary) {
		t.Errorf("summary back on the wire %+v, want %+v", got, res.Summary)
	}
	q := wire.JobQuery{States: []string{wire.StateQueued, wire.StatusFailed}, Repo: "/r", Commit: commit(1), Branch: "b",
		Since: now.Add(-time.Hour), Until: now, Limit: 7, Before: "0123456789abcdef"}
	sq := storeQuery(q)
	if !reflect.DeepEqual(sq.States, []State{wire.StateQueued, wire.StatusFailed}) || sq.Repo != q.Repo || sq.Commit != q.Commit ||
		sq.Branch != q.Branch || !sq.Since.Equal(q.Since) || !sq.Until.Equal(q.Until) || sq.Limit != 7 || sq.Before != q.Before {
		t.Errorf("store query %+v of %+v", sq, q)
	}
}
