package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// containScript is a job that starts, in the background, a process that leaves
// its group and session, clears its environment (and so the run marker) and
// ignores SIGTERM, plus a plain child, each writing its pid into $E2E_PIDS; it
// then says it is ready, waits for the test to have looked, and does end.
func containScript(name, end string) string {
	return `# ` + name + `
command: |
  setsid env -i sh -c 'trap "" TERM; echo $$ > "$0"; sleep 600' "$E2E_PIDS/escapee" &
  sh -c 'echo $$ > "$0"; exec sleep 600' "$E2E_PIDS/child" &
  while [ ! -s "$E2E_PIDS/escapee" ] || [ ! -s "$E2E_PIDS/child" ]; do sleep 0.01; done
  date +%s%N > "$E2E_PIDS/ready.tmp" && mv "$E2E_PIDS/ready.tmp" "$E2E_PIDS/ready"
  while [ ! -e "$E2E_PIDS/go" ]; do sleep 0.01; done
  ` + end + "\n"
}

// containTimeout is the timeout case's job timeout: long enough that a job on a
// busy machine has started its processes before it fires (2 s was not, beside
// other tests at load 20), and it costs only this test's own time.
const containTimeout = 15 * time.Second

// containEnds are the ways a job ends, with what the job does after it is ready.
var containEnds = []struct{ name, end string }{
	{"pass", `date +%s%N > "$E2E_PIDS/end"; exit 0`},
	{"fail", `date +%s%N > "$E2E_PIDS/end"; exit 1`},
	{"timeout", "sleep 600\ntimeout: " + containTimeout.String()},
	{"cancel", "sleep 600"},
	{"SIGTERM", "sleep 600"},
	{"SIGINT", "sleep 600"},
	{"SIGHUP", "sleep 600"},
	{"SIGKILL", "sleep 600"},
}

// cgroupWritable reports whether this process could give jobs cgroups: where it
// cannot, the cgroup variant is skipped (the runner would refuse to start).
func cgroupWritable() (bool, string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false, err.Error()
	}
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) != nil || st.Type != 0x63677270 { // CGROUP2_SUPER_MAGIC
			continue
		}
		rel := ""
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok {
				rel = p
			}
		}
		probe := filepath.Join(dir, rel, fmt.Sprintf("eventide-probe-%d", os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err != nil {
			return false, err.Error()
		}
		syscall.Rmdir(probe)
		return true, ""
	}
	return false, "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified"
}

// A job's processes, even one that left its group and cleared its environment
// and ignores SIGTERM, do not outlive the job, however it ends: pass, fail,
// timeout, cancel, and the runner stopped by SIGTERM, SIGINT, SIGHUP or SIGKILL
// (within 5 s then). Both containment modes; the runner says which it uses, and
// after a SIGKILL its next start on the data dir removes the stale worktree.
// Each case logs the time from the job's end to its last process gone.
func TestContainment(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"cgroup", "pgroup"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			if mode == "cgroup" {
				if ok, why := cgroupWritable(); !ok {
					t.Skipf("cgroup2 is not writable here (%s): only the pgroup fallback is tested", why)
				}
			}
			var mu sync.Mutex
			var figures []string
			// After the parallel cases: a parent's cleanups wait for its subtests.
			t.Cleanup(func() {
				t.Logf("containment %s: job end → last process gone: %s", mode, strings.Join(figures, ", "))
			})
			for _, c := range containEnds {
				t.Run(c.name, func(t *testing.T) {
					// Each case its own dispatcher and repository: the cases
					// mostly wait, so they run at once, and a shared dispatcher
					// would hand one case's job to another case's runner.
					t.Parallel()
					repo, _ := newRepo(t, 0)
					d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil, "--max-attempts", "1")
					took := containCase(t, d, repo, mode, c.name, c.end)
					mu.Lock()
					figures = append(figures, fmt.Sprintf("%s %v", c.name, took.Round(time.Millisecond)))
					mu.Unlock()
				})
			}
		})
	}
}

// containCase runs one job that ends the way name says and returns the time from
// its end to its last process gone.
func containCase(t *testing.T, d *dispatcher, repo *gitRepo, mode, name, end string) time.Duration {
	pids := t.TempDir()
	dataDir := t.TempDir()
	worktrees := filepath.Join(dataDir, "runner", "worktrees")
	env := childEnv("E2E_PIDS=" + pids)
	runnerName := "contain-" + mode + "-" + strings.ToLower(name)
	r := startRunner(t, d.addr, dataDir, runnerName, env, "--containment", mode, "--grace", "500ms")
	first := r.waitLog(patience, "runner starting")
	if !strings.Contains(first.text, "containment="+mode) && !strings.Contains(first.text, `containment="`+mode) {
		t.Errorf("the runner's first line does not say it uses %s: %s", mode, first.text)
	}
	r.mu.Lock()
	firstLine := r.lines[0].text
	r.mu.Unlock()
	if !strings.Contains(firstLine, "runner starting") {
		t.Errorf("first log line %q, want the one naming the containment", firstLine)
	}
	d.waitLog(patience, "runner registered", "runner="+runnerName)

	commit := repo.commit(mode+" "+name, map[string]string{".eventide.yml": containScript(mode+" "+name, end)})
	job := submitCommit(t, d.addr, "", repo.dir, commit, "main")
	waitFor(t, patience, func() bool { return exists(filepath.Join(pids, "ready")) }, "the job to start its processes")
	jobPids := []int{readPid(t, pids, "escapee"), readPid(t, pids, "child")}
	for _, pid := range jobPids {
		if !procRunning(pid) {
			t.Fatalf("pid %d of the job is not running: the test proves nothing", pid)
		}
	}
	if err := os.WriteFile(filepath.Join(pids, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Watched from now on, every 5 ms, so that the moment they are gone is
	// known however long the test takes to look at the result.
	goneAt := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if os.Getenv("E2E_DEBUG") != "" {
				t.Logf("%v %v %v", time.Now().Format("15:04:05.000"), jobPids, liveStrays(worktrees, r))
			}
			if !slices.ContainsFunc(jobPids, procRunning) && len(liveStrays(worktrees, r)) == 0 {
				goneAt <- time.Now()
				return
			}
			select {
			case <-tick.C:
			case <-stopWatch:
				return
			}
		}
	}()

	var ended time.Time
	switch name {
	case "pass", "fail":
		res := waitResult(t, d.resultsDir, commit, patience)
		if want := map[string]string{"pass": "passed", "fail": "failed"}[name]; res.get("Status") != want {
			t.Errorf("Status %q, want %q\n%s", res.get("Status"), want, res.raw)
		}
		checkUsage(t, res, mode)
		ended = stamp(t, pids, "end")
	case "timeout":
		res := waitResult(t, d.resultsDir, commit, containTimeout+patience)
		if !strings.Contains(res.get("Reason"), "timed out after "+containTimeout.String()) {
			t.Errorf("Reason %q, want a timeout\n%s", res.get("Reason"), res.raw)
		}
		checkUsage(t, res, mode)
		started, err := time.Parse(time.RFC3339Nano, res.get("Started"))
		if err != nil {
			t.Fatalf("Started %q: %v\n%s", res.get("Started"), err, res.raw)
		}
		ended = started.Add(containTimeout) // about when the timer fired
	case "cancel":
		con, err := dialClient(context.Background(), d.addr, wire.RoleConsole, "contain-console")
		if err != nil {
			t.Fatal(err)
		}
		defer con.close()
		ended = time.Now()
		if err := con.call(context.Background(), wire.MethodJobStop, wire.JobID{JobID: job.JobID}, nil); err != nil {
			t.Fatalf("job.stop: %v", err)
		}
		res := waitResult(t, d.resultsDir, commit, patience)
		if res.get("Status") != "cancelled" {
			t.Errorf("Status %q, want cancelled\n%s", res.get("Status"), res.raw)
		}
	case "SIGTERM", "SIGINT", "SIGHUP":
		sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP}[name]
		r.signal(sig)
		r.waitLog(patience, "draining on signal") // the first one drains, SIGHUP too
		if r.exited() {
			t.Fatalf("the runner died of its first %s", name)
		}
		ended = time.Now()
		r.signal(sig)
		r.wait(patience)
	case "SIGKILL":
		ended = time.Now()
		r.signal(syscall.SIGKILL)
	}

	var gone time.Time
	select {
	case gone = <-goneAt:
	case <-time.After(patience):
		t.Fatalf("the job's processes outlived it: %v and %v working in %s", jobPids, liveStrays(worktrees, r), worktrees)
	}
	took := gone.Sub(ended)
	if name == "SIGKILL" && took > 5*time.Second {
		t.Errorf("the job's processes died %v after the runner's SIGKILL, want within 5s", took)
	}
	t.Logf("%s: last process gone %v after the job ended", name, took.Round(time.Millisecond))

	if name == "SIGKILL" {
		ents, _ := os.ReadDir(worktrees)
		if len(ents) == 0 {
			t.Fatalf("the killed runner left no worktree: the restart proves nothing")
		}
		r.wait(patience)
		r2 := startRunner(t, d.addr, dataDir, runnerName+"-again", nil, "--containment", mode)
		r2.waitLog(patience, "runner starting")
		r2.waitLog(patience, "removed stale worktrees")
		if ents, _ := os.ReadDir(worktrees); len(ents) != 0 {
			t.Errorf("stale worktrees left after the restart: %v", ents)
		}
	}
	return took
}

// checkUsage checks that a result's output reports the job's CPU time, and that
// peak memory is "not measured" unless the memory controller is there for it.
func checkUsage(t *testing.T, res *resultFile, mode string) {
	t.Helper()
	i := strings.Index(res.output, "eventide: CPU time ")
	if i < 0 {
		t.Errorf("no CPU time in the output:\n%s", res.raw)
		return
	}
	line, _, _ := strings.Cut(res.output[i:], "\n")
	if strings.HasPrefix(line, "eventide: CPU time 0s") {
		t.Errorf("CPU time 0: %q", line)
	}
	if mode == "pgroup" && !strings.Contains(line, "peak memory not measured") {
		t.Errorf("pgroup mode cannot measure peak memory, yet: %q", line)
	}
	if mode == "cgroup" && !memoryControllerAvailable() && !strings.Contains(line, "peak memory not measured") {
		t.Errorf("no memory controller here, yet: %q", line)
	}
}

// memoryControllerAvailable reports whether the runner's cgroup could hand the
// memory controller to job cgroups (it is not, on the hybrid layout here).
func memoryControllerAvailable() bool {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err == nil && bytes.Contains(b, []byte("memory")) {
			return true
		}
	}
	return false
}

// liveStrays lists the processes working in dir, other than the runner.
func liveStrays(dir string, r *proc) []int {
	var out []int
	for _, pid := range strays(dir) {
		if pid != r.cmd.Process.Pid {
			out = append(out, pid)
		}
	}
	return out
}

func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	var pid int
	waitFor(t, patience, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		pid = n
		return err == nil
	}, "the pid in "+name)
	return pid
}

// stamp reads a `date +%s%N` the job wrote.
func stamp(t *testing.T, dir, name string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return time.Unix(0, ns)
}

// procRunning reports whether pid runs (a zombie has finished).
func procRunning(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// When the runner and the job's supervisor are both SIGKILLed (an OOM kill, say),
// nothing kills the job at once; the next runner on the same data dir finds its
// leftovers by the data dir's id (the cgroup's name; the run marker) and kills
// them before it takes work. A process that also cleared its environment is
// found only by the cgroup: in pgroup mode that one is beyond reach.
func TestContainmentLeftovers(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"cgroup", "pgroup"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "cgroup" {
				if ok, why := cgroupWritable(); !ok {
					t.Skipf("cgroup2 is not writable here (%s): only the pgroup fallback is tested", why)
				}
			}
			repo, _ := newRepo(t, 0)
			d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil, "--max-attempts", "1")
			pids, dataDir := t.TempDir(), t.TempDir()
			r := startRunner(t, d.addr, dataDir, "leftovers-"+mode, childEnv("E2E_PIDS="+pids), "--containment", mode)
			d.waitLog(patience, "runner registered", "runner=leftovers-"+mode)
			commit := repo.commit("leftovers "+mode, map[string]string{".eventide.yml": containScript("leftovers "+mode, "sleep 600")})
			submitCommit(t, d.addr, "", repo.dir, commit, "main")
			waitFor(t, patience, func() bool { return exists(filepath.Join(pids, "ready")) }, "the job to start its processes")
			escapee, child := readPid(t, pids, "escapee"), readPid(t, pids, "child")
			if err := os.WriteFile(filepath.Join(pids, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}

			sup := supervisorOf(r.cmd.Process.Pid)
			if sup == 0 {
				t.Fatal("no job supervisor under the runner")
			}
			// Both die before either can react: the runner is stopped first, so
			// that it cannot act on its supervisor's death, and the supervisor
			// dies before the runner, so that it cannot act on the runner's (a
			// binary without the race detector reacts within the gap between
			// two kills).
			r.signal(syscall.SIGSTOP)
			syscall.Kill(sup, syscall.SIGKILL)
			r.signal(syscall.SIGKILL)
			r.wait(patience)
			if !procRunning(child) || !procRunning(escapee) {
				t.Fatal("the job died with its supervisor: the restart proves nothing")
			}

			r2 := startRunner(t, d.addr, dataDir, "leftovers-"+mode+"-again", nil, "--containment", mode)
			r2.waitLog(patience, "killed what an earlier runner on this data dir left")
			if procRunning(child) {
				t.Errorf("the job's marked child %d outlived the restart", child)
			}
			if mode == "cgroup" && procRunning(escapee) {
				t.Errorf("the job's escapee %d outlived the restart in cgroup mode", escapee)
			}
		})
	}
}

// supervisorOf finds the job supervisor the runner pid started.
func supervisorOf(runner int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || !bytes.HasPrefix(cmdline, []byte("eventide-job-supervisor\x00")) {
			continue
		}
		if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(runner) {
			return pid
		}
	}
	return 0
}

// A bad --containment is refused at start, naming the flag and the choices.
func TestContainmentFlagChecked(t *testing.T) {
	t.Parallel()
	out, code := runBinary(t, patience, "--mode=runner", "--dispatcher-server", "127.0.0.1:1", "--containment", "jail")
	if code != 2 || !strings.Contains(out, `--containment: containment "jail": want auto, cgroup or pgroup`) {
		t.Errorf("exit %d, output %q; want 2 and a message naming --containment and its values", code, out)
	}
}
