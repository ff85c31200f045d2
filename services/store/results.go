package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// testsPerInsert is how many records one INSERT statement writes: 8 columns
// each, well under SQLite's limit of bound parameters.
const testsPerInsert = 128

// testsInsert is an INSERT of n records.
func testsInsert(n int) string {
	return `INSERT OR REPLACE INTO test_outcomes (job_id, attempt, pos, name, outcome, suite, duration_ms, message) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?),", n), ",")
}

// otherResult is another attempt's result of the same commit.
type otherResult struct {
	job     string
	attempt int
	status  string
}

// putResult writes a result, its records and what it reveals about the
// commit's flaky tests, inside the batch's transaction.
func (s *stmts) putResult(ctx context.Context, o *PutResult) error {
	r := &o.Result
	found := o.Found
	if found == nil {
		found = new(Flakiness)
	}
	*found = Flakiness{}
	others, err := s.otherResults(ctx, o)
	if err != nil {
		return err
	}
	for _, x := range others {
		if r.Status == wire.StatusPassed && x.status == wire.StatusFailed {
			found.Flaky = true
		}
	}
	failing, err := jsonList(r.Summary.Failing)
	if err != nil {
		return err
	}
	unknown, err := jsonList(r.Summary.Unknown)
	if err != nil {
		return err
	}
	failures, err := jsonList(r.Summary.Failures)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, "result", o.JobID, r.Attempt, string(r.Status), r.Reason, r.ExitCode, r.Summary.Passed,
		r.Summary.Failed, r.Summary.Errors, r.Summary.Skipped, failing, nanos(r.StartedAt),
		nanos(r.FinishedAt), r.OutputBytes, r.CPUMS, r.PeakMemoryBytes, r.Summary.Reported, unknown, failures,
		len(o.Tests), found.Flaky); err != nil {
		return err
	}
	if err := s.putTests(ctx, o.JobID, r.Attempt, o.Tests); err != nil {
		return err
	}
	if r.Status == wire.StatusFailed {
		// A job of the commit that passed is flaky now.
		for _, x := range others {
			if x.status != wire.StatusPassed {
				continue
			}
			n, err := s.execN(ctx, "result.flaky", x.job, x.attempt)
			if err != nil {
				return err
			}
			if n > 0 {
				found.Jobs = append(found.Jobs, x.job)
			}
		}
	}
	if len(others) == 0 || len(o.Tests) == 0 {
		return nil // nothing to compare with: the common case costs nothing more
	}
	if err := s.flips(ctx, o, others); err != nil {
		return err
	}
	rows, err := s.query(ctx, "flaky.list", o.Commit, o.Repo, wire.MaxFlakyTests)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		found.Tests = append(found.Tests, id)
	}
	return rows.Err()
}

// otherResults are the commit's results other than o's.
func (s *stmts) otherResults(ctx context.Context, o *PutResult) ([]otherResult, error) {
	rows, err := s.query(ctx, "commit.results", o.Commit, o.Repo, o.JobID, o.Result.Attempt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []otherResult
	for rows.Next() {
		var x otherResult
		if err := rows.Scan(&x.job, &x.attempt, &x.status); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// putTests writes an attempt's records in statements of testsPerInsert rows.
func (s *stmts) putTests(ctx context.Context, id string, attempt int, tests []TestRecord) error {
	if err := s.exec(ctx, "tests.drop", id, attempt); err != nil {
		return err
	}
	args := make([]any, 0, 8*testsPerInsert)
	for pos := 0; pos < len(tests); {
		name, n := "tests", testsPerInsert
		if len(tests)-pos < testsPerInsert {
			name, n = "test", 1
		}
		args = args[:0]
		for _, t := range tests[pos : pos+n] {
			var dur any
			if t.DurationMS != nil {
				dur = *t.DurationMS
			}
			args = append(args, id, attempt, pos, t.ID, t.Outcome, t.Suite, dur, t.Message)
			pos++
		}
		if err := s.exec(ctx, name, args...); err != nil {
			return fmt.Errorf("test records: %w", err)
		}
	}
	return nil
}

// Classes of outcomes a flip is between.
const (
	classPassed = 1 << iota
	classFailed
)

func outcomeClass(outcome string) int {
	switch outcome {
	case wire.OutcomePassed:
		return classPassed
	case wire.OutcomeFailed, wire.OutcomeError:
		return classFailed
	}
	return 0
}

// flips records the tests of o that passed here and failed in another attempt
// of the commit, or the other way round: a row in flaky_commits each, and a
// flip more for the repository's test the first time it flips on the commit.
func (s *stmts) flips(ctx context.Context, o *PutResult, others []otherResult) error {
	mine := make(map[string]int, len(o.Tests))
	suite := make(map[string]string)
	for _, t := range o.Tests {
		if c := outcomeClass(t.Outcome); c != 0 {
			mine[t.ID] |= c
			if t.Suite != "" {
				suite[t.ID] = t.Suite
			}
		}
	}
	flipped := make(map[string]bool)
	for _, x := range others {
		rows, err := s.query(ctx, "attempt.outcomes", x.job, x.attempt)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name, outcome string
			if err := rows.Scan(&name, &outcome); err != nil {
				rows.Close()
				return err
			}
			if m, ok := mine[name]; ok && (m|outcomeClass(outcome)) == classPassed|classFailed {
				flipped[name] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	now := time.Now().UnixNano()
	for name := range flipped {
		n, err := s.execN(ctx, "flaky.commit", o.Commit, o.Repo, name, o.JobID, now)
		if err != nil {
			return err
		}
		if err := s.exec(ctx, "flaky.test", o.Repo, name, suite[name], n, now, o.JobID, o.Commit); err != nil {
			return err
		}
	}
	return nil
}
