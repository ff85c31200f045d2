package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// jobCols are a job's columns with its current attempt's result, from
// "jobs j LEFT JOIN results r ON r.job_id = j.id AND r.attempt = j.attempt".
const jobCols = `j.id, j.repo, j.commit_id, j.branch, j.author, j.message, j.state, j.attempt, j.runner, j.reason,
	j.queued_at, j.started_at, j.finished_at, j.seq, j.retry_base, j.file_written, j.runner_id,
	r.status, r.reason, r.exit_code, r.passed, r.failed, r.errors, r.skipped, r.failing, r.started_at, r.finished_at, r.output_bytes,
	r.cpu_ms, r.peak_memory_bytes, r.reported, r.unknown, r.failures, r.tests_total, r.flaky`

const jobFrom = ` FROM jobs j LEFT JOIN results r ON r.job_id = j.id AND r.attempt = j.attempt`

type scanner interface{ Scan(...any) error }

func scanJob(sc scanner) (Job, error) {
	var (
		j                         Job
		state                     string
		queued, started, finished int64
		rStatus, rReason, rFail   sql.NullString
		rExit, rPass, rFailed     sql.NullInt64
		rErr, rSkip, rStart, rEnd sql.NullInt64
		rBytes, rCPU, rPeak       sql.NullInt64
		rReported                 sql.NullBool
		rUnknown, rFailures       sql.NullString
		rTotal                    sql.NullInt64
		rFlaky                    sql.NullBool
	)
	err := sc.Scan(&j.ID, &j.Repo, &j.Commit, &j.Branch, &j.Author, &j.Message, &state, &j.Attempt, &j.Runner, &j.Reason,
		&queued, &started, &finished, &j.Seq, &j.RetryBase, &j.FileWritten, &j.RunnerID,
		&rStatus, &rReason, &rExit, &rPass, &rFailed, &rErr, &rSkip, &rFail, &rStart, &rEnd, &rBytes,
		&rCPU, &rPeak, &rReported, &rUnknown, &rFailures, &rTotal, &rFlaky)
	if err != nil {
		return Job{}, err
	}
	j.State = wire.State(state)
	j.QueuedAt, j.StartedAt, j.FinishedAt = fromNanos(queued), fromNanos(started), fromNanos(finished)
	if rStatus.Valid {
		res := &Result{Attempt: j.Attempt, Status: wire.State(rStatus.String), Reason: rReason.String,
			ExitCode: int(rExit.Int64), StartedAt: fromNanos(rStart.Int64), FinishedAt: fromNanos(rEnd.Int64),
			OutputBytes: rBytes.Int64, CPUMS: nullable(rCPU), PeakMemoryBytes: nullable(rPeak),
			TestsTotal: int(rTotal.Int64), Flaky: rFlaky.Bool}
		res.Summary = Summary{Passed: int(rPass.Int64), Failed: int(rFailed.Int64), Errors: int(rErr.Int64), Skipped: int(rSkip.Int64)}
		if err := json.Unmarshal([]byte(rFail.String), &res.Summary.Failing); err != nil {
			return Job{}, fmt.Errorf("job %s: failing tests: %w", j.ID, err)
		}
		if rReported.Valid {
			res.Summary.Reported = new(rReported.Bool)
		}
		if err := jsonColumn(rUnknown.String, &res.Summary.Unknown); err != nil {
			return Job{}, fmt.Errorf("job %s: unknown counts: %w", j.ID, err)
		}
		if err := jsonColumn(rFailures.String, &res.Summary.Failures); err != nil {
			return Job{}, fmt.Errorf("job %s: failures: %w", j.ID, err)
		}
		j.Result = res
	}
	return j, nil
}

// nullable is a column where NULL means "not measured".
func nullable(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func (s *SQLite) queryJobs(ctx context.Context, db *sql.DB, where string, args ...any) ([]Job, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+jobCols+jobFrom+" "+where, args...)
	if err != nil {
		return nil, s.describe(err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, s.describe(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe(err)
	}
	return out, nil
}

// fill attaches attempts and the commit's flaky tests to jobs. Per-test
// records stay in the store (Tests reads them a page at a time): a suite of
// 50,000 tests in each of thousands of jobs would not fit in memory.
func (s *SQLite) fill(ctx context.Context, db *sql.DB, jobs []Job) error {
	const batch = 500
	at := make(map[string]int, len(jobs))
	for i := range jobs {
		at[jobs[i].ID] = i
	}
	for lo := 0; lo < len(jobs); lo += batch {
		hi := min(lo+batch, len(jobs))
		ids := make([]any, 0, hi-lo)
		for _, j := range jobs[lo:hi] {
			ids = append(ids, j.ID)
		}
		rows, err := db.QueryContext(ctx, `SELECT job_id, n, runner, assigned_at, ended_at, outcome, reason, rerun FROM attempts
			WHERE job_id IN (`+placeholders(len(ids))+`) ORDER BY job_id, n`, ids...)
		if err != nil {
			return s.describe(err)
		}
		for rows.Next() {
			var id string
			var a Attempt
			var assigned, ended int64
			if err := rows.Scan(&id, &a.N, &a.Runner, &assigned, &ended, &a.Outcome, &a.Reason, &a.Rerun); err != nil {
				rows.Close()
				return s.describe(err)
			}
			a.Assigned, a.Ended = fromNanos(assigned), fromNanos(ended)
			j := &jobs[at[id]]
			j.Attempts = append(j.Attempts, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.describe(err)
		}
	}
	return s.fillFlaky(ctx, db, jobs)
}

// fillFlaky attaches each job's commit's flaky tests, for jobs with a result
// (a commit has flaky tests only once two of its attempts have results).
func (s *SQLite) fillFlaky(ctx context.Context, db *sql.DB, jobs []Job) error {
	const batch = 500
	byCommit := make(map[string][]int)
	var commits []any
	for i := range jobs {
		if jobs[i].Result == nil {
			continue
		}
		c := jobs[i].Commit
		if _, ok := byCommit[c]; !ok {
			commits = append(commits, c)
		}
		byCommit[c] = append(byCommit[c], i)
	}
	for lo := 0; lo < len(commits); lo += batch {
		part := commits[lo:min(lo+batch, len(commits))]
		rows, err := db.QueryContext(ctx, `SELECT commit_id, repo, test_id FROM flaky_commits
			WHERE commit_id IN (`+placeholders(len(part))+`) ORDER BY commit_id, repo, test_id`, part...)
		if err != nil {
			return s.describe(err)
		}
		for rows.Next() {
			var c, repo, id string
			if err := rows.Scan(&c, &repo, &id); err != nil {
				rows.Close()
				return s.describe(err)
			}
			for _, i := range byCommit[c] {
				if j := &jobs[i]; j.Repo == repo && len(j.FlakyTests) < wire.MaxFlakyTests {
					j.FlakyTests = append(j.FlakyTests, id)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.describe(err)
		}
	}
	return nil
}

// Load returns the state a starting dispatcher resumes from. It reads through the
// writer's connection, so it sees everything committed.
func (s *SQLite) Load(ctx context.Context, recent int) (*Snapshot, error) {
	snap := &Snapshot{Extents: make(map[string][]Extent)}
	var err error
	snap.Active, err = s.queryJobs(ctx, s.wdb, `WHERE j.state IN ('queued','assigned','running')
		ORDER BY j.state <> 'queued', j.seq, j.queued_at`)
	if err != nil {
		return nil, err
	}
	if err := s.fill(ctx, s.wdb, snap.Active); err != nil {
		return nil, err
	}
	rows, err := s.wdb.QueryContext(ctx, `SELECT l.job_id, l.offset, length(l.data) FROM logs l
		JOIN jobs j ON j.id = l.job_id AND j.attempt = l.attempt
		WHERE j.state IN ('assigned','running') ORDER BY l.job_id, l.offset`)
	if err != nil {
		return nil, s.describe(err)
	}
	for rows.Next() {
		var id string
		var e Extent
		if err := rows.Scan(&id, &e.Offset, &e.Len); err != nil {
			rows.Close()
			return nil, s.describe(err)
		}
		snap.Extents[id] = append(snap.Extents[id], e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.describe(err)
	}
	if recent > 0 {
		snap.Recent, err = s.queryJobs(ctx, s.wdb, `WHERE j.finished_at > 0 ORDER BY j.finished_at DESC, j.id DESC LIMIT ?`, recent)
		if err != nil {
			return nil, err
		}
		for i, k := 0, len(snap.Recent)-1; i < k; i, k = i+1, k-1 {
			snap.Recent[i], snap.Recent[k] = snap.Recent[k], snap.Recent[i]
		}
		if err := s.fill(ctx, s.wdb, snap.Recent); err != nil {
			return nil, err
		}
	}
	if snap.Unwritten, err = s.unwritten(ctx, s.wdb, UnwrittenLoaded); err != nil {
		return nil, err
	}
	rows, err = s.wdb.QueryContext(ctx, `SELECT name, labels, slots, first_seen, last_seen, done, last_error FROM runners ORDER BY name`)
	if err != nil {
		return nil, s.describe(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Runner
		var labels string
		var first, last int64
		if err := rows.Scan(&r.Name, &labels, &r.Slots, &first, &last, &r.Done, &r.LastError); err != nil {
			return nil, s.describe(err)
		}
		if err := json.Unmarshal([]byte(labels), &r.Labels); err != nil {
			return nil, fmt.Errorf("runner %s: labels: %w", r.Name, err)
		}
		r.FirstSeen, r.LastSeen = fromNanos(first), fromNanos(last)
		snap.Runners = append(snap.Runners, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.describe(err)
	}
	snap.Identities, err = s.identities(ctx)
	return snap, err
}

// identities reads every runner identity, oldest first.
func (s *SQLite) identities(ctx context.Context) ([]Identity, error) {
	rows, err := s.wdb.QueryContext(ctx, `SELECT id, name, secret_sha256, enrolled_at, revoked_at FROM identities ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, s.describe(err)
	}
	defer rows.Close()
	var out []Identity
	for rows.Next() {
		var i Identity
		var hash []byte
		var enrolled, revoked int64
		if err := rows.Scan(&i.ID, &i.Name, &hash, &enrolled, &revoked); err != nil {
			return nil, s.describe(err)
		}
		if len(hash) != len(i.SecretSHA256) {
			return nil, fmt.Errorf("identity %s: secret hash is %d bytes, want %d", i.ID, len(hash), len(i.SecretSHA256))
		}
		copy(i.SecretSHA256[:], hash)
		i.EnrolledAt, i.RevokedAt = fromNanos(enrolled), fromNanos(revoked)
		out = append(out, i)
	}
	return out, s.describeNil(rows.Err())
}

func (s *SQLite) describeNil(err error) error {
	if err == nil {
		return nil
	}
	return s.describe(err)
}

// Job returns one job with its attempts and result.
func (s *SQLite) Job(ctx context.Context, id string) (Job, error) {
	jobs, err := s.queryJobs(ctx, s.rdb, `WHERE j.id = ?`, id)
	if err != nil {
		return Job{}, err
	}
	if len(jobs) == 0 {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err := s.fill(ctx, s.rdb, jobs); err != nil {
		return Job{}, err
	}
	j := &jobs[0]
	rows, err := s.rdb.QueryContext(ctx, `SELECT attempt, sum(length(data)) FROM logs WHERE job_id = ? GROUP BY attempt`, id)
	if err != nil {
		return Job{}, s.describe(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		var size int64
		if err := rows.Scan(&n, &size); err != nil {
			return Job{}, s.describe(err)
		}
		for i := range j.Attempts {
			if j.Attempts[i].N == n {
				j.Attempts[i].LogBytes = size
			}
		}
	}
	return *j, s.describeNil(rows.Err())
}

// DefaultListLimit is a jobs.list page when the query names none.
const DefaultListLimit = 100

// Jobs lists the jobs matching q, newest first, without their attempts.
func (s *SQLite) Jobs(ctx context.Context, q JobQuery) ([]Job, bool, error) {
	var where []string
	var args []any
	if len(q.States) > 0 {
		where = append(where, "j.state IN ("+placeholders(len(q.States))+")")
		for _, st := range q.States {
			args = append(args, string(st))
		}
	}
	for _, f := range []struct {
		col, v string
	}{{"j.repo", q.Repo}, {"j.commit_id", q.Commit}, {"j.branch", q.Branch}} {
		if f.v != "" {
			where = append(where, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	if !q.Since.IsZero() {
		where = append(where, "j.queued_at >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, "j.queued_at < ?")
		args = append(args, q.Until.UnixNano())
	}
	if q.Before != "" {
		where = append(where, "(j.queued_at, j.id) < (SELECT queued_at, id FROM jobs WHERE id = ?)")
		args = append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}
	jobs, err := s.queryJobs(ctx, s.rdb, clause+" ORDER BY j.queued_at DESC, j.id DESC LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, false, err
	}
	more := len(jobs) > limit
	if more {
		jobs = jobs[:limit]
	}
	if err := s.fillFlaky(ctx, s.rdb, jobs); err != nil {
		return nil, false, err
	}
	return jobs, more, nil
}

// Position returns the last dispatched commit of each branch of repo.
func (s *SQLite) Position(ctx context.Context, repo string) (map[string]string, bool, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT branch, commit_id FROM positions WHERE repo = ?`, repo)
	if err != nil {
		return nil, false, s.describe(err)
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var b, c string
		if err := rows.Scan(&b, &c); err != nil {
			return nil, false, s.describe(err)
		}
		out[b] = c
	}
	return out, len(out) > 0, s.describeNil(rows.Err())
}

// Unwritten returns finished jobs whose result file is not written yet, oldest
// first, at most limit of them.
func (s *SQLite) Unwritten(ctx context.Context, limit int) ([]Job, error) {
	return s.unwritten(ctx, s.rdb, limit)
}

func (s *SQLite) unwritten(ctx context.Context, db *sql.DB, limit int) ([]Job, error) {
	jobs, err := s.queryJobs(ctx, db, `WHERE j.file_written = 0 AND j.finished_at > 0 ORDER BY j.finished_at, j.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	if err := s.fill(ctx, db, jobs); err != nil {
		return nil, err
	}
	return jobs, nil
}

// Prune deletes the logs of jobs that finished before t, a few hundred attempts
// per transaction so that the batch writer is never held up for long.
func (s *SQLite) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT l.job_id, l.attempt FROM logs l JOIN jobs j ON j.id = l.job_id
			WHERE j.finished_at > 0 AND j.finished_at < ? LIMIT 200`, before.UnixNano())
		if err != nil {
			return total, s.describe(err)
		}
		var ops []Op
		for rows.Next() {
			var d DeleteLog
			if err := rows.Scan(&d.JobID, &d.Attempt); err != nil {
				rows.Close()
				return total, s.describe(err)
			}
			ops = append(ops, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, s.describe(err)
		}
		if len(ops) == 0 {
			return total, nil
		}
		if err := s.Apply(ops...).Wait(ctx); err != nil {
			return total, err
		}
		total += len(ops)
	}
}

// jsonColumn reads a list column written by jsonList, leaving v nil for none.
func jsonColumn[T any](col string, v *[]T) error {
	if col == "" || col == "[]" {
		return nil
	}
	return json.Unmarshal([]byte(col), v)
}
