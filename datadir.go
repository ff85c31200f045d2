package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/store"
)

// One --data-dir serves every mode (and the console hosts several), so each role
// locks only what it owns in it: the dispatcher its database, each runner its
// own folder, each observer its state for one repository (see services/dirlock
// and the observer's New). A second process wanting the same part stops at start.

// lockDispatcher locks the dispatcher's database in --data-dir.
func lockDispatcher(o *options) (*dirlock.Lock, error) {
	l, err := dirlock.Acquire(filepath.Join(o.DataDir, store.FileName+".lock"), "the dispatcher's database")
	return l, lockErr(o.DataDir, err)
}

// lockRunner locks a runner's folder (runner.Config.WorkDir) in --data-dir. It
// is taken before the runner starts, so before it clears what an earlier run
// left in its folder.
func lockRunner(o *options, workDir string) (*dirlock.Lock, error) {
	l, err := dirlock.Acquire(filepath.Join(workDir, "lock"), "a runner's folder")
	return l, lockErr(o.DataDir, err)
}

// inUse says, for a lock held by another process, which data dir it is in and
// what to do.
func inUse(dataDir string, err error) error {
	if _, ok := errors.AsType[*dirlock.HeldError](err); !ok {
		return err
	}
	if abs, aerr := filepath.Abs(dataDir); aerr == nil {
		dataDir = abs
	}
	return fmt.Errorf("data dir %s is in use: %w; stop that process or give this one another --data-dir", dataDir, err)
}

// lockErr is inUse for a lock the data dir itself prevents: not a directory, not
// writable.
func lockErr(dataDir string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*dirlock.HeldError](err); ok {
		return inUse(dataDir, err)
	}
	return fmt.Errorf("data directory %s: %w (choose another with --data-dir)", dataDir, err)
}
