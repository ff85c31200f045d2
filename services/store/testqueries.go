package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/eventide-ci/eventide/net/wire"
)

// Tests reads a page of an attempt's per-test records. Reported order pages
// by position (the records of an attempt are numbered from 0), slowest first
// walks test_outcomes_slowest; neither sorts.
func (s *SQLite) Tests(ctx context.Context, id string, attempt, offset, limit int, order string) (TestPage, error) {
	var page TestPage
	err := s.rdb.QueryRowContext(ctx, `SELECT tests_total FROM results WHERE job_id = ? AND attempt = ?`, id, attempt).Scan(&page.Total)
	if errors.Is(err, sql.ErrNoRows) || limit <= 0 {
		return page, nil // not finished: no records yet
	}
	if err != nil {
		return page, s.describe(err)
	}
	const cols = `SELECT name, suite, outcome, duration_ms, message FROM test_outcomes WHERE job_id = ? AND attempt = ?`
	var rows *sql.Rows
	switch order {
	case wire.TestsInOrder:
		rows, err = s.rdb.QueryContext(ctx, cols+` AND pos >= ? ORDER BY pos LIMIT ?`, id, attempt, offset, limit)
	case wire.TestsSlowest:
		rows, err = s.rdb.QueryContext(ctx, cols+` ORDER BY duration_ms DESC, pos LIMIT ? OFFSET ?`, id, attempt, limit, offset)
	default:
		return page, fmt.Errorf("tests of job %s: order %q: want \"\" or %q", id, order, wire.TestsSlowest)
	}
	if err != nil {
		return page, s.describe(err)
	}
	defer rows.Close()
	for rows.Next() {
		var t TestRecord
		var dur sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Suite, &t.Outcome, &dur, &t.Message); err != nil {
			return page, s.describe(err)
		}
		t.DurationMS = nullable(dur)
		page.Tests = append(page.Tests, t)
	}
	return page, s.describeNil(rows.Err())
}

// Flaky lists a repository's flaky tests, most recently seen first.
func (s *SQLite) Flaky(ctx context.Context, repo string, limit int) ([]FlakyTest, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT test_id, suite, flips, last_seen, last_job, last_commit FROM flaky_tests
		WHERE repo = ? ORDER BY last_seen DESC, test_id LIMIT ?`, repo, limit)
	if err != nil {
		return nil, s.describe(err)
	}
	defer rows.Close()
	var out []FlakyTest
	for rows.Next() {
		var f FlakyTest
		var seen int64
		if err := rows.Scan(&f.ID, &f.Suite, &f.Flips, &seen, &f.LastJob, &f.LastCommit); err != nil {
			return nil, s.describe(err)
		}
		f.LastSeen = fromNanos(seen)
		out = append(out, f)
	}
	return out, s.describeNil(rows.Err())
}
