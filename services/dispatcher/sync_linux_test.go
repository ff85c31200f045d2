package dispatcher

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// background lowers its own thread only; the thread ends with its goroutine.
func TestBackgroundLowersOnlyItsThread(t *testing.T) {
	t.Parallel()
	nice := func() int {
		// The raw getpriority system call returns 20 - nice.
		p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		if err != nil {
			t.Error(err)
		}
		return 20 - p
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := nice()
	got := make(chan int)
	go func() {
		background()
		got <- nice()
	}()
	if n := <-got; n != min(base+10, 19) {
		t.Fatalf("background thread at nice %d, want %d", n, min(base+10, 19))
	}
	if n := nice(); n != base {
		t.Fatalf("this thread went from nice %d to %d", base, n)
	}
}
