package tests

// A test that prints far more than --max-log-bytes leaves its log's head and
// tail stored, with one marker between them, and its live log keeps moving
// while the middle is dropped (docs/PROTOCOL.md §6.9, §9, version 6).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/console"
	"github.com/eventide-ci/eventide/net/wire"
)

// bigLogLine is one line of the big output: 99 bytes and a newline.
var bigLogLine = strings.Repeat("x", 99)

// bigLogConfig prints FIRST-LINE, n bytes of bigLogLine lines (n a multiple of
// 100) and LAST-LINE.
func bigLogConfig(n int64) string {
	return fmt.Sprintf("command: |\n  echo FIRST-LINE\n  yes %s | head -c %d\n  echo LAST-LINE\n", bigLogLine, n)
}

// bigLogRun is what one run of a big-log job left and cost.
type bigLogRun struct {
	res                      *resultFile
	printed                  int64 // bytes the test printed (the runner's note before them aside)
	took                     time.Duration
	ends                     []int64 // the stored end, as job.log reported it while the job ran
	gaps                     []int64 // the hole, as job.log reported it while the job ran
	live                     []int64 // the end of the live output (console.events) while the job ran
	dispatcherHWM, runnerHWM float64 // MiB
}

func runBigLog(tb testing.TB, n int64, dispatcherFlags ...string) *bigLogRun {
	tb.Helper()
	repo, _ := newRepo(tb, 0)
	sha := repo.commit("big log", map[string]string{".eventide.yml": bigLogConfig(n)})
	resDir := filepath.Join(tb.TempDir(), "results")
	d := startDispatcher(tb, 0, resDir, nil, dispatcherFlags...)
	r := startRunner(tb, d.addr, tb.TempDir(), "e2e-biglog", nil)
	d.waitLog(patience, "runner registered", "runner=e2e-biglog")

	c := console.Dial(d.addr, "", "e2e-biglog-console")
	defer c.Close()
	sctx, cancel := context.WithCancel(context.Background()) // the subscription lives as long as it
	defer cancel()
	_, events, err := c.Subscribe(sctx)
	if err != nil {
		tb.Fatal(err)
	}
	var liveEnd atomic.Int64 // the end of the newest live output
	drained := make(chan struct{})
	defer func() { c.Close(); <-drained }()
	go func() {
		defer close(drained)
		for batch := range events {
			for _, ev := range batch.Events {
				if o := ev.Output; o != nil {
					liveEnd.Store(max(liveEnd.Load(), o.Offset+int64(len(o.Data))))
				}
			}
		}
	}()

	run := &bigLogRun{printed: int64(len("FIRST-LINE\n")) + n + int64(len("LAST-LINE\n"))}
	start := time.Now()
	job := submitCommit(tb, d.addr, "", repo.dir, sha, "main")
	path := filepath.Join(resDir, sha)
	waitFor(tb, 10*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		lc, err := c.Log(ctx, wire.LogQuery{JobID: job.JobID, Limit: 1})
		cancel()
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeUnknownJob {
			return false // not assigned yet: no attempt to read
		}
		if err != nil {
			tb.Fatalf("job.log: %v", err)
		}
		if !lc.Final && (len(run.ends) == 0 || lc.End > run.ends[len(run.ends)-1]) {
			run.ends = append(run.ends, lc.End)
			if lc.Gap != nil {
				run.gaps = append(run.gaps, lc.Gap.Length)
			}
		}
		if live := liveEnd.Load(); !lc.Final && (len(run.live) == 0 || live > run.live[len(run.live)-1]) {
			run.live = append(run.live, live)
		}
		_, err = os.Stat(path)
		return err == nil
	}, "the big log's result file")
	run.took = time.Since(start)
	run.dispatcherHWM = procStatusMB(tb, d.cmd.Process.Pid, "VmHWM")
	run.runnerHWM = procStatusMB(tb, r.cmd.Process.Pid, "VmHWM")
	run.res = waitResult(tb, resDir, sha, patience)
	return run
}

var droppedRE = regexp.MustCompile(`\n\[eventide: (\d+) bytes of output were dropped here; a log keeps its start and its end\]\n`)

// checkBigLog checks that the result file holds the head of the output, one
// marker with the count of what was dropped, and the tail, at most limit bytes
// in all. It returns the tail's length: all of the rest of the limit unless the
// runner had to drop output too.
func checkBigLog(tb testing.TB, run *bigLogRun, limit int64) int64 {
	tb.Helper()
	head := min(1<<20, limit/4)
	out := run.res.output
	m := droppedRE.FindAllStringSubmatchIndex(out, -1)
	if len(m) != 1 || strings.Count(out, "[eventide:") != 1 {
		tb.Fatalf("result output (%d bytes) has %d drop markers and %d markers, want one", len(out), len(m), strings.Count(out, "[eventide:"))
	}
	before, after := out[:m[0][0]], out[m[0][1]:]
	dropped, _ := strconv.ParseInt(out[m[0][2]:m[0][3]], 10, 64)
	note, _, _ := strings.Cut(before, "\n") // the runner's note of what it runs
	// The runner's last line, after the test's output, gives the job's CPU time.
	var usage string
	if i := strings.LastIndex(after, "\neventide: CPU time "); i >= 0 {
		after, usage = after[:i+1], after[i+1:]
	}
	total := int64(len(note)+1) + run.printed + int64(len(usage))
	if !strings.HasPrefix(before, note+"\nFIRST-LINE\n"+bigLogLine+"\n") || int64(len(before)) != head {
		tb.Errorf("head: %d bytes starting %q, want %d bytes from the first line", len(before), before[:min(len(before), 20)], head)
	}
	if !strings.HasSuffix(after, bigLogLine+"\nLAST-LINE\n") || int64(len(after)+len(usage)) > limit-head {
		tb.Errorf("tail: %d bytes ending %q, want at most the last %d bytes", len(after), after[max(len(after)-20, 0):], limit-head)
	}
	if want := total - head - int64(len(after)+len(usage)); dropped != want {
		tb.Errorf("marker counts %d bytes dropped, want %d (%d printed)", dropped, want, total)
	}
	return int64(len(after) + len(usage))
}

// TestBigLogKeepsHeadAndTail prints ~100 MB with a 64 KiB limit.
func TestBigLogKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("100 MB of output: not with -short")
	}
	const limit = 64 << 10
	run := runBigLog(t, 100_000_000, "--max-log-bytes", fmt.Sprint(limit))
	if tail := checkBigLog(t, run, limit); tail != limit-min(1<<20, limit/4) {
		t.Errorf("tail of %d bytes, want the rest of the limit", tail)
	}
	t.Logf("%d bytes in %v; while running: job.log's end moved %d times, its hole %d times, the live output %d times",
		run.printed, run.took.Round(time.Millisecond), len(run.ends), len(run.gaps), len(run.live))
	if len(run.ends) < 3 || len(run.gaps) < 2 || run.gaps[len(run.gaps)-1] <= run.gaps[0] || len(run.live) < 3 {
		t.Errorf("the log did not move on while the job ran: job.log's ends %v, holes %v; live output's ends %v", run.ends, run.gaps, run.live)
	}
}

// TestMeasureBigLog is the figure: a test printing 1 GB (EVENTIDE_BIGLOG_BYTES)
// with the default limits, the peak RSS of the dispatcher and the runner. Without
// the race detector:
//
//	EVENTIDE_MEASURE_BIGLOG=1 EVENTIDE_E2E_RACE=0 go test ./tests -run TestMeasureBigLog -v -timeout 30m
func TestMeasureBigLog(t *testing.T) {
	if os.Getenv("EVENTIDE_MEASURE_BIGLOG") == "" {
		t.Skip("a benchmark: set EVENTIDE_MEASURE_BIGLOG=1")
	}
	n := int64(envInt(t, "EVENTIDE_BIGLOG_BYTES", 1_000_000_000)) / 100 * 100
	run := runBigLog(t, n)
	tail := checkBigLog(t, run, 32<<20)
	t.Logf("%d bytes printed in %v; peak RSS (VmHWM): dispatcher %.1f MiB, runner %.1f MiB; while running, job.log's end moved %d times, the live output %d times; tail kept %d bytes",
		run.printed, run.took.Round(time.Millisecond), run.dispatcherHWM, run.runnerHWM, len(run.ends), len(run.live), tail)
	if !raceBuild(t) && (run.dispatcherHWM >= 64 || run.runnerHWM >= 64) {
		t.Errorf("peak RSS dispatcher %.1f MiB, runner %.1f MiB: want each under 64 MiB", run.dispatcherHWM, run.runnerHWM)
	}
}
