package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// busyJob is a CPU-bound job that prints steadily for about 20 s of wall time: a
// busy loop that writes a line every few thousand turns.
const busyJob = `command: |
  python3 -u -c '
  import time, sys
  end = time.time() + 20
  n = 0
  while time.time() < end:
      for _ in range(3000):
          n += 1
      sys.stdout.write("busy %d %.3f %s\n" % (n, time.time(), "x" * 80))
  print("done", n)
  '
`

// TestMeasureBusyMachine runs the figure of the "runners declared lost while
// alive" issue: on a machine kept busy by 6 CPU-bound processes (on 2 cores),
// 4 runners run CPU-bound 20 s jobs that print steadily, for 3 minutes. It
// reports the runners lost and the jobs re-run (both must be 0), then freezes a
// runner with SIGSTOP while the machine is still busy and reports how long the
// dispatcher took to declare it lost (must be ≤ 3.5 s). It runs only when asked:
//
//	EVENTIDE_MEASURE_BUSY=1 EVENTIDE_E2E_RACE=0 go test ./tests -count=1 -run TestMeasureBusyMachine -v -timeout 15m
//
// EVENTIDE_MEASURE_BUSY_FOR overrides the 3 minutes (a Go duration).
func TestMeasureBusyMachine(t *testing.T) {
	if os.Getenv("EVENTIDE_MEASURE_BUSY") == "" {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE_BUSY=1 to run it")
	}
	busyFor := 3 * time.Minute
	if v := os.Getenv("EVENTIDE_MEASURE_BUSY_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("EVENTIDE_MEASURE_BUSY_FOR=%q: %v", v, err)
		}
		busyFor = d
	}
	const (
		hogs    = 6
		runners = 4
	)

	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil) // the production heartbeat, 1 s
	var rs []*proc
	for i := range runners {
		name := "busy-" + strconv.Itoa(i)
		p := startRunner(t, d.addr, t.TempDir(), name, nil)
		t.Cleanup(func() { p.cmd.Process.Signal(syscall.SIGCONT) }) // runs before the kill
		rs = append(rs, p)
	}
	for i := range runners {
		d.waitLog(patience, "runner registered", "runner=busy-"+strconv.Itoa(i))
	}

	startHogs(t, hogs)
	start := time.Now()
	t.Logf("%d CPU hogs started on %d CPUs; load %s", hogs, idleNumCPU(), loadAvg())

	// Keep every runner busy: a few jobs queued ahead, until the last job can end
	// before the busy period does.
	var commits []string
	submit := func() {
		c := repo.commit(fmt.Sprintf("busy %d", len(commits)), map[string]string{
			".eventide.yml": busyJob,
			"n.txt":         strconv.Itoa(len(commits)),
		})
		submitCommit(t, d.addr, "", repo.dir, c, "main")
		commits = append(commits, c)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < busyFor-25*time.Second {
		if len(commits)-len(results(t, resDir)) < runners+2 {
			submit()
		}
		<-tick.C
	}
	// The jobs submitted finish; the hogs still run.
	waitFor(t, busyFor, func() bool { return len(results(t, resDir)) >= len(commits) }, "every busy job's result")
	load := loadAvg()
	lost := d.count("runner lost")
	requeued := d.count("job re-queued")
	rerun := d.count("job started", "attempt=2") + d.count("job started", "attempt=3")
	reconnects := d.count("runner registered") - runners
	d.mu.Lock()
	for _, l := range d.lines {
		if strings.Contains(l.text, "runner lost") || strings.Contains(l.text, "job re-queued") {
			t.Logf("dispatcher: %s", l.text)
		}
	}
	d.mu.Unlock()
	output := 0
	for _, c := range commits {
		r := waitResult(t, resDir, c, patience)
		output += len(r.output)
		if !strings.HasSuffix(r.get("Job"), " attempt 1") {
			t.Logf("commit %s: %s", c[:8], r.get("Job"))
		}
	}
	t.Logf("%d jobs, %d KiB of output each on average", len(commits), output/len(commits)>>10)

	// Freeze a runner in the middle of a job, the machine still busy.
	submit()
	var frozen *proc
	waitFor(t, patience, func() bool {
		l, ok := d.find("job started", "commit="+commits[len(commits)-1][:8])
		if !ok {
			return false
		}
		for i, p := range rs {
			if strings.Contains(l.text, "runner=busy-"+strconv.Itoa(i)+" ") {
				frozen = p
			}
		}
		return frozen != nil
	}, "the last job to start")
	// Into the job: its output is flowing when the runner stops.
	time.Sleep(3 * time.Second) // where in the job the freeze falls, not synchronisation
	frozenAt := time.Now()
	frozen.signal(syscall.SIGSTOP)
	name := strings.TrimPrefix(frozen.name, "runner ")
	l := d.waitLog(30*time.Second, "runner lost", "runner="+name, "heartbeats missed")
	noticed := l.at.Sub(frozenAt)
	frozen.cmd.Process.Signal(syscall.SIGCONT)

	t.Logf("busy machine for %v (%d hogs, %d runners, load at the end %s): %d jobs, %d runners lost, %d jobs re-queued, %d attempts re-run, %d reconnects; frozen runner noticed in %v",
		time.Since(start).Round(time.Second), hogs, runners, load, len(commits)-1, lost, requeued, rerun, reconnects, noticed.Round(time.Millisecond))
	if lost != 0 || requeued != 0 || rerun != 0 {
		t.Errorf("on a busy machine: %d runners lost, %d jobs re-queued, %d attempts re-run; want 0", lost, requeued, rerun)
	}
	if noticed > 3500*time.Millisecond {
		t.Errorf("a frozen runner was noticed after %v, want ≤ 3.5s", noticed)
	}
}

// startHogs starts n CPU-bound processes, each in its own process group, killed
// at cleanup.
func startHogs(t *testing.T, n int) {
	t.Helper()
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting a CPU hog: %v", err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
}

// loadAvg is the 1-minute load average, as /proc/loadavg says.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
