package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// The statements each Op runs, prepared once on the writer's connection.
var opSQL = map[string]string{
	"job": `INSERT INTO jobs (id, repo, commit_id, branch, author, message, state, attempt, runner, reason,
			queued_at, started_at, finished_at, seq, retry_base, file_written, runner_id)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET state=excluded.state, attempt=excluded.attempt, runner=excluded.runner,
			runner_id=excluded.runner_id,
			reason=excluded.reason, started_at=excluded.started_at, finished_at=excluded.finished_at,
			seq=excluded.seq, retry_base=excluded.retry_base, file_written=excluded.file_written`,
	"attempt": `INSERT INTO attempts (job_id, n, runner, assigned_at, ended_at, outcome, reason, rerun) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (job_id, n) DO UPDATE SET runner=excluded.runner, assigned_at=excluded.assigned_at,
			ended_at=excluded.ended_at, outcome=excluded.outcome, reason=excluded.reason, rerun=excluded.rerun`,
	"result": `INSERT OR REPLACE INTO results (job_id, attempt, status, reason, exit_code, passed, failed, errors, skipped,
			failing, started_at, finished_at, output_bytes, cpu_ms, peak_memory_bytes, reported, unknown, failures,
			tests_total, flaky)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
	// Records go in testsPerInsert at a time: one statement per row cost more
	// in database/sql than SQLite spent on the row.
	"tests":      testsInsert(testsPerInsert),
	"test":       testsInsert(1),
	"tests.drop": `DELETE FROM test_outcomes WHERE job_id = ? AND attempt = ?`,
	// The commit's other results, for flaky tests and flaky jobs.
	"commit.results": `SELECT r.job_id, r.attempt, r.status FROM results r JOIN jobs j ON j.id = r.job_id
		WHERE j.commit_id = ? AND j.repo = ? AND NOT (r.job_id = ? AND r.attempt = ?)`,
	"attempt.outcomes": `SELECT name, outcome FROM test_outcomes WHERE job_id = ? AND attempt = ?`,
	"result.flaky":     `UPDATE results SET flaky = 1 WHERE job_id = ? AND attempt = ? AND status = 'passed' AND flaky = 0`,
	"flaky.commit": `INSERT INTO flaky_commits (commit_id, repo, test_id, job_id, seen_at) VALUES (?,?,?,?,?)
		ON CONFLICT DO NOTHING`,
	"flaky.test": `INSERT INTO flaky_tests (repo, test_id, suite, flips, last_seen, last_job, last_commit) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (repo, test_id) DO UPDATE SET suite=excluded.suite, flips=flips+excluded.flips,
			last_seen=excluded.last_seen, last_job=excluded.last_job, last_commit=excluded.last_commit`,
	"flaky.list": `SELECT test_id FROM flaky_commits WHERE commit_id = ? AND repo = ? ORDER BY test_id LIMIT ?`,
	"log":        `INSERT OR IGNORE INTO logs (job_id, attempt, offset, data) VALUES (?,?,?,?)`,
	"trim":       `DELETE FROM logs WHERE job_id = ? AND attempt = ? AND offset >= ? AND offset < ?`,
	// A chunk across the cut keeps its part from the cut on (offsets are bytes).
	"trimsplit": `UPDATE logs SET data = substr(data, ? - offset + 1), offset = ?
		WHERE job_id = ? AND attempt = ? AND offset >= ? AND offset < ? AND offset + length(data) > ?`,
	"trimmark":  `UPDATE attempts SET log_cut = max(log_cut, ?) WHERE job_id = ? AND n = ?`,
	"deletelog": `DELETE FROM logs WHERE job_id = ? AND attempt = ?`,
	"file":      `UPDATE jobs SET file_written = 1 WHERE id = ?`,
	"runner": `INSERT INTO runners (name, labels, slots, first_seen, last_seen, done, last_error) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (name) DO UPDATE SET labels=excluded.labels, slots=excluded.slots, last_seen=excluded.last_seen,
			done=excluded.done, last_error=excluded.last_error`,
	"identity": `INSERT INTO identities (id, name, secret_sha256, enrolled_at, revoked_at) VALUES (?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET name=excluded.name, revoked_at=excluded.revoked_at`,
	"position": `INSERT INTO positions (repo, branch, commit_id, updated_at) VALUES (?,?,?,?)
		ON CONFLICT (repo, branch) DO UPDATE SET commit_id=excluded.commit_id, updated_at=excluded.updated_at`,
}

// stmts runs ops inside one transaction with the statements prepared once on
// the writer's connection (parsing SQL for every batch cost more than running it).
type stmts struct {
	tx       *sql.Tx
	prepared map[string]*sql.Stmt
	inTx     map[string]*sql.Stmt
}

func newStmts(tx *sql.Tx, prepared map[string]*sql.Stmt) *stmts {
	return &stmts{tx: tx, prepared: prepared, inTx: make(map[string]*sql.Stmt)}
}

// prepareOps prepares every op's statement on db.
func prepareOps(db *sql.DB) (map[string]*sql.Stmt, error) {
	out := make(map[string]*sql.Stmt, len(opSQL))
	for name, q := range opSQL {
		st, err := db.Prepare(q)
		if err != nil {
			for _, p := range out {
				p.Close()
			}
			return nil, fmt.Errorf("preparing %s: %w", name, err)
		}
		out[name] = st
	}
	return out, nil
}

func (s *stmts) stmt(ctx context.Context, name string) *sql.Stmt {
	st, ok := s.inTx[name]
	if !ok {
		st = s.tx.StmtContext(ctx, s.prepared[name])
		s.inTx[name] = st
	}
	return st
}

func (s *stmts) exec(ctx context.Context, name string, args ...any) error {
	_, err := s.stmt(ctx, name).ExecContext(ctx, args...)
	return err
}

// execN runs a statement and returns how many rows it changed.
func (s *stmts) execN(ctx context.Context, name string, args ...any) (int64, error) {
	res, err := s.stmt(ctx, name).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *stmts) query(ctx context.Context, name string, args ...any) (*sql.Rows, error) {
	return s.stmt(ctx, name).QueryContext(ctx, args...)
}

func (s *stmts) apply(ctx context.Context, op Op) error {
	switch o := op.(type) {
	case PutJob:
		j := &o.Job
		return s.exec(ctx, "job", j.ID, j.Repo, j.Commit, j.Branch, j.Author, j.Message, string(j.State), j.Attempt,
			j.Runner, j.Reason, nanos(j.QueuedAt), nanos(j.StartedAt), nanos(j.FinishedAt), j.Seq, j.RetryBase, j.FileWritten,
			j.RunnerID)
	case PutAttempt:
		a := &o.Attempt
		return s.exec(ctx, "attempt", o.JobID, a.N, a.Runner, nanos(a.Assigned), nanos(a.Ended), a.Outcome, a.Reason, a.Rerun)
	case PutResult:
		return s.putResult(ctx, &o)
	case AppendLog:
		return s.exec(ctx, "log", o.JobID, o.Attempt, o.Offset, []byte(o.Data))
	case TrimLog:
		if err := s.exec(ctx, "trimsplit", o.Before, o.Before, o.JobID, o.Attempt, o.From, o.Before, o.Before); err != nil {
			return err
		}
		if err := s.exec(ctx, "trim", o.JobID, o.Attempt, o.From, o.Before); err != nil {
			return err
		}
		return s.exec(ctx, "trimmark", o.Before, o.JobID, o.Attempt)
	case DeleteLog:
		return s.exec(ctx, "deletelog", o.JobID, o.Attempt)
	case MarkFileWritten:
		return s.exec(ctx, "file", o.JobID)
	case PutRunner:
		r := &o.Runner
		labels, err := json.Marshal(r.Labels)
		if err != nil {
			return err
		}
		if r.Labels == nil {
			labels = []byte("[]")
		}
		return s.exec(ctx, "runner", r.Name, string(labels), r.Slots, nanos(r.FirstSeen), nanos(r.LastSeen), r.Done, r.LastError)
	case PutIdentity:
		i := &o.Identity
		return s.exec(ctx, "identity", i.ID, i.Name, i.SecretSHA256[:], nanos(i.EnrolledAt), nanos(i.RevokedAt))
	case PutPosition:
		return s.exec(ctx, "position", o.Repo, o.Branch, o.Commit, time.Now().UnixNano())
	}
	return fmt.Errorf("unknown change %T", op)
}

// jsonList is a list column's value: JSON, "[]" for none.
func jsonList[T any](l []T) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}
