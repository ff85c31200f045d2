// Package dirlock keeps two processes from using the same part of a data dir:
// the dispatcher its database, a runner its folder, an observer its state for
// one repository. Each takes an exclusive flock(2) on a lock file it owns and
// writes its pid into it, so that a second process can say who is in the way.
//
// flock rather than a pid file alone, because the kernel drops the lock when the
// process dies, however it dies: a SIGKILLed dispatcher never leaves a stale
// lock for its restart to trip on, and no pid has to be checked for reuse. The
// pid in the file is only for the message.
package dirlock

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// HeldError is returned by Acquire when another process (or another Lock of this
// one) holds the lock.
type HeldError struct {
	What string // what the lock guards, as the holder's role: "the dispatcher's database"
	Path string // the lock file
	PID  int    // the holder's, as it wrote it; 0 if it could not be read
}

func (e *HeldError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("%s is held by %s (lock file %s)", e.What, holder, e.Path)
}

// Lock is a held lock; it lasts until Release or the end of the process.
type Lock struct {
	f *os.File
}

// pidWait bounds how long Acquire waits for a holder that has just taken the lock
// to write its pid: the holder writes it right after flock returns.
const pidWait = 200 * time.Millisecond

// Acquire takes the lock at path (creating the file and its directory), or fails
// at once with a *HeldError naming the holder's pid. what says what the lock
// guards, for that error.
func Acquire(path, what string) (*Lock, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // for the message: the holder may have been started elsewhere
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		// Go opens files close-on-exec: the processes a runner starts for its
		// jobs do not inherit the lock and cannot keep it past the runner.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		err = flock(f)
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid := readPID(f)
			f.Close()
			return nil, &HeldError{What: what, Path: path, PID: pid}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The file is never removed (see Release), but someone may have
		// deleted it, and a holder of the deleted file would not stop anyone
		// locking a new one: lock again until the locked file is the one at path.
		if same, err := isAt(f, path); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			continue
		}
		if err := writePID(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &Lock{f: f}, nil
	}
}

// Release empties the lock file and unlocks it. The file stays: removing it
// would let a process that opened it before the removal lock the old file while
// another creates and locks a new one, and both would go on.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing the only descriptor drops the lock
	l.f = nil
}

func flock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	err = raw.Control(func(fd uintptr) {
		for {
			lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if !errors.Is(lockErr, unix.EINTR) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return lockErr
}

// isAt reports whether f is still the file at path.
func isAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the holder's pid, waiting briefly for one that has just taken the
// lock and not yet written it; 0 if none comes.
func readPID(f *os.File) int {
	deadline := time.Now().Add(pidWait)
	for {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n]))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}
