package tests

// Load harness: the real dispatcher binary against simulated runners and observers
// that live in the test process and speak the protocol through net/peer over
// loopback TCP.
//
//	go test ./tests -run TestLoadSmoke                       # small, always on
//	EVENTIDE_E2E_RACE=0 go test ./tests -run '^$' -bench 'NoopJobs|IdleRunners' -benchtime 1x -v
//
// Sizes: EVENTIDE_LOAD_RUNNERS (100), EVENTIDE_LOAD_SLOTS (4), EVENTIDE_LOAD_JOBS
// (2000), EVENTIDE_LOAD_RATE (jobs/s offered; unset: as fast as the submitters go),
// EVENTIDE_LOAD_SUBMITTERS (64 per observer connection, 4 connections),
// EVENTIDE_IDLE_RUNNERS (1000), EVENTIDE_IDLE_SECONDS (10); EVENTIDE_LOAD_NO_FILES=1
// runs the dispatcher with --no-result-files, EVENTIDE_TLS=1 with --tls (every
// simulated client then speaks TLS, pinning its certificate). The dispatcher's
// results and database go under EVENTIDE_LOAD_DIR if set, else the test's temporary
// directory.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

const (
	loadRepo   = "/load/repo"
	loadOutput = "noop job: nothing to run\n"
	clkTck     = 100 // USER_HZ on Linux
)

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// ---------------------------------------------------------------------------
// /proc readings of the dispatcher process

// procCPU returns the process's utime+stime in seconds.
func procCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatalf("reading /proc/%d/stat: %v", pid, err)
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11] and f[12].
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: cannot parse utime/stime from %q", pid, s)
	}
	return float64(ut+st) / clkTck
}

// procStatusMB returns a kB field of /proc/<pid>/status (VmHWM, VmRSS) in MiB.
func procStatusMB(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("/proc/%d/status: %q", pid, line)
			}
			return float64(kb) / 1024
		}
	}
	tb.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// ---------------------------------------------------------------------------
// The rig: a dispatcher process plus in-process runners and observers

type loadRig struct {
	tb  testing.TB
	d   *dispatcher
	pid int

	ctx    context.Context
	cancel context.CancelFunc
	conns  sync.WaitGroup // Serve loops
	jobs   sync.WaitGroup // simulated job goroutines

	mu       sync.Mutex
	assigned map[string]time.Time // job id → first job.assign seen by a runner
	assigns  int                  // job.assign requests received in all
	acked    map[string]int       // job id → acknowledged job.result calls
	ackTotal int
	target   int           // ackTotal that closes reached
	reached  chan struct{} // closed when ackTotal reaches target
	errs     []error
	failed   chan struct{} // closed on the first error
	runners  []*peer.Conn
}

// newLoadRig starts the dispatcher binary (heartbeat 1s, its production default);
// with EVENTIDE_TLS=1 it speaks TLS (--tls), and so do the rig's clients.
func newLoadRig(tb testing.TB) *loadRig {
	tb.Helper()
	base := tb.TempDir()
	if parent := os.Getenv("EVENTIDE_LOAD_DIR"); parent != "" {
		// The file system matters: creating a result file costs 30-60 µs in a fresh
		// directory and up to ~800 µs in a block group full of recently deleted
		// inodes (as /tmp becomes after many test runs).
		var err error
		if base, err = os.MkdirTemp(parent, "eventide-load-"); err != nil {
			tb.Fatalf("EVENTIDE_LOAD_DIR: %v", err)
		}
		tb.Cleanup(func() { os.RemoveAll(base) })
	}
	resDir := filepath.Join(base, "results")
	args := []string{"--heartbeat", "1s"}
	if os.Getenv("EVENTIDE_LOAD_NO_FILES") == "1" {
		args = append(args, "--no-result-files") // what the files cost, by difference
	}
	var d *dispatcher
	if tlsWanted(tb) {
		d = startTLSDispatcher(tb, 0, resDir, filepath.Join(base, "data"), nil, args...)
	} else {
		d = startDispatcher(tb, 0, resDir, nil, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &loadRig{
		tb: tb, d: d, pid: d.cmd.Process.Pid, ctx: ctx, cancel: cancel,
		assigned: make(map[string]time.Time), acked: make(map[string]int),
		failed: make(chan struct{}),
	}
	// Registered after startDispatcher's cleanup, so it runs first: our
	// connections end before the dispatcher is killed.
	tb.Cleanup(r.close)
	return r
}

func (r *loadRig) close() {
	r.cancel() // ends every Serve loop (closing its connection) and every Call
	done := make(chan struct{})
	go func() {
		r.conns.Wait()
		r.jobs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(patience):
		r.tb.Errorf("load rig: connections or job goroutines still running %v after cancel", patience)
	}
}

func (r *loadRig) fail(err error) {
	if r.ctx.Err() != nil {
		return // tearing down: calls fail because of it
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		close(r.failed)
	}
	if len(r.errs) < 10 {
		r.errs = append(r.errs, err)
	}
}

func (r *loadRig) firstErrors() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

// serve runs c's Serve loop until the rig closes.
func (r *loadRig) serve(c *peer.Conn, name string, h peer.HandlerFunc) {
	r.conns.Go(func() {
		err := c.Serve(r.ctx, h)
		if r.ctx.Err() == nil {
			r.fail(fmt.Errorf("%s: connection ended: %w", name, err))
		}
	})
}

// dialRunners connects n simulated runners of slots slots each, working parallel
// dials from loadSources addresses; when noop is true they run every job they are
// offered as a no-op.
func (r *loadRig) dialRunners(n, slots int, noop bool) {
	r.tb.Helper()
	conns := make([]*peer.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, 32) {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(r.ctx, patience)
				name := fmt.Sprintf("load-runner-%05d", i)
				c, err := dialLoadRunner(ctx, i, r.d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: slots})
				cancel()
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w", name, err)
					continue
				}
				conns[i] = c
				r.serve(c, name, r.runnerHandler(c, name, noop))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.tb.Fatalf("dialling %d runners: %v", n, err)
	}
	r.runners = append(r.runners, conns...)
}

// runnerHandler accepts every job.assign at once and, from a goroutine (never the
// read loop), sends one output chunk and a passed result.
func (r *loadRig) runnerHandler(c *peer.Conn, name string, noop bool) peer.HandlerFunc {
	return func(_ context.Context, method string, params json.RawMessage) (any, error) {
		if method != wire.MethodJobAssign {
			return nil, wire.Errorf(wire.CodeMethodNotFound, "load runner: %s not handled", method)
		}
		now := time.Now()
		var a wire.Assign
		if err := wire.Decode(method, params, &a); err != nil {
			r.fail(fmt.Errorf("%s: %w", name, err))
			return nil, err
		}
		r.mu.Lock()
		r.assigns++
		if _, ok := r.assigned[a.JobID]; !ok {
			r.assigned[a.JobID] = now
		}
		r.mu.Unlock()
		if !noop {
			r.fail(fmt.Errorf("%s: idle runner was offered job %s", name, a.JobID))
			return nil, wire.Errorf(wire.CodeRefused, "idle runner")
		}
		r.jobs.Go(func() { r.runNoop(c, name, a, now) })
		return nil, nil
	}
}

// runNoop delivers as the real runner does: the output chunk and the result sent
// together, then both acknowledgements awaited in order.
func (r *loadRig) runNoop(c *peer.Conn, name string, a wire.Assign, started time.Time) {
	out := wire.Output{JobID: a.JobID, Attempt: a.Attempt, Seq: 1, Offset: 0, Data: loadOutput}
	pout, err := c.Start(r.ctx, wire.MethodJobOutput, &out)
	if err != nil {
		r.fail(fmt.Errorf("%s: job.output of %s: %w", name, a.JobID, err))
		return
	}
	defer pout.Abandon()
	res := wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: wire.StatusPassed,
		Summary: wire.Summary{Passed: 1}, StartedAt: started, FinishedAt: time.Now(),
		OutputBytes: int64(len(loadOutput))}
	pres, err := c.Start(r.ctx, wire.MethodJobResult, &res)
	if err != nil {
		r.fail(fmt.Errorf("%s: job.result of %s: %w", name, a.JobID, err))
		return
	}
	defer pres.Abandon()
	if err := pout.Wait(r.ctx, nil); err != nil {
		r.fail(fmt.Errorf("%s: job.output of %s: %w", name, a.JobID, err))
		return
	}
	if err := pres.Wait(r.ctx, nil); err != nil {
		r.fail(fmt.Errorf("%s: job.result of %s: %w", name, a.JobID, err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[a.JobID]++
	r.ackTotal++
	if r.ackTotal == r.target && r.reached != nil {
		close(r.reached)
		r.reached = nil
	}
}

// dialObservers connects n observers.
func (r *loadRig) dialObservers(n int) []*peer.Conn {
	r.tb.Helper()
	var out []*peer.Conn
	for i := range n {
		name := fmt.Sprintf("load-observer-%d", i)
		ctx, cancel := context.WithTimeout(r.ctx, patience)
		c, _, err := peerDial(ctx, r.d, nil, &wire.Hello{Role: wire.RoleObserver, Name: name})
		cancel()
		if err != nil {
			r.tb.Fatalf("%s: %v", name, err)
		}
		r.serve(c, name, func(context.Context, string, json.RawMessage) (any, error) {
			return nil, wire.Errorf(wire.CodeMethodNotFound, "load observer takes no requests")
		})
		out = append(out, c)
	}
	return out
}

// batchStats is what one batch of no-op jobs measured.
type batchStats struct {
	jobs        int
	elapsed     time.Duration   // first submit → last acknowledged result
	latencies   []time.Duration // submit reply read → job.assign read, sorted
	fromSend    []time.Duration // submit request sent → job.assign read, sorted
	early       int             // job.assign arrived before the submitter had read its reply
	cpu         float64
	selfCPU     float64           // this test process (the simulated runners and observers)
	machineBusy float64           // share of all the machine's CPU time that was busy
	jobIDs      map[string]string // job id → commit
}

// runBatch submits n distinct commits from perObs goroutines on each observer and
// waits for n more acknowledged results, failing after timeout without one.
func (r *loadRig) runBatch(observers []*peer.Conn, perObs, n int, timeout time.Duration) batchStats {
	return r.runPaced(observers, perObs, n, 0, timeout)
}

// runPaced is runBatch with job i submitted no earlier than i/rate seconds after
// the start (rate 0: as fast as the submitters go), for latencies at a given load.
func (r *loadRig) runPaced(observers []*peer.Conn, perObs, n int, rate float64, timeout time.Duration) batchStats {
	tb := r.tb
	tb.Helper()
	salt := rand.Uint32()
	reached := make(chan struct{})
	r.mu.Lock()
	r.target = r.ackTotal + n
	r.reached = reached
	r.mu.Unlock()

	type sub struct {
		id, commit string
		sent, at   time.Time
	}
	subs := make([]sub, n)
	work := make(chan int, n)
	for i := range n {
		work <- i
	}
	close(work)

	cpu0, self0 := procCPU(tb, r.pid), procCPU(tb, os.Getpid())
	busy0, all0 := machineCPU(tb)
	start := time.Now()
	var wg sync.WaitGroup
	for _, oc := range observers {
		for range perObs {
			wg.Go(func() {
				for i := range work {
					if rate > 0 {
						// Pacing the offered load, not synchronisation.
						time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
					}
					commit := fmt.Sprintf("%08x%032x", salt, i)
					var s wire.Submitted
					sent := time.Now()
					err := oc.Call(r.ctx, wire.MethodCommitSubmit, &wire.Submit{Repo: loadRepo, Commit: commit,
						Branch: "main", Message: "load " + strconv.Itoa(i)}, &s)
					at := time.Now()
					switch {
					case err != nil:
						r.fail(fmt.Errorf("commit.submit %s: %w", commit, err))
						return
					case s.Duplicate || !wire.ValidJobID(s.JobID):
						r.fail(fmt.Errorf("commit.submit %s: reply %+v", commit, s))
						return
					}
					subs[i] = sub{s.JobID, commit, sent, at}
				}
			})
		}
	}
	// On failure the submitters are stopped and waited for before failing.
	fatal := func(format string, args ...any) {
		tb.Helper()
		r.cancel()
		wg.Wait()
		tb.Fatalf(format, args...)
	}
	// timeout bounds a stall, not the batch: it fails only when no result has
	// been acknowledged for that long, so a busy machine makes it slow, not red.
	acked := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ackTotal - (r.target - n)
	}
	tick := time.NewTicker(100 * time.Millisecond) // looking at progress, not synchronising
	defer tick.Stop()
	last, lastAt := 0, time.Now()
wait:
	for {
		select {
		case <-reached:
			break wait
		case <-r.failed:
			fatal("load: %v", r.firstErrors())
		case <-r.d.done:
			fatal("the dispatcher exited during the load")
		case <-tick.C:
			if got := acked(); got != last {
				last, lastAt = got, time.Now()
			} else if time.Since(lastAt) > timeout {
				fatal("load: %d of %d results acknowledged, none in the last %v", got, n, timeout)
			}
		}
	}
	elapsed := time.Since(start)
	wg.Wait() // all replies are in by now (every job was submitted before it ran)
	st := batchStats{jobs: n, elapsed: elapsed, cpu: procCPU(tb, r.pid) - cpu0, jobIDs: make(map[string]string, n)}
	st.selfCPU = procCPU(tb, os.Getpid()) - self0
	if busy1, all1 := machineCPU(tb); all1 > all0 {
		st.machineBusy = (busy1 - busy0) / (all1 - all0)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		if s.id == "" {
			tb.Fatalf("load: a submission got no reply")
		}
		if prev, dup := st.jobIDs[s.id]; dup {
			tb.Fatalf("load: commits %s and %s got the same job id %s", prev, s.commit, s.id)
		}
		st.jobIDs[s.id] = s.commit
		as, ok := r.assigned[s.id]
		if !ok {
			tb.Fatalf("load: job %s was acknowledged-complete but never seen assigned", s.id)
		}
		lat := as.Sub(s.at)
		if lat < 0 { // the runner's read loop beat the observer's
			lat, st.early = 0, st.early+1
		}
		st.latencies = append(st.latencies, lat)
		st.fromSend = append(st.fromSend, as.Sub(s.sent))
		if k := r.acked[s.id]; k != 1 {
			tb.Fatalf("load: job %s (commit %s) has %d acknowledged results, want exactly 1", s.id, s.commit, k)
		}
	}
	slices.Sort(st.latencies)
	slices.Sort(st.fromSend)
	return st
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// checkResultFiles checks that the results directory holds exactly one passed
// result file per submitted commit, and nothing else, and returns how long it
// waited for the last ones.
func checkResultFiles(tb testing.TB, dir string, jobIDs map[string]string, readAll bool) time.Duration {
	tb.Helper()
	want := make(map[string]string, len(jobIDs))
	for id, c := range jobIDs {
		want[c] = id
	}
	// Files are written just after each result is stored, by one writer that
	// can fall behind under load: wait for it.
	// The bound is on a stall (no new file for patience), not on the total.
	var names []string
	start := time.Now()
	last, lastAt := -1, start
	for names = results(tb, dir); len(names) < len(want); names = results(tb, dir) {
		if len(names) != last {
			last, lastAt = len(names), time.Now()
		} else if time.Since(lastAt) > patience {
			tb.Fatalf("%d of %d result files (one per job), none new for %v", len(names), len(want), patience)
		}
		time.Sleep(10 * time.Millisecond) // polling a directory the dispatcher writes
	}
	behind := time.Since(start)
	if len(names) != len(want) {
		tb.Fatalf("%d result files, want %d (one per job)", len(names), len(want))
	}
	for _, name := range names {
		id, ok := want[name]
		if !ok {
			tb.Fatalf("result file %s is for no submitted commit", name)
		}
		if !readAll {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		rf := parseResult(tb, string(b))
		if rf.get("Status") != "passed" || rf.get("Job") != id+" attempt 1" || rf.output != loadOutput {
			tb.Fatalf("result file %s: want job %s attempt 1 passed with the no-op output:\n%s", name, id, rf.raw)
		}
	}
	return behind
}

// ---------------------------------------------------------------------------
// Scenario 1: no-op jobs

// TestLoadSmoke is the no-op load at a size that runs in every `go test ./tests`.
func TestLoadSmoke(t *testing.T) {
	const runners, slots, jobs = 20, 2, 300
	r := newLoadRig(t)
	r.dialRunners(runners, slots, true)
	obs := r.dialObservers(4)
	st := r.runBatch(obs, 4, jobs, patience)
	checkResultFiles(t, r.d.resultsDir, st.jobIDs, true)
	r.mu.Lock()
	assigns := r.assigns
	r.mu.Unlock()
	if assigns != jobs {
		t.Errorf("%d job.assign requests for %d jobs: some job was offered twice", assigns, jobs)
	}
	t.Logf("%d jobs on %d runners × %d slots in %v (%.0f jobs/s); queued→assigned p50 %.2fms p99 %.2fms; dispatcher CPU %.2fs",
		jobs, runners, slots, st.elapsed.Round(time.Millisecond), float64(jobs)/st.elapsed.Seconds(),
		ms(percentile(st.latencies, 50)), ms(percentile(st.latencies, 99)), st.cpu)
}

// BenchmarkNoopJobs runs EVENTIDE_LOAD_JOBS no-op jobs per iteration through the
// dispatcher binary, on EVENTIDE_LOAD_RUNNERS simulated runners of
// EVENTIDE_LOAD_SLOTS slots each.
func BenchmarkNoopJobs(b *testing.B) {
	runners := envInt(b, "EVENTIDE_LOAD_RUNNERS", 100)
	slots := envInt(b, "EVENTIDE_LOAD_SLOTS", 4)
	jobs := envInt(b, "EVENTIDE_LOAD_JOBS", 2000)
	rate := float64(envInt(b, "EVENTIDE_LOAD_RATE", 0)) // jobs/s offered; unset: as fast as possible
	// Each submitter waits for its submission to be durable before the next, so
	// they must be many for the submissions not to bound the load.
	submitters := envInt(b, "EVENTIDE_LOAD_SUBMITTERS", 64) // per observer connection
	r := newLoadRig(b)
	r.dialRunners(runners, slots, true)
	obs := r.dialObservers(4)
	timeout := patience // a stall, not the batch (see runPaced)

	var all, fromSend []time.Duration
	var elapsed time.Duration
	var cpu, self, busy float64
	var early int
	ids := make(map[string]string)
	b.ResetTimer()
	for range b.N {
		st := r.runPaced(obs, submitters, jobs, rate, timeout)
		all = append(all, st.latencies...)
		fromSend = append(fromSend, st.fromSend...)
		elapsed += st.elapsed
		cpu += st.cpu
		self += st.selfCPU
		busy += st.machineBusy / float64(b.N)
		early += st.early
		for id, c := range st.jobIDs {
			ids[id] = c
		}
	}
	b.StopTimer()
	if os.Getenv("EVENTIDE_LOAD_NO_FILES") != "1" {
		behind := checkResultFiles(b, r.d.resultsDir, ids, false)
		b.Logf("the last result file appeared %v after the last result was acknowledged", behind.Round(time.Millisecond))
	}
	slices.Sort(all)
	slices.Sort(fromSend)
	total := float64(len(all))
	b.ReportMetric(total/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(ms(percentile(all, 50)), "p50-assign-ms")
	b.ReportMetric(ms(percentile(all, 99)), "p99-assign-ms")
	b.ReportMetric(ms(percentile(fromSend, 50)), "p50-send-assign-ms")
	b.ReportMetric(ms(percentile(fromSend, 99)), "p99-send-assign-ms")
	b.ReportMetric(cpu/total, "cpu-s/job")
	b.ReportMetric(procStatusMB(b, r.pid, "VmHWM"), "peak-rss-MB")
	b.ReportMetric(100*cpu/elapsed.Seconds(), "cpu-%")
	b.ReportMetric(100*self/elapsed.Seconds(), "self-cpu-%")
	b.ReportMetric(100*busy, "machine-busy-%")
	b.Logf("%s, %d runners × %d slots, %d jobs × %d: %v (%.0f jobs/s); dispatcher CPU %.2fs (%.0f%% of a core, %.0f µs/job), this test process (runners, observers) %.0f%% of a core, machine %.0f%% busy",
		transport(r.d), runners, slots, jobs, b.N, elapsed.Round(time.Millisecond), total/elapsed.Seconds(), cpu, 100*cpu/elapsed.Seconds(), 1e6*cpu/total,
		100*self/elapsed.Seconds(), 100*busy)
	b.Logf("queued (submit acknowledged) → job.assign at the runner: p50 %.2f ms, p99 %.2f ms (%d of %d assigns came before their submit's acknowledgement, counted as 0); submit sent → job.assign: p50 %.2f ms, p99 %.2f ms",
		ms(percentile(all, 50)), ms(percentile(all, 99)), early, len(all), ms(percentile(fromSend, 50)), ms(percentile(fromSend, 99)))
}

// ---------------------------------------------------------------------------
// Scenario 2: idle runners

// BenchmarkIdleRunners holds EVENTIDE_IDLE_RUNNERS idle runners connected (with
// heartbeats, 1s interval) for EVENTIDE_IDLE_SECONDS and reports what the
// dispatcher spends on them. The runners are dialled EVENTIDE_IDLE_DIALS (32) at a
// time, transient refusals retried; the window starts EVENTIDE_IDLE_SETTLE (3)
// seconds after the last one is connected, so that handshakes, the store's runner
// writes and the heap's growth are not counted as idle cost.
//
// Metrics: cpu-% is the dispatcher's CPU in % of one core over the window; rss-MB
// its resident set at the window's end (the steady state only with a window of
// 150 s or more: idle garbage is slow to fill the GC's headroom); connect-peak-rss-MB its
// high-water mark once every runner is connected (the peak while connecting) and
// peak-rss-MB the high-water mark at the end. self-cpu-% is this test process (the
// simulated runners, which answer heartbeats too, on the same cores) and
// machine-busy-% the whole machine in % of all its cores: near 100 the figures
// are bounded by the machine, not by the dispatcher.
func BenchmarkIdleRunners(b *testing.B) {
	n := envInt(b, "EVENTIDE_IDLE_RUNNERS", 1000)
	secs := envInt(b, "EVENTIDE_IDLE_SECONDS", 10)
	settleSecs := envInt(b, "EVENTIDE_IDLE_SETTLE", 3)
	parallel := envInt(b, "EVENTIDE_IDLE_DIALS", 32)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	// One descriptor per connection on each side, plus headroom for the rest.
	if need := uint64(n) + 256; lim.Cur < need {
		b.Skipf("RLIMIT_NOFILE is %d (hard %d): %d idle runners need at least %d open files here and in the "+
			"dispatcher; raise `ulimit -n` or lower EVENTIDE_IDLE_RUNNERS", lim.Cur, lim.Max, n, need)
	}
	r := newLoadRig(b)
	c0 := takeIdleSample(b, r.pid)
	ds := dialIdleRunners(r, n, parallel, 60*time.Second)
	c1 := takeIdleSample(b, r.pid)
	connectPeak := procStatusMB(b, r.pid, "VmHWM")
	idleWait(b, r, time.Duration(settleSecs)*time.Second, "the settling time", func() string { return "" })
	idleAnnounce(b, r.pid)
	window := time.Duration(secs) * time.Second
	trace := startRSSSampler(b, r.pid, max(window/20, time.Second))
	defer trace.Stop()
	silence := startSilenceWatch(r.runners)
	defer silence.Stop() // for the failure paths; both stop again below

	var disp, self, box float64
	var rssStart float64
	windowStart := time.Now()
	b.ResetTimer()
	for range b.N {
		rssStart = procStatusMB(b, r.pid, "VmRSS")
		s0 := takeIdleSample(b, r.pid)
		idleWait(b, r, window, "the window", func() string { silence.Stop(); return silence.String() })
		sh := sharesBetween(s0, takeIdleSample(b, r.pid))
		disp, self, box = disp+sh.dispatcher, self+sh.self, box+sh.box
	}
	b.StopTimer()
	rssTrace := trace.Stop()
	silence.Stop()
	lost := 0
	for _, c := range r.runners {
		if c.Err() != nil {
			lost++
		}
	}
	if lost > 0 {
		b.Fatalf("%d of %d idle runners lost their connection during the window: %v", lost, n, r.firstErrors())
	}
	nf := float64(b.N)
	rss := procStatusMB(b, r.pid, "VmRSS")
	conn := sharesBetween(c0, c1)
	b.ReportMetric(disp/nf, "cpu-%")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(connectPeak, "connect-peak-rss-MB")
	b.ReportMetric(procStatusMB(b, r.pid, "VmHWM"), "peak-rss-MB")
	b.ReportMetric(self/nf, "self-cpu-%")
	b.ReportMetric(box/nf, "machine-busy-%")
	b.ReportMetric(ds.elapsed.Seconds(), "connect-s")
	b.ReportMetric(float64(silence.worst.Milliseconds()), "max-silence-ms")
	b.Logf("%s, %d idle runners for %v × %d: dispatcher at %.2f%% of one core, RSS %.1f MiB (%.1f at the window's start, "+
		"%.1f KiB/runner), %d threads; test process (the runners) at %.2f%% of one core, RSS %.1f MiB, %d goroutines; "+
		"machine %.1f%% busy (of %d cores)",
		transport(r.d), n, window, b.N, disp/nf, rss, rssStart, rss*1024/float64(n), procThreads(b, r.pid),
		self/nf, idleSelfRSSMB(b), idleGoroutines(), box/nf, idleNumCPU())
	b.Logf("connecting: %d runners in %v (%.0f/s, %d transient retries); dispatcher %.1f%% of one core, "+
		"test process %.1f%%, machine %.1f%% busy; dispatcher peak RSS %.1f MiB",
		n, ds.elapsed.Round(time.Millisecond), float64(n)/ds.elapsed.Seconds(), ds.retries,
		conn.dispatcher, conn.self, conn.box, connectPeak)
	b.Logf("dispatcher RSS through the window (MiB, every %v): %s", max(window/20, time.Second), rssTrace)
	b.Logf("longest a runner went without a frame from the dispatcher: %v (limit 3s), %v into the window; "+
		"%d readings (every 100ms) over 2s", silence.worst.Round(time.Millisecond), silence.at.Sub(windowStart).Round(time.Second), silence.over)
	if trace.growing() || window < 90*time.Second {
		// Idle heartbeats make little garbage: the heap reaches the size at which
		// the GC runs (twice the live heap) only 30-50 s after connecting, and the
		// resident set settles after the second or third collection.
		b.Logf("rss-MB may understate the steady state (still growing at the end: %v; window %v): "+
			"use EVENTIDE_IDLE_SECONDS=150 or more", trace.growing(), window)
	}
}
