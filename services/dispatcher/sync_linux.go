package dispatcher

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// syncFiles makes the files written in dir durable with one syncfs for the batch,
// instead of an fsync each.
func syncFiles(dir string, _ []string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// background makes the calling goroutine's thread run at a lower priority (10
// more nice) for good: the result files are a convenience, and under load creating
// them must not take CPU from what runners and observers wait for. The goroutine
// stays on that thread until it exits, and the thread ends with it.
func background() {
	runtime.LockOSThread()
	tid := unix.Gettid()
	// The raw getpriority system call returns 20 - nice.
	if p, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil {
		_ = unix.Setpriority(unix.PRIO_PROCESS, tid, min(20-p+10, 19)) // best effort
	}
}
