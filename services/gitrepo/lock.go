package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Lock polling bounds. flock(2) cannot be interrupted by a context, so
// waiting is done by retrying a non-blocking attempt; the backoff keeps a
// long wait (another process cloning a big repository) cheap while a short
// one (another goroutine adding a worktree) stays responsive.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// lockFile takes an exclusive flock(2) on path, creating the file if needed,
// and waits until it is free or ctx is done. flock locks belong to an open
// file description, so the same lock serialises goroutines of one process
// (each opens the file anew) as well as separate processes. The kernel drops
// the lock if the process dies, so a crashed runner never leaves a stale
// lock behind. The file itself is never removed: deleting a lock file while
// another process waits on it would let two holders in at once.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gitrepo: lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: lock: %w", err)
	}
	fd := int(f.Fd())
	delay := lockPollMin
	var timer *time.Timer
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if timer != nil {
				timer.Stop()
			}
			return func() {
				// Closing releases the lock; the explicit unlock just
				// makes the release independent of the garbage collector
				// and of any duplicated descriptor.
				_ = unix.Flock(fd, unix.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("gitrepo: lock %s: %w", path, err)
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("gitrepo: lock %s: %w", path, ctx.Err())
		case <-timer.C:
		}
		delay = min(2*delay, lockPollMax)
	}
}
