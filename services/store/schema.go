package store

// migrations[i] takes the schema from version i to i+1. PRAGMA user_version holds
// the version, so a database from an older Eventide is brought up to date when
// opened and one from a newer Eventide is refused. Never edit a shipped step: add one.
//
// Times are Unix nanoseconds, 0 for never. Foreign keys are checked at commit
// (a batch may write a new job's attempt before its row), which the schema says
// rather than a PRAGMA per batch: a flag PRAGMA expires every prepared statement.
var migrations = []string{
	// 1: jobs, attempts, results, logs, runners and observer positions.
	`CREATE TABLE jobs (
		id           TEXT PRIMARY KEY,
		repo         TEXT NOT NULL,
		commit_id    TEXT NOT NULL,
		branch       TEXT NOT NULL DEFAULT '',
		author       TEXT NOT NULL DEFAULT '',
		message      TEXT NOT NULL DEFAULT '',
		state        TEXT NOT NULL,
		attempt      INTEGER NOT NULL DEFAULT 0,
		runner       TEXT NOT NULL DEFAULT '',
		reason       TEXT NOT NULL DEFAULT '',
		queued_at    INTEGER NOT NULL,
		started_at   INTEGER NOT NULL DEFAULT 0,
		finished_at  INTEGER NOT NULL DEFAULT 0,
		seq          INTEGER NOT NULL DEFAULT 0,
		retry_base   INTEGER NOT NULL DEFAULT 0,
		file_written INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX jobs_by_state  ON jobs(state, seq);
	CREATE INDEX jobs_by_time   ON jobs(queued_at, id);
	CREATE INDEX jobs_by_commit ON jobs(commit_id, queued_at);
	CREATE INDEX jobs_by_branch ON jobs(branch, queued_at);
	CREATE INDEX jobs_finished  ON jobs(finished_at) WHERE finished_at > 0;
	CREATE INDEX jobs_unwritten ON jobs(file_written) WHERE file_written = 0 AND finished_at > 0;

	CREATE TABLE attempts (
		job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
		n           INTEGER NOT NULL,
		runner      TEXT NOT NULL,
		assigned_at INTEGER NOT NULL,
		ended_at    INTEGER NOT NULL DEFAULT 0,
		outcome     TEXT NOT NULL DEFAULT '',
		reason      TEXT NOT NULL DEFAULT '',
		log_cut     INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (job_id, n)
	) WITHOUT ROWID;

	CREATE TABLE results (
		job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
		attempt      INTEGER NOT NULL,
		status       TEXT NOT NULL,
		reason       TEXT NOT NULL DEFAULT '',
		exit_code    INTEGER NOT NULL,
		passed       INTEGER NOT NULL,
		failed       INTEGER NOT NULL,
		errors       INTEGER NOT NULL,
		skipped      INTEGER NOT NULL,
		failing      TEXT NOT NULL DEFAULT '[]',
		started_at   INTEGER NOT NULL,
		finished_at  INTEGER NOT NULL,
		output_bytes INTEGER NOT NULL,
		PRIMARY KEY (job_id, attempt)
	) WITHOUT ROWID;

	CREATE TABLE logs (
		job_id  TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		offset  INTEGER NOT NULL,
		data    BLOB NOT NULL,
		PRIMARY KEY (job_id, attempt, offset)
	) WITHOUT ROWID;

	CREATE TABLE runners (
		name       TEXT PRIMARY KEY,
		labels     TEXT NOT NULL DEFAULT '[]',
		slots      INTEGER NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL,
		done       INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT ''
	);

	CREATE TABLE positions (
		repo       TEXT NOT NULL,
		branch     TEXT NOT NULL,
		commit_id  TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (repo, branch)
	) WITHOUT ROWID;`,

	// 2: per-test outcomes of each result.
	`CREATE TABLE test_outcomes (
		job_id  TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		pos     INTEGER NOT NULL, -- the order the runner reported them in
		name    TEXT NOT NULL,
		outcome TEXT NOT NULL,
		PRIMARY KEY (job_id, attempt, pos),
		FOREIGN KEY (job_id, attempt) REFERENCES results(job_id, attempt) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
	) WITHOUT ROWID;`,

	// 3: what each attempt consumed, NULL where it was not measured (older
	// runners, and peak memory without the memory controller).
	`ALTER TABLE results ADD COLUMN cpu_ms INTEGER;
	ALTER TABLE results ADD COLUMN peak_memory_bytes INTEGER;`,

	// 4: runner identities (issued on enrolment; only the secret's SHA-256 is
	// kept), and the identity each job's current attempt is leased to. A name
	// belongs to at most one identity that is not revoked.
	`CREATE TABLE identities (
		id            TEXT PRIMARY KEY,
		name          TEXT NOT NULL,
		secret_sha256 BLOB NOT NULL,
		enrolled_at   INTEGER NOT NULL,
		revoked_at    INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE UNIQUE INDEX identities_live_name ON identities(name) WHERE revoked_at = 0;
	ALTER TABLE jobs ADD COLUMN runner_id TEXT NOT NULL DEFAULT '';`,

	// 5: whether the output was recognised (NULL from runners before protocol
	// 9), the counts it could not know, and each failing test's first message
	// line and duration (JSON, like failing).
	`ALTER TABLE results ADD COLUMN reported INTEGER;
	ALTER TABLE results ADD COLUMN unknown TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE results ADD COLUMN failures TEXT NOT NULL DEFAULT '[]';`,

	// 6: per-test records (protocol 10): each test's suite, duration (NULL:
	// none given) and message beside its name and outcome, an index to page
	// through an attempt's tests slowest first (SQLite sorts NULL last in a
	// descending order), how many records each result has (so that nobody
	// counts them), whether a passed result followed a failed one of the same
	// commit, and which attempts re-ran a failed one (retry_failed). Flaky
	// tests: flaky_commits has a row per test that failed in one attempt and
	// passed in another of a commit; flaky_tests sums them per repository.
	// Results stored before this version are not searched for flaky tests.
	`ALTER TABLE test_outcomes ADD COLUMN suite TEXT NOT NULL DEFAULT '';
	ALTER TABLE test_outcomes ADD COLUMN duration_ms INTEGER;
	ALTER TABLE test_outcomes ADD COLUMN message TEXT NOT NULL DEFAULT '';
	CREATE INDEX test_outcomes_slowest ON test_outcomes(job_id, attempt, duration_ms DESC, pos);
	ALTER TABLE results ADD COLUMN tests_total INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE results ADD COLUMN flaky INTEGER NOT NULL DEFAULT 0;
	UPDATE results SET tests_total = (SELECT count(*) FROM test_outcomes t
		WHERE t.job_id = results.job_id AND t.attempt = results.attempt);
	ALTER TABLE attempts ADD COLUMN rerun INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE flaky_commits (
		commit_id TEXT NOT NULL,
		repo      TEXT NOT NULL,
		test_id   TEXT NOT NULL,
		job_id    TEXT NOT NULL, -- the job whose result revealed the flip
		seen_at   INTEGER NOT NULL,
		PRIMARY KEY (commit_id, repo, test_id)
	) WITHOUT ROWID;
	CREATE TABLE flaky_tests (
		repo        TEXT NOT NULL,
		test_id     TEXT NOT NULL,
		suite       TEXT NOT NULL DEFAULT '',
		flips       INTEGER NOT NULL, -- commits on which it flipped
		last_seen   INTEGER NOT NULL,
		last_job    TEXT NOT NULL,
		last_commit TEXT NOT NULL,
		PRIMARY KEY (repo, test_id)
	) WITHOUT ROWID;
	CREATE INDEX flaky_tests_recent ON flaky_tests(repo, last_seen DESC);`,
}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(migrations)
