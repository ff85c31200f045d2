package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMeasureCommitToResult measures commit → result file with a dispatcher, one
// runner and an observer polling every 200 ms (or EVENTIDE_MEASURE_INTERVAL), on the sample repository (one
// passing, one failing unittest test). It runs only when asked:
//
//	EVENTIDE_MEASURE=20 EVENTIDE_E2E_RACE=0 go test ./tests -run TestMeasureCommitToResult -v
//
// and reports min, median and max over that many commits, made at irregular moments
// so that they fall anywhere in the poll interval.
func TestMeasureCommitToResult(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVENTIDE_MEASURE"))
	if n <= 0 {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE=N to run it")
	}
	repo, first := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "measure-runner", nil)
	interval := "200ms"
	if v := os.Getenv("EVENTIDE_MEASURE_INTERVAL"); v != "" {
		interval = v
	}
	args := []string{"--mode=observer", "--dispatcher-server", d.addr, "--interval", interval, "--data-dir", t.TempDir(), repo.dir}
	if os.Getenv("EVENTIDE_MEASURE_NOWATCH") == "1" {
		args = append(args, "--no-watch") // polling alone
	}
	startProc(t, "observer", t.TempDir(), childEnv(), args...)
	waitResult(t, resDir, first, 30*time.Second)

	var took []time.Duration
	for i := range n {
		// Irregular gaps (a prime step through one interval) spread the commits
		// over the poll phase, instead of always just after a look.
		every, _ := time.ParseDuration(interval)
		pause := every * time.Duration(37*i%100) / 100
		time.Sleep(pause) // pacing the load, not synchronisation
		c := repo.commit("measure "+strconv.Itoa(i), map[string]string{
			"tests/test_sample.py": sampleTest(0, false, "measure "+strconv.Itoa(i))})
		start := time.Now()
		waitFor(t, 30*time.Second, func() bool { return exists(filepath.Join(resDir, c)) }, "the result of "+c)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("commit → result over %d commits (%s poll): min %v, median %v, max %v",
		n, interval, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}
