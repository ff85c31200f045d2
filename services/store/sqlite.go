package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database's name inside the data directory.
const FileName = "eventide.db"

// SQLite is the Store on an embedded SQLite database in WAL mode. Writes go
// through one connection in batched transactions with synchronous=FULL, so a
// committed batch survives a crash or power loss; reads use their own pool and
// never wait for writes.
type SQLite struct {
	path string
	wdb  *sql.DB              // one connection: the batch writer's
	rdb  *sql.DB              // readers
	prep map[string]*sql.Stmt // each op's statement, prepared on wdb
	log  *slog.Logger

	mu      sync.Mutex
	pending []Op
	ticket  *Ticket // the ticket of pending
	wake    chan struct{}
	failure error // last write error while writes fail
	closed  bool

	stop   chan struct{}
	exited chan struct{}

	// RetryEvery is how long the writer waits before retrying a failed batch.
	retryEvery time.Duration
}

// Options tune a SQLite store; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxPages caps the database's size in pages (PRAGMA max_page_count); 0 leaves
	// SQLite's own limit. Tests use it to make a full disk.
	MaxPages int
	// RetryEvery is the pause before a failed batch is tried again; default 1s.
	RetryEvery time.Duration
}

// OpenSQLite opens (creating if need be) the database in dir and brings its schema
// up to date. Errors name the file and say what to do.
func OpenSQLite(dir string, o Options) (*SQLite, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w (choose another with --data-dir)", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if err := probeWritable(dir); err != nil {
		return nil, fmt.Errorf("data directory %s is not writable: %w (fix its permissions or choose another with --data-dir)", dir, err)
	}
	if err := ensureExists(dir, path); err != nil {
		return nil, err
	}
	// temp_store: a statement's journal (each multi-row INSERT of a result's
	// records has one) stays in memory; in a file it was 40% of storing
	// 50,000 records, in write calls.
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)"}
	if o.MaxPages > 0 {
		pragmas = append(pragmas, fmt.Sprintf("max_page_count(%d)", o.MaxPages))
	}
	wdb, err := sql.Open("sqlite", dsn(path, pragmas, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &SQLite{path: path, wdb: wdb, log: o.Logger, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), exited: make(chan struct{}), retryEvery: o.RetryEvery, ticket: newTicket()}
	if err := s.migrate(); err != nil {
		wdb.Close()
		return nil, err
	}
	if s.prep, err = prepareOps(wdb); err != nil {
		wdb.Close()
		return nil, s.describe(err)
	}
	s.rdb, err = sql.Open("sqlite", dsn(path, []string{"busy_timeout(10000)", "query_only(1)", "foreign_keys(1)"}))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(4)
	go s.writeLoop()
	return s, nil
}

func dsn(path string, pragmas []string, extra ...string) string {
	v := url.Values{}
	for _, p := range pragmas {
		v.Add("_pragma", p)
	}
	q := v.Encode()
	for _, e := range extra {
		q += "&" + e
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q
}

func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// migrate checks the file is an Eventide database this build can use and
// brings it up to date. A database without any schema was not made by
// Eventide, or was cut short: only a missing file is a fresh start (see create).
func (s *SQLite) migrate() error {
	ctx := context.Background()
	var v int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return s.describe(err)
	}
	if v == 0 {
		return fmt.Errorf("database %s has no Eventide schema (truncated, or made by another program): "+
			"restore it from a backup, or move it away to start with an empty history", s.path)
	}
	return migrateDB(ctx, s.wdb, s.path)
}

// migrateDB checks the database at path (open as db) and brings its schema up
// to date, one version per transaction.
func migrateDB(ctx context.Context, db *sql.DB, path string) error {
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return describe(path, err)
	}
	if check != "ok" {
		return fmt.Errorf("database %s is corrupt (%s): restore it from a backup, or move it away to start with an empty history", path, check)
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return describe(path, err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("database %s has schema version %d, newer than this eventide knows (%d): run a newer eventide, or move the file away to start afresh", path, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return describe(path, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("database %s: migrating to schema version %d: %w", path, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return describe(path, err)
		}
		if err := tx.Commit(); err != nil {
			return describe(path, err)
		}
	}
	return nil
}

// describe turns a SQLite error into one that names the file and what to do.
func (s *SQLite) describe(err error) error { return describe(s.path, err) }

func describe(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("database %s is not an Eventide database or is corrupt (%v): restore it from a backup, or move it away to start with an empty history", path, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("database %s: the disk is full (%v): free some space; eventide retries", path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
			return fmt.Errorf("database %s cannot be written (%v): check the file's and its directory's permissions", path, err)
		case sqlite3.SQLITE_IOERR:
			return fmt.Errorf("database %s: I/O error (%v): check the disk", path, err)
		}
	}
	return fmt.Errorf("database %s: %w", path, err)
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Close writes what is queued, then closes the database.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.exited
	for _, st := range s.prep {
		st.Close()
	}
	err := errors.Join(s.rdb.Close(), s.wdb.Close())
	if err != nil {
		return fmt.Errorf("closing %s: %w", s.path, err)
	}
	return nil
}

// Apply queues ops for the next batch.
func (s *SQLite) Apply(ops ...Op) *Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		t := newTicket()
		t.err = ErrClosed
		close(t.done)
		return t
	}
	s.pending = append(s.pending, ops...)
	t := s.ticket
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return t
}

// Err is the last write error while writes are failing.
func (s *SQLite) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// writeLoop commits batches until Close, retrying a failed batch (a full disk, an
// I/O error) until it goes through: nothing queued is dropped, and the callers
// waiting on it wait, so nothing is acknowledged that is not stored.
func (s *SQLite) writeLoop() {
	defer close(s.exited)
	for {
		stopping := false
		select {
		case <-s.wake:
		case <-s.stop:
			stopping = true
		}
		s.mu.Lock()
		ops, t := s.pending, s.ticket
		s.pending, s.ticket = nil, newTicket()
		s.mu.Unlock()
		if len(ops) > 0 {
			if !s.commitRetrying(ops, stopping) {
				t.err = fmt.Errorf("%w before %d changes were written: %v", ErrClosed, len(ops), s.Err())
			}
		}
		close(t.done)
		if stopping {
			s.mu.Lock()
			rest, rt := s.pending, s.ticket
			s.pending = nil
			s.mu.Unlock()
			if len(rest) > 0 && !s.commitRetrying(rest, true) {
				rt.err = ErrClosed
			}
			close(rt.done)
			return
		}
	}
}

// commitRetrying commits ops, retrying while it fails; when stopping it tries a
// few times only. It reports whether the ops were committed.
func (s *SQLite) commitRetrying(ops []Op, stopping bool) bool {
	for try := 0; ; try++ {
		err := s.commit(ops)
		if err == nil {
			s.mu.Lock()
			recovered := s.failure != nil
			s.failure = nil
			s.mu.Unlock()
			if recovered {
				s.log.Info("store writes work again", "db", s.path, "changes", len(ops))
			}
			return true
		}
		err = s.describe(err)
		s.mu.Lock()
		s.failure = err
		s.mu.Unlock()
		s.log.Error("store write failed; retrying", "db", s.path, "err", err, "changes", len(ops), "try", try+1)
		if stopping && try >= 2 {
			return false
		}
		select {
		case <-time.After(s.retryEvery):
		case <-s.stop:
			stopping = true
		}
	}
}

// commit writes one batch in one transaction. A job's row is written once per
// batch however often it changed: only its last state matters.
func (s *SQLite) commit(ops []Op) error {
	ctx := context.Background()
	// A row written several times in one batch (a job submitted, assigned and
	// finished within it, or many commits on one branch) is written once, with
	// its last content: every such change writes the whole row.
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		if k := rowKey(op); k != "" {
			last[k] = i
		}
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := newStmts(tx, s.prep)
	for i, op := range ops {
		if k := rowKey(op); k != "" && last[k] != i {
			continue
		}
		if err := st.apply(ctx, op); err != nil {
			if isConstraint(err) {
				tx.Rollback()
				return s.commitEach(ctx, ops, last)
			}
			return fmt.Errorf("%T: %w", op, err)
		}
	}
	err = s.commitTx(ctx, tx)
	if isConstraint(err) {
		return s.commitEach(ctx, ops, last)
	}
	return err
}

// rowKey names the row a whole-row change writes, or "" for other changes.
func rowKey(op Op) string {
	switch o := op.(type) {
	case PutJob:
		return "job\x00" + o.Job.ID
	case PutAttempt:
		return "attempt\x00" + o.JobID + "\x00" + strconv.Itoa(o.Attempt.N)
	case PutRunner:
		return "runner\x00" + o.Runner.Name
	case PutIdentity:
		return "identity\x00" + o.Identity.ID
	case PutPosition:
		return "position\x00" + o.Repo + "\x00" + o.Branch
	}
	return ""
}

// commitEach is the slow path for a batch holding a change the database refuses
// (a bug, never bad input: everything is validated before it gets here): each
// change goes in on its own transaction, the refused ones are logged and left
// out, so that one bad change cannot hold up every later one for ever.
func (s *SQLite) commitEach(ctx context.Context, ops []Op, last map[string]int) error {
	written := make(map[string]bool)
	for _, op := range ops {
		// A job's row goes where its first change was (with its last content),
		// before its attempts.
		k := rowKey(op)
		if k != "" {
			if written[k] {
				continue
			}
			written[k] = true
			op = ops[last[k]]
		}
		err := s.commitOne(ctx, op)
		if isConstraint(err) {
			s.log.Error("store refused a change; leaving it out", "db", s.path, "change", fmt.Sprintf("%T", op), "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) commitOne(ctx context.Context, op Op) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := newStmts(tx, s.prep).apply(ctx, op); err != nil {
		return err
	}
	return s.commitTx(ctx, tx)
}

// commitTx commits; a COMMIT refused by a deferred foreign key leaves SQLite's
// transaction open, so it is rolled back here before the connection is reused.
func (s *SQLite) commitTx(ctx context.Context, tx *sql.Tx) error {
	err := tx.Commit()
	if isConstraint(err) {
		s.wdb.ExecContext(ctx, "ROLLBACK")
	}
	return err
}

func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// nanos stores a time as Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
