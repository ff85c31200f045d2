package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestMeasureFrozenRunner measures how long a job stays with a frozen runner at
// the production heartbeat (1 s; a peer silent for 3 intervals is lost): a
// dispatcher and two runners, a long job, and the runner running it stopped with
// SIGSTOP. Each run reports SIGSTOP → "runner lost", SIGSTOP → "job started"
// attempt 2 on the other runner (the dispatcher's log line, as read by the test)
// and SIGSTOP → the tests running there (the marker file the sample test writes).
// The target is ≤ 3.5 s for the job to start elsewhere. It runs only when asked:
//
//	EVENTIDE_MEASURE_FROZEN=5 EVENTIDE_E2E_RACE=0 go test ./tests -count=1 -run TestMeasureFrozenRunner -v
//
// EVENTIDE_MEASURE_FROZEN is the number of runs (3 unless a positive number).
// Every run has its own dispatcher and runners; the freezes fall at irregular
// moments of the heartbeat interval.
func TestMeasureFrozenRunner(t *testing.T) {
	v := os.Getenv("EVENTIDE_MEASURE_FROZEN")
	if v == "" {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE_FROZEN=N to run it N times")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		n = 3
	}
	const heartbeat = time.Second
	var lost, started, running []time.Duration
	for i := range n {
		ok := t.Run("run "+strconv.Itoa(i+1), func(t *testing.T) {
			// Irregular offsets (a prime step through one interval) spread the
			// freezes over the heartbeat phase.
			l, s, r := measureFreeze(t, heartbeat, heartbeat*time.Duration(37*i%100)/100)
			lost, started, running = append(lost, l), append(started, s), append(running, r)
			t.Logf("SIGSTOP → runner lost %v, → job started on the other runner %v, → its tests running %v",
				l.Round(time.Millisecond), s.Round(time.Millisecond), r.Round(time.Millisecond))
		})
		if !ok {
			t.FailNow()
		}
	}
	t.Logf("frozen runner at --heartbeat %v over %d runs (target: job started elsewhere ≤ 3.5s):", heartbeat, n)
	for _, m := range []struct {
		what string
		ds   []time.Duration
	}{
		{"SIGSTOP → runner lost", lost},
		{"SIGSTOP → job started on the other runner", started},
		{"SIGSTOP → tests running on the other runner", running},
	} {
		var each []string
		for _, d := range m.ds {
			each = append(each, d.Round(time.Millisecond).String())
		}
		t.Logf("  %s: %v; median %v", m.what, each, median(m.ds).Round(time.Millisecond))
	}
	if m := median(started); m > 3500*time.Millisecond {
		t.Logf("median SIGSTOP → job started elsewhere %v is over the 3.5s target", m.Round(time.Millisecond))
	}
}

// measureFreeze runs one freeze: two runners, a job that sleeps long enough to
// still be running when its runner is stopped pause after its tests started.
// It returns the times from SIGSTOP to the dispatcher's "runner lost", to its
// "job started" for attempt 2 on the other runner, and to the marker the tests
// write there.
func measureFreeze(t *testing.T, heartbeat, pause time.Duration) (lost, started, running time.Duration) {
	repo, c1 := newRepo(t, 60)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil, "--heartbeat", heartbeat.String())
	marks := t.TempDir()
	names := []string{"frozen-a", "frozen-b"}
	runners := map[string]*proc{}
	for _, n := range names {
		// A runner has no heartbeat flag of its own: it uses the interval the
		// dispatcher's welcome names.
		runners[n] = startRunner(t, d.addr, t.TempDir(), n, childEnv("EVENTIDE_E2E_MARKER="+filepath.Join(marks, "started-"+n)))
		// Registered after the harness's cleanup, so run before it: a stopped
		// runner is woken before it is killed, whatever path the test takes.
		p := runners[n]
		t.Cleanup(func() { p.cmd.Process.Signal(syscall.SIGCONT) })
	}
	for _, n := range names {
		d.waitLog(20*time.Second, "runner registered", "runner="+n)
	}
	submitCommit(t, d.addr, "", repo.dir, c1, "main")
	a, b := startedOn(t, marks, names)
	d.waitLog(5*time.Second, "job started", "attempt=1", "runner="+a)

	time.Sleep(pause) // where in the heartbeat interval the freeze falls, not synchronisation
	frozenAt := time.Now()
	runners[a].signal(syscall.SIGSTOP)
	l := d.waitLog(10*heartbeat, "runner lost", "runner="+a)
	s := d.waitLog(10*heartbeat, "job started", "attempt=2", "runner="+b)
	markB := filepath.Join(marks, "started-"+b)
	waitFor(t, 30*time.Second, func() bool { return exists(markB) }, "the tests to start on "+b)
	info, err := os.Stat(markB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("froze %s %v after its tests started; %s", a, pause, l.text)
	// SIGCONT and the kills come from the cleanups.
	return l.at.Sub(frozenAt), s.at.Sub(frozenAt), info.ModTime().Sub(frozenAt)
}

// median returns the median of ds (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
