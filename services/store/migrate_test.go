package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// allTables are the tables the current schema has.
var allTables = []string{"jobs", "attempts", "results", "logs", "runners", "positions", "test_outcomes",
	"flaky_commits", "flaky_tests"}

// rawDB opens the database file in dir directly, bypassing the store.
func rawDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func userVersion(t testing.TB, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func tablesOf(t testing.TB, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Path(), filepath.Join(dir, FileName); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if SchemaVersion != len(migrations) || SchemaVersion < 2 {
		t.Fatalf("SchemaVersion = %d with %d migrations", SchemaVersion, len(migrations))
	}
	db := rawDB(t, dir)
	if v := userVersion(t, db); v != SchemaVersion {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion)
	}
	tables := tablesOf(t, db)
	for _, tb := range allTables {
		if !tables[tb] {
			t.Errorf("table %s missing; have %v", tb, tables)
		}
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	// Opening an up-to-date database again changes nothing.
	db.Close()
	openStore(t, dir, Options{}).Close()
	if v := userVersion(t, rawDB(t, dir)); v != SchemaVersion {
		t.Errorf("after reopening: user_version = %d, want %d", v, SchemaVersion)
	}
}

// TestMigrateFromEachVersion builds a database at every earlier schema version by
// hand, with a job in it, and checks OpenSQLite brings it up to date keeping the job.
func TestMigrateFromEachVersion(t *testing.T) {
	t.Parallel()
	for v := 1; v <= SchemaVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			dir := t.TempDir()
			db := rawDB(t, dir)
			for i := 0; i < v; i++ {
				if _, err := db.Exec(migrations[i]); err != nil {
					t.Fatalf("migration %d: %v", i+1, err)
				}
			}
			if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
				t.Fatal(err)
			}
			queued := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
			if _, err := db.Exec(`INSERT INTO jobs (id, repo, commit_id, branch, state, queued_at, seq)
				VALUES ('oldjob', 'github.com/o/r', 'c0ffee', 'main', 'queued', ?, 7)`, queued.UnixNano()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO attempts (job_id, n, runner, assigned_at) VALUES ('oldjob', 1, 'r1', ?)`,
				queued.Add(time.Second).UnixNano()); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s := openStore(t, dir, Options{})
			ctx := context.Background()
			j, err := s.Job(ctx, "oldjob")
			if err != nil {
				t.Fatalf("Job after upgrade: %v", err)
			}
			if j.Repo != "github.com/o/r" || j.Commit != "c0ffee" || j.Branch != "main" || j.State != wire.StateQueued ||
				j.Seq != 7 || !j.QueuedAt.Equal(queued) || len(j.Attempts) != 1 || j.Attempts[0].Runner != "r1" {
				t.Errorf("job after upgrade = %+v", j)
			}
			// The upgraded schema takes everything the current one does.
			fin := queued.Add(time.Minute)
			applyOK(t, s,
				PutJob{Job: Job{ID: "oldjob", Repo: "github.com/o/r", Commit: "c0ffee", Branch: "main", State: wire.StatusFailed,
					Attempt: 1, Runner: "r1", QueuedAt: queued, FinishedAt: fin, Seq: 7}},
				putSample("oldjob", 1, fin))
			j, err = s.Job(ctx, "oldjob")
			if err != nil {
				t.Fatal(err)
			}
			if j.Result == nil || j.Result.TestsTotal != 3 {
				t.Errorf("result after upgrade = %+v", j.Result)
			} else if c, p := j.Result.CPUMS, j.Result.PeakMemoryBytes; c == nil || *c != 2345 || p != nil {
				t.Errorf("usage after upgrade: cpu_ms %v, peak_memory_bytes %v; want 2345 and not measured", c, p)
			} else if f := j.Result.Summary.Failures; len(f) != 1 || f[0].Message == "" {
				t.Errorf("failures after upgrade = %+v", f)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db = rawDB(t, dir)
			if got := userVersion(t, db); got != SchemaVersion {
				t.Errorf("user_version = %d, want %d", got, SchemaVersion)
			}
			tables := tablesOf(t, db)
			for _, tb := range allTables {
				if !tables[tb] {
					t.Errorf("table %s missing after upgrade from v%d", tb, v)
				}
			}
		})
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := openStore(t, dir, Options{})
	applyOK(t, ts, PutJob{Job: testJob("keep", wire.StateQueued, 0)})
	ts.Close()
	db := rawDB(t, dir)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	path := filepath.Join(dir, FileName)
	s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a database with a newer schema")
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "newer") {
		t.Errorf("error %q should name %s and say newer", msg, path)
	}
	// The database was not touched.
	db = rawDB(t, dir)
	if v := userVersion(t, db); v != SchemaVersion+1 {
		t.Errorf("user_version = %d after refusal, want %d", v, SchemaVersion+1)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM jobs").Scan(&n); err != nil || n != 1 {
		t.Errorf("jobs after refusal: %d, %v", n, err)
	}
}

func TestOpenRefusesCorruptFile(t *testing.T) {
	t.Parallel()
	random := make([]byte, 16384)
	rand.New(rand.NewSource(1)).Read(random)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"text file", []byte(strings.Repeat("this is not a database, just some notes\n", 200))},
		{"short text", []byte("hello\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite accepted a corrupt file")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "corrupt") {
				t.Errorf("error %q should name %s and say corrupt", msg, path)
			}
			// The file is left as it was, for the operator to inspect.
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(tc.data) {
				t.Errorf("the corrupt file was changed (%v)", err)
			}
		})
	}
}

// TestOpenRefusesDamagedPages damages the pages of a real database (its header
// intact), so that it opens but fails its integrity check.
func TestOpenRefusesDamagedPages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := openStore(t, dir, Options{})
	var ops []Op
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("job%03d", i)
		ops = append(ops, PutJob{Job: testJob(id, wire.StateQueued, int64(i))},
			AppendLog{JobID: id, Attempt: 1, Data: strings.Repeat("x", 300)})
	}
	applyOK(t, ts, ops...)
	ts.Close()
	db := rawDB(t, dir)
	var pageSize, pages int
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if pages < 10 {
		t.Fatalf("only %d pages", pages)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, pageSize)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	for p := 2; p < pages; p += 2 { // every other page after the first
		if _, err := f.WriteAt(junk, int64(p)*int64(pageSize)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a database with damaged pages")
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "corrupt") {
		t.Errorf("error %q should name %s and say corrupt", msg, path)
	}
}

func TestOpenDataDirIsAFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(file, Options{Logger: quietLogger()})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a regular file as its data directory")
	}
	msg := err.Error()
	if !strings.Contains(msg, file) || !strings.Contains(msg, "data directory") {
		t.Errorf("error %q should name the data directory %s", msg, file)
	}
	// Below a file, too.
	sub := filepath.Join(file, "sub")
	if s, err := OpenSQLite(sub, Options{Logger: quietLogger()}); err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a data directory below a regular file")
	} else if !strings.Contains(err.Error(), sub) {
		t.Errorf("error %q should name %s", err, sub)
	}
}

// A database cut to 0 bytes, or a SQLite file without Eventide's schema, is not
// a fresh start: only a missing file is. The file is left as it was.
func TestOpenRefusesTruncatedOrForeignDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		make       func(t *testing.T, path string)
	}{
		{"0 bytes", "empty (0 bytes)", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"another program's database", "no Eventide schema", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE notes (body TEXT)"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			tc.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite took it for a database to use")
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "backup") {
				t.Errorf("error %q should name %s, say %q and what to do", msg, path, tc.want)
			}
			if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
				t.Errorf("the file was changed (%v)", err)
			}
		})
	}
}

// A new database is made under a temporary name and renamed once its schema is
// committed; what a creation killed half way left behind is cleared.
func TestOpenCreatesUnderTemporaryName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	left := filepath.Join(dir, tempPrefix+"123")
	if err := os.WriteFile(left, []byte("half made"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, rawDB(t, dir)); v != SchemaVersion {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("%s left in the data directory", e.Name())
		}
	}
}

// A creation that fails half way (here a migration that does not apply, standing
// in for a crash) leaves no eventide.db behind, so the next start is a fresh one.
func TestCreateFailureLeavesNoDatabase(t *testing.T) {
	// Not parallel: it breaks the package's migrations for its duration.
	dir := t.TempDir()
	saved := migrations[len(migrations)-1]
	migrations[len(migrations)-1] = "CREATE TABLE broken ("
	defer func() { migrations[len(migrations)-1] = saved }()
	s, err := OpenSQLite(dir, Options{Logger: quietLogger()})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite succeeded with a broken migration")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == FileName || strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("%s left in the data directory after a failed creation (%v)", e.Name(), err)
		}
	}
}
