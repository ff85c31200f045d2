package tests

import (
	"os"
	"os/exec"
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
// so that they fall anywhere in the poll interval. Each is timed from just before
// `git commit` to the result file's appearance.
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
		c, start := repo.commitTimed("measure "+strconv.Itoa(i), map[string]string{
			"tests/test_sample.py": sampleTest(0, false, "measure "+strconv.Itoa(i))})
		waitResultFile(t, filepath.Join(resDir, c))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("commit → result over %d commits (%s poll): min %v, median %v, max %v",
		n, interval, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	// The floor, measured now on this machine (python3's start-up varies a lot
	// between machines and with their load): what any CI system must do for
	// one commit of this repository.
	py, g := measureFloor(t, repo, max(n, 5))
	t.Logf("floor: python3 -m unittest discover -s tests median %v, git fetch + worktree add + remove median %v: %v; "+
		"Eventide's median is %v above it", py.Round(time.Millisecond), g.Round(time.Millisecond), (py + g).Round(time.Millisecond),
		(took[len(took)/2] - py - g).Round(time.Millisecond))
}

// measureFloor times, n times each, the sample tests run directly and the git
// work of a checkout from a local cache, and returns the medians.
func measureFloor(t *testing.T, repo *gitRepo, n int) (python, git time.Duration) {
	t.Helper()
	run := func(dir string, args ...string) time.Duration {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, childEnv()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil && args[0] == "git" {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	cache := filepath.Join(t.TempDir(), "cache.git")
	run(t.TempDir(), "git", "clone", "--quiet", "--bare", repo.dir, cache)
	var pys, gits []time.Duration
	for i := range n {
		pys = append(pys, run(repo.dir, "python3", "-m", "unittest", "discover", "-s", "tests"))
		// A new commit each time, so that the fetch has something to bring.
		repo.commit("floor "+strconv.Itoa(i), map[string]string{"floor.txt": strconv.Itoa(i)})
		wt := filepath.Join(t.TempDir(), "wt")
		gits = append(gits, run(cache, "git", "fetch", "--quiet", "origin", "+refs/heads/*:refs/heads/*")+
			run(cache, "git", "worktree", "add", "--quiet", "--detach", wt, "main")+
			run(cache, "git", "worktree", "remove", "--force", wt))
	}
	slices.Sort(pys)
	slices.Sort(gits)
	return pys[n/2], gits[n/2]
}

// TestMeasureBurst makes 20 commits in about 2 s with 4 runners and an observer
// watching the repository, and reports how many were tested and how long after the
// last commit the last result came. It runs only when asked:
//
//	EVENTIDE_MEASURE_BURST=1 EVENTIDE_E2E_RACE=0 go test ./tests -count=1 -run TestMeasureBurst -v
func TestMeasureBurst(t *testing.T) {
	if os.Getenv("EVENTIDE_MEASURE_BURST") == "" {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE_BURST=1 to run it")
	}
	const commits, runners = 20, 4
	repo, first := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	for i := range runners {
		startRunner(t, d.addr, t.TempDir(), "burst-"+strconv.Itoa(i), nil)
	}
	startObserver(t, d.addr, t.TempDir(), repo.dir, nil)
	waitResult(t, resDir, first, 30*time.Second)

	var ids []string
	start := time.Now()
	for i := range commits {
		// Pacing the burst: 20 commits spread over ~2 s, as a person rebasing might.
		time.Sleep(time.Until(start.Add(time.Duration(i) * 100 * time.Millisecond)))
		ids = append(ids, repo.commit("burst "+strconv.Itoa(i), map[string]string{
			"tests/test_sample.py": sampleTest(0, false, "burst "+strconv.Itoa(i))}))
	}
	lastCommit := time.Now()
	waitFor(t, 60*time.Second, func() bool {
		for _, c := range ids {
			if !exists(filepath.Join(resDir, c)) {
				return false
			}
		}
		return true
	}, "every commit of the burst to have a result")
	t.Logf("burst of %d commits in %v with %d runners: %d of %d tested, last result %v after the last commit",
		commits, lastCommit.Sub(start).Round(time.Millisecond), runners, len(ids), commits,
		time.Since(lastCommit).Round(time.Millisecond))
}

// waitResultFile waits (30 s at most) for a result file, looking every 2 ms so that
// the measurement itself adds little.
func waitResultFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !exists(path) {
		if time.Now().After(deadline) {
			t.Fatalf("no result file %s after 30s", path)
		}
		time.Sleep(2 * time.Millisecond) // polling a file the dispatcher writes
	}
}
