package testkit_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
)

func TestLogRecorderKeepsAttrsAndGroups(t *testing.T) {
	rec := testkit.NewLogRecorder()
	log := rec.Logger().With("mode", "runner")
	log.Debug("quiet", "n", 1)
	log.WithGroup("job").With("id", "j1").Warn("stalled", "after", time.Second, slog.Group("peer", "addr", "x:1"))
	rec.Logger().Info("plain")

	es := rec.Entries()
	if len(es) != 3 {
		t.Fatalf("%d entries, want 3:\n%s", len(es), rec)
	}
	if got := es[0].String(); got != "DEBUG quiet mode=runner n=1" {
		t.Errorf("first entry %q", got)
	}
	if got := es[1].String(); got != "WARN stalled job.after=1s job.id=j1 job.peer.addr=x:1 mode=runner" {
		t.Errorf("second entry %q", got)
	}
	if len(es[2].Attrs) != 0 {
		t.Errorf("a handler's attributes leaked to the logger it came from: %v", es[2].Attrs)
	}
	if rec.Count("quiet") != 1 || rec.Count("nothing") != 0 {
		t.Errorf("Count: %d and %d, want 1 and 0", rec.Count("quiet"), rec.Count("nothing"))
	}
}

// Wait returns as soon as the record is logged, from another goroutine, however
// long the timeout.
func TestLogRecorderWaitWakesOnRecord(t *testing.T) {
	rec := testkit.NewLogRecorder()
	log := rec.Logger()
	log.Info("commit submitted", "commit", "a")
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		<-release
		for i := range 50 {
			log.Info("noise", "i", i)
		}
		log.Info("commit submitted", "commit", "b", "branch", "main")
	})
	defer wg.Wait()

	start := time.Now()
	close(release)
	e := rec.Wait(t, time.Hour, "commit submitted", "commit", "b")
	if e.Attrs["branch"] != "main" {
		t.Errorf("Wait returned %v", e)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Wait took %v", d)
	}
	es := rec.WaitFor(t, time.Hour, "52 records", func(es []testkit.LogEntry) bool { return len(es) == 52 })
	if es[51].Message != "commit submitted" {
		t.Errorf("last entry %v", es[51])
	}
}

// fakeTB records a Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn with a fakeTB and returns what it failed with ("" for nothing).
func failure(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeTB{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { fn(f) })
	wg.Wait()
	return f.msg
}

func TestLogRecorderWaitTimesOut(t *testing.T) {
	rec := testkit.NewLogRecorder()
	rec.Logger().Info("something else", "k", "v")
	msg := failure(t, func(tb testing.TB) { rec.Wait(tb, 20*time.Millisecond, "never") })
	if !strings.Contains(msg, `"never"`) || !strings.Contains(msg, "INFO something else k=v") {
		t.Errorf("failure message %q: want what was waited for and the log", msg)
	}
	msg = failure(t, func(tb testing.TB) { rec.Wait(tb, time.Hour, "odd", "key") })
	if !strings.Contains(msg, "pairs") {
		t.Errorf("Wait with an odd attrs list: %q", msg)
	}
}

func TestListWaitFor(t *testing.T) {
	var l testkit.List[int]
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			l.Add(i)
		}
	})
	got := l.WaitFor(t, time.Hour, "100 items", func(xs []int) bool { return len(xs) == 100 })
	wg.Wait()
	if got[99] != 99 {
		t.Errorf("item 99 is %d", got[99])
	}
	msg := failure(t, func(tb testing.TB) {
		l.WaitFor(tb, 10*time.Millisecond, "a miracle", func([]int) bool { return false })
	})
	if !strings.Contains(msg, "a miracle") {
		t.Errorf("failure message %q", msg)
	}
}
