package dispatcher

import (
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// The store keeps records of its own shape, which will grow what the wire does
// not carry; these convert at the dispatcher's edge, in both directions.

// resultRecord is what the store keeps of a runner's result.
func resultRecord(res *wire.Result) store.Result {
	s := res.Summary
	rec := store.Result{Attempt: res.Attempt, Status: State(res.Status), Reason: res.Reason, ExitCode: res.ExitCode,
		StartedAt: res.StartedAt, FinishedAt: res.FinishedAt, OutputBytes: res.OutputBytes,
		CPUMS: res.CPUMS, PeakMemoryBytes: res.PeakMemoryBytes,
		Summary: store.Summary{Passed: s.Passed, Failed: s.Failed, Errors: s.Errors, Skipped: s.Skipped, Failing: s.Failing}}
	rec.Summary.Reported, rec.Summary.Unknown = s.Reported, s.Unknown
	for _, f := range s.Failures {
		rec.Summary.Failures = append(rec.Summary.Failures, store.Failure(f))
	}
	return rec
}

// summaryTests are the per-test outcomes a runner before VersionTestRecords
// lists in its summary, as records without suite, duration or message.
func summaryTests(s *wire.Summary) []store.TestRecord {
	out := make([]store.TestRecord, 0, len(s.Tests))
	for _, t := range s.Tests {
		out = append(out, store.TestRecord{ID: t.Name, Outcome: t.Outcome})
	}
	return out
}

// wireSummary is a recorded summary as a console is sent it.
func wireSummary(s store.Summary) wire.Summary {
	out := wire.Summary{Passed: s.Passed, Failed: s.Failed, Errors: s.Errors, Skipped: s.Skipped, Failing: s.Failing}
	out.Reported, out.Unknown = s.Reported, s.Unknown
	for _, f := range s.Failures {
		out.Failures = append(out.Failures, wire.Failure(f))
	}
	return out
}

// storeQuery is a console's jobs.list as the store is asked it.
func storeQuery(q wire.JobQuery) store.JobQuery {
	sq := store.JobQuery{Repo: q.Repo, Commit: q.Commit, Branch: q.Branch, Since: q.Since, Until: q.Until,
		Limit: q.Limit, Before: q.Before}
	for _, s := range q.States {
		sq.States = append(sq.States, State(s))
	}
	return sq
}
