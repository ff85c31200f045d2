package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// tempPrefix names a database being created: it becomes FileName only once its
// whole schema is committed, so a crash during the very first start leaves no
// eventide.db that is empty or half made, and a later start tells "missing" (a
// fresh start) from "damaged" (refused).
const tempPrefix = "." + FileName + ".new-"

// ensureExists creates the database at path, in dir, if there is no file there.
// An existing file is left alone: whether it is a usable database is for
// migrate to say. A zero-byte file is refused here, before SQLite would quietly
// take it for a new database.
func ensureExists(dir, path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() == 0:
		return fmt.Errorf("database %s is empty (0 bytes), not a complete Eventide database: "+
			"restore it from a backup, or delete it to start with an empty history", path)
	case err == nil:
		return checkHeader(path)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("database %s: %w", path, err)
	}
	return create(dir, path)
}

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// checkHeader refuses a SQLite file whose header says it has no schema version:
// Eventide writes one in the same transaction as its schema, before the file
// gets its name. It reads the header rather than opening the database, because
// opening in WAL mode would change the file the operator should find as it was.
// Files that are not SQLite at all are left to SQLite's own check.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:len(sqliteMagic)]) != sqliteMagic {
		return nil
	}
	if binary.BigEndian.Uint32(h[60:64]) == 0 { // the header's user_version
		return fmt.Errorf("database %s has no Eventide schema (cut short, or made by another program): "+
			"restore it from a backup, or move it away to start with an empty history", path)
	}
	return nil
}

// create makes a new database with the current schema under a temporary name in
// dir, then renames it to path and syncs the directory.
func create(dir, path string) error {
	// What an earlier creation left when it was killed: never a database anyone
	// used, since it was never renamed.
	if old, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); err == nil {
		for _, f := range old {
			os.Remove(f)
		}
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("creating database %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
			os.Remove(tmp + "-journal")
		}
	}()
	// A rollback journal, not WAL, while it is made: closing leaves one file to
	// rename. The real open switches it to WAL.
	db, err := sql.Open("sqlite", dsn(tmp, []string{"busy_timeout(10000)", "journal_mode(DELETE)", "synchronous(FULL)"}))
	if err != nil {
		return fmt.Errorf("creating database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	err = migrateDB(context.Background(), db, tmp)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = describe(tmp, cerr)
	}
	if err != nil {
		return fmt.Errorf("creating database %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("creating database %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("creating database %s: %w", path, err)
	}
	ok = true
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("creating database %s: syncing %s: %w", path, dir, err)
	}
	return nil
}

// syncFile fsyncs a file or a directory.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
