package tests

// Fault injection: the real dispatcher and runner binaries are SIGKILLed at random
// moments while jobs run (a runner is restarted with the same name and data dir,
// the dispatcher on the same port and directories, so with the same store), and
// every job must still end exactly once: passed, with one attempt that has a
// verdict, and the result file of that attempt.
//
// In CI (200 jobs on 4 runners, about 15 runner kills and 2 dispatcher kills; about
// 30 s on an idle 2-core machine). No total deadline: the test fails only when no
// job finishes for faultStall, so a slow or busy machine makes it slower, never red.
// Each job runs a shell script, not python3: this test is about Eventide's
// recovery, and an interpreter start per job (100-300 ms with a pyenv shim) made
// it measure the machine instead. The script checks that the worktree is at the
// job's commit and prints the plain closing line; the unittest path is covered by
// the other end-to-end tests.
//
//	go test -count=1 -race ./tests -run TestFaultInjection -v
//
// Every failure names its seed. The seed fixes the fault plan (which process dies,
// after how many finished jobs, how long the dispatcher stays down), not the
// interleaving, which is the scheduler's; replay a plan with:
//
//	EVENTIDE_FAULT_SEED=12345 go test -count=1 -race ./tests -run TestFaultInjection -v
//
// Soak: the same, but commits keep coming and faults keep falling for the given
// duration; then the same checks, and figures (jobs, kills, jobs/s, time to settle).
// Give go test a -timeout of the duration plus 10 minutes; EVENTIDE_SOAK_UNITTEST=1
// runs python3 unittest in every job instead of the shell script:
//
//	EVENTIDE_SOAK=10m go test -count=1 -race -timeout 20m ./tests -run TestFaultSoak -v
//
// EVENTIDE_FAULT_SEED applies to the soak too; EVENTIDE_E2E_RACE=0 builds the binary
// without the race detector (more jobs per second, fewer checks).

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// faultDefaultSeed is the seed unless EVENTIDE_FAULT_SEED says otherwise.
const faultDefaultSeed = 20250314

// TestFaultInjection: 100 jobs on 4 runners; runners are SIGKILLed and restarted
// about 15 times and the dispatcher exactly twice while the jobs run. 100 jobs
// are enough to space the faults out (one every ~7 jobs) with every kind of
// fault in every seed; the soak below runs as many as you give it time for.
func TestFaultInjection(t *testing.T) {
	runFaults(t, faultConfig{Runners: 4, Commits: 100, DispatcherKills: 2, RunnerKills: 10})
}

// TestFaultSoak runs only when EVENTIDE_SOAK=<duration> is set (see the top of the file).
func TestFaultSoak(t *testing.T) {
	v := os.Getenv("EVENTIDE_SOAK")
	if v == "" {
		t.Skip("a soak, not a CI test: set EVENTIDE_SOAK=<duration> (e.g. 10m) to run it")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("EVENTIDE_SOAK=%q: want a positive duration such as 10m", v)
	}
	runFaults(t, faultConfig{Runners: 4, Commits: 40, Soak: d, Backlog: 40, Unittest: os.Getenv("EVENTIDE_SOAK_UNITTEST") == "1"})
}

// faultConfig sizes a fault scenario.
type faultConfig struct {
	Runners         int
	Commits         int           // commits made and submitted before the faults begin
	DispatcherKills int           // injection: exactly this many, spread over the run
	RunnerKills     int           // injection: at least this many (the plan adds up to half as many)
	Soak            time.Duration // > 0: keep submitting commits and injecting faults this long
	Backlog         int           // soak: submitted jobs kept unfinished
	Unittest        bool          // jobs run python3 unittest instead of a shell script
}

// faultRun is one fault scenario under way.
type faultRun struct {
	t     *testing.T
	cfg   faultConfig
	seed  uint64
	rng   *rand.Rand // the test goroutine's only
	start time.Time

	repoDir string
	resDir  string
	port    int
	addr    string
	dflags  []string

	// dmu is held across a dispatcher's kill and restart, and by every
	// submission: a submission never straddles a dispatcher kill, so it has a
	// definite outcome and the jobs can be counted exactly.
	dmu   sync.Mutex
	d     *dispatcher   // the current one (test goroutine only)
	dgens []*dispatcher // every dispatcher started, oldest first

	names   []string
	dirs    []string
	runners []*proc // the current process of each runner
	rgens   []*proc // every runner process started

	runnerKills     int // runners SIGKILLed, those while no dispatcher ran included
	downtimeKills   int // runners SIGKILLed while no dispatcher ran
	dispatcherKills int

	smu     sync.Mutex
	commits []string          // submitted, in order
	jobIDs  map[string]string // commit → the job id commit.submit returned
	feedErr error             // soak: why the feeder stopped early
}

func faultSeed(t *testing.T) uint64 {
	s := os.Getenv("EVENTIDE_FAULT_SEED")
	if s == "" {
		return faultDefaultSeed
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("EVENTIDE_FAULT_SEED=%q: want an unsigned integer", s)
	}
	return n
}

// runFaults runs the scenario cfg describes and checks its invariants.
func runFaults(t *testing.T, cfg faultConfig) {
	seed := faultSeed(t)
	t.Logf("fault seed %d (replay with EVENTIDE_FAULT_SEED=%d)", seed, seed)
	// Registered first, so it runs last: after the harness has dumped the logs of
	// the processes, whatever helper failed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the fault seed was %d: rerun with EVENTIDE_FAULT_SEED=%d", seed, seed)
		}
	})
	r := &faultRun{
		t: t, cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6576656e74696465)), start: time.Now(),
		jobIDs: make(map[string]string),
		// Lost runners would otherwise end a job as error after 3 attempts: here a
		// job may be caught by several kills, and must still pass in the end.
		dflags: []string{"--max-attempts", "100"},
	}

	r.repoDir = filepath.Join(t.TempDir(), "repo")
	if err := os.MkdirAll(r.repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gitIn(r.repoDir, "", "init", "-q", "-b", "main"); err != nil {
		t.Fatal(err)
	}
	first, err := appendCommits(r.repoDir, 0, cfg.Commits, cfg.Unittest)
	if err != nil {
		t.Fatal(err)
	}
	made := time.Since(r.start)

	// The dispatcher runs in the parent of its results directory, so its store is
	// there too, and every restart on the same directories finds it.
	r.resDir = filepath.Join(t.TempDir(), "results")
	r.d = startDispatcher(t, 0, r.resDir, nil, r.dflags...)
	r.dgens = append(r.dgens, r.d)
	r.port, r.addr = r.d.port, r.d.addr
	for i := range cfg.Runners {
		r.names = append(r.names, fmt.Sprintf("fault-%d", i))
		r.dirs = append(r.dirs, t.TempDir())
		r.runners = append(r.runners, nil)
		r.startRunner(i)
	}
	for _, n := range r.names {
		r.d.waitLog(faultStep, "runner registered", "runner="+n+" ")
	}

	ctx := context.Background()
	var obs *faultClient
	for _, c := range first {
		if err := r.submit(ctx, &obs, c); err != nil {
			r.fatalf("%v", err)
		}
	}
	if obs != nil {
		obs.close()
	}
	t.Logf("%d commits made in %v and submitted in %v", cfg.Commits, made.Round(time.Millisecond),
		(time.Since(r.start) - made).Round(time.Millisecond))

	faultsFrom := time.Now()
	if cfg.Soak > 0 {
		r.soak()
	} else {
		r.inject()
	}
	faultsEnd := time.Now()
	con := r.settle()
	settled := time.Now()
	st := r.verify(con)

	for i, p := range r.runners {
		if p.exited() {
			r.errorf("runner %s exited by itself at the end:\n%s", r.names[i], tail(p.output(), 20))
		}
	}
	if r.d.exited() {
		r.errorf("the dispatcher exited by itself at the end:\n%s", tail(r.d.output(), 20))
	}
	jobs := len(r.commits)
	t.Logf("%d jobs, every one passed once; kills: %d runner (%d while no dispatcher ran), %d dispatcher; "+
		"%d attempts (%d given up on: %s)", jobs, r.runnerKills, r.downtimeKills, r.dispatcherKills,
		st.attempts, st.attempts-jobs, st.outcomes)
	t.Logf("wall time %v (faults %v, settling after the last fault %v); %.1f jobs/s; "+
		"slowest job queued→finished %v, median %v", time.Since(r.start).Round(time.Millisecond),
		faultsEnd.Sub(faultsFrom).Round(time.Millisecond), settled.Sub(faultsEnd).Round(time.Millisecond),
		float64(jobs)/settled.Sub(faultsFrom).Seconds(), st.slowest.Round(time.Millisecond), st.median.Round(time.Millisecond))
}

func (r *faultRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\n[fault seed %d: rerun with EVENTIDE_FAULT_SEED=%d]", fmt.Sprintf(format, args...), r.seed, r.seed)
}

func (r *faultRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("%s\n[fault seed %d: rerun with EVENTIDE_FAULT_SEED=%d]", fmt.Sprintf(format, args...), r.seed, r.seed)
}

func (r *faultRun) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("%6.2fs %3d/%d done: %s", time.Since(r.start).Seconds(), r.finished(), r.submitted(), fmt.Sprintf(format, args...))
}

// ---------------------------------------------------------------------------
// The processes and their faults

func (r *faultRun) startRunner(i int) {
	p := startRunner(r.t, r.addr, r.dirs[i], r.names[i], nil)
	r.runners[i] = p
	r.rgens = append(r.rgens, p)
}

// killRunner SIGKILLs runner i and starts it again with the same name and data dir.
func (r *faultRun) killRunner(i int) {
	r.t.Helper()
	p := r.runners[i]
	if p.exited() {
		r.fatalf("runner %s exited by itself before it was killed (exit %d):\n%s", r.names[i], p.exitCode(), tail(p.output(), 20))
	}
	p.kill()
	p.wait(patience)
	r.runnerKills++
	// Its test processes die with it (they would hold on to its worktrees).
	r.waitUntil(time.Now().Add(faultStep), "the test processes of the killed runner "+r.names[i]+" to die",
		func() bool { return len(strays(r.dirs[i])) == 0 })
	r.startRunner(i)
}

// killDispatcher SIGKILLs the dispatcher, optionally kills runner downRunner while
// none runs, and starts a dispatcher again on the same port and directories after
// downtime; it returns once every runner has registered with the new one.
func (r *faultRun) killDispatcher(downRunner int, downtime time.Duration) {
	r.t.Helper()
	r.dmu.Lock()
	defer r.dmu.Unlock()
	if r.d.exited() {
		r.fatalf("the dispatcher exited by itself before it was killed:\n%s", tail(r.d.output(), 20))
	}
	r.d.kill()
	r.d.wait(patience)
	r.dispatcherKills++
	if downRunner >= 0 {
		r.killRunner(downRunner)
		r.downtimeKills++
	}
	time.Sleep(downtime) // pacing: how long no dispatcher runs, not synchronisation
	d := startDispatcher(r.t, r.port, r.resDir, nil, r.dflags...)
	r.dgens = append(r.dgens, d)
	if d.addr != r.addr {
		r.fatalf("restarted dispatcher listens on %s, want %s", d.addr, r.addr)
	}
	r.d = d
	for _, n := range r.names {
		if _, ok := waitLine(d.proc, time.Now().Add(faultStep), "runner registered", "runner="+n+" "); !ok {
			r.fatalf("runner %s did not register with the restarted dispatcher within %v\n%s", n, faultStep, r.diagnose())
		}
	}
}

// faultEvent is one planned fault.
type faultEvent struct {
	at         int // number of finished jobs that triggers it
	dispatcher bool
	// runner is the runner to kill; for a dispatcher kill, the runner killed
	// while no dispatcher runs, or -1 for none.
	runner   int
	delay    time.Duration // after the trigger, so that kills fall anywhere in a job
	downtime time.Duration // dispatcher kill: how long no dispatcher runs
}

// plan draws the injection's faults from the seed, in the order they happen.
func (r *faultRun) plan() []faultEvent {
	n, k := r.cfg.Commits, r.cfg.DispatcherKills
	var plan []faultEvent
	for i := range k {
		// One in each of k equal slices of the 20%–80% band of the jobs, away
		// from the slice's edges: spaced out, and with jobs left to run.
		lo := 0.2 + 0.6*float64(i)/float64(k)
		frac := lo + 0.6/float64(k)*(0.15+0.7*r.rng.Float64())
		ev := faultEvent{at: int(frac * float64(n)), dispatcher: true, runner: -1,
			delay:    time.Duration(r.rng.IntN(300)) * time.Millisecond,
			downtime: time.Duration(r.rng.IntN(1500)) * time.Millisecond}
		// A runner also dies while no dispatcher runs: always at the first
		// dispatcher kill (so that every seed covers it), by chance at the others.
		if down := r.rng.IntN(r.cfg.Runners); i == 0 || r.rng.IntN(2) == 0 {
			ev.runner = down
		}
		plan = append(plan, ev)
	}
	kills := r.cfg.RunnerKills + r.rng.IntN(r.cfg.RunnerKills/2+1)
	for range kills {
		plan = append(plan, faultEvent{at: int((0.02 + 0.88*r.rng.Float64()) * float64(n)),
			runner: r.rng.IntN(r.cfg.Runners), delay: time.Duration(r.rng.IntN(400)) * time.Millisecond})
	}
	slices.SortStableFunc(plan, func(a, b faultEvent) int { return cmp.Compare(a.at, b.at) })
	return plan
}

// inject carries the plan out as the jobs finish.
func (r *faultRun) inject() {
	plan := r.plan()
	for i, ev := range plan {
		r.waitDone(ev.at, fmt.Sprintf("%d finished jobs, for fault %d of %d", ev.at, i+1, len(plan)))
		time.Sleep(ev.delay) // pacing: where in a job the fault falls, not synchronisation
		if !ev.dispatcher {
			r.logf("SIGKILL runner %s", r.names[ev.runner])
			r.killRunner(ev.runner)
			continue
		}
		if done := r.finished(); done >= r.submitted() {
			r.errorf("dispatcher kill %d came after every job had finished (%d): the plan is too late", r.dispatcherKills+1, done)
		}
		also := ""
		if ev.runner >= 0 {
			also = ", and runner " + r.names[ev.runner] + " while it is down"
		}
		r.logf("SIGKILL dispatcher, down for %v%s", ev.downtime, also)
		r.killDispatcher(ev.runner, ev.downtime)
	}
	if r.dispatcherKills != r.cfg.DispatcherKills {
		r.fatalf("%d dispatcher kills, want %d", r.dispatcherKills, r.cfg.DispatcherKills)
	}
}

// soak keeps commits coming (from another goroutine) and faults falling for
// cfg.Soak: a runner every 0.2–1.5 s, now and then the dispatcher instead (at
// most once in 10 s).
func (r *faultRun) soak() {
	stopAt := time.Now().Add(r.cfg.Soak)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.feed(ctx, stopAt); err != nil && ctx.Err() == nil {
			r.smu.Lock()
			r.feedErr = err
			r.smu.Unlock()
		}
	})
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	r.t.Cleanup(stop) // runs before the processes' cleanups
	feedErr := func() error {
		r.smu.Lock()
		defer r.smu.Unlock()
		return r.feedErr
	}
	lastRestart := time.Now()
	last, lastAt := r.finished(), time.Now()
	for time.Now().Before(stopAt) {
		if err := feedErr(); err != nil {
			r.fatalf("submitting commits: %v", err)
		}
		switch done := r.finished(); {
		case done != last || done >= r.submitted():
			last, lastAt = done, time.Now()
		case time.Since(lastAt) > faultStall:
			r.fatalf("no job finished for %v during the soak (%d of %d done)\n%s", faultStall, done, r.submitted(), r.diagnose())
		}
		time.Sleep(time.Duration(200+r.rng.IntN(1300)) * time.Millisecond) // pacing between faults
		if time.Since(lastRestart) > 10*time.Second && r.rng.IntN(8) == 0 {
			down, downtime := -1, time.Duration(r.rng.IntN(1500))*time.Millisecond
			if r.rng.IntN(2) == 0 {
				down = r.rng.IntN(r.cfg.Runners)
			}
			also := ""
			if down >= 0 {
				also = ", and runner " + r.names[down] + " while it is down"
			}
			r.logf("SIGKILL dispatcher (kill %d), down for %v%s", r.dispatcherKills+1, downtime, also)
			r.killDispatcher(down, downtime)
			lastRestart = time.Now()
			continue
		}
		i := r.rng.IntN(r.cfg.Runners)
		if r.runnerKills%20 == 0 {
			r.logf("%d runner kills so far; SIGKILL runner %s", r.runnerKills, r.names[i])
		}
		r.killRunner(i)
	}
	stop()
	if err := feedErr(); err != nil {
		r.fatalf("submitting commits: %v", err)
	}
}

// feed makes and submits commits in batches until stopAt, keeping about
// cfg.Backlog jobs submitted but unfinished.
func (r *faultRun) feed(ctx context.Context, stopAt time.Time) error {
	const batch = 20
	var cl *faultClient
	defer func() {
		if cl != nil {
			cl.close()
		}
	}()
	next := r.cfg.Commits
	for ctx.Err() == nil && time.Now().Before(stopAt) {
		if r.submitted()-r.finished() >= r.cfg.Backlog {
			select { // pacing while the runners catch up
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		ids, err := appendCommits(r.repoDir, next, batch, r.cfg.Unittest)
		if err != nil {
			return err
		}
		next += batch
		for _, c := range ids {
			if err := r.submit(ctx, &cl, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Clients in the test process

// faultClient is an observer or console connection served by net/peer.
type faultClient struct {
	c    *peer.Conn
	done chan struct{}
}

func dialClient(ctx context.Context, addr, role, name string) (*faultClient, error) {
	dctx, cancel := context.WithTimeout(ctx, faultStep)
	defer cancel()
	c, _, err := peer.Dial(dctx, addr, &wire.Hello{Role: role, Name: name}, peer.Options{})
	if err != nil {
		return nil, fmt.Errorf("dialling %s as %s: %w", addr, role, err)
	}
	fc := &faultClient{c: c, done: make(chan struct{})}
	go func() {
		defer close(fc.done)
		c.Serve(context.Background(), peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) {
			return nil, wire.Errorf(wire.CodeMethodNotFound, "the fault test serves no requests")
		}))
	}()
	return fc, nil
}

func (fc *faultClient) call(ctx context.Context, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, faultStep)
	defer cancel()
	return fc.c.Call(ctx, method, params, result)
}

func (fc *faultClient) close() {
	fc.c.Close()
	<-fc.done
}

// console connects a console to the current dispatcher for the rest of the test.
func (r *faultRun) console() *faultClient {
	r.t.Helper()
	con, err := dialClient(context.Background(), r.addr, wire.RoleConsole, "fault-console")
	if err != nil {
		r.fatalf("%v", err)
	}
	r.t.Cleanup(con.close)
	return con
}

// submit submits commit over *cl, dialling first when it is nil and again after a
// failure, and records the job id. It holds dmu, so that no dispatcher is killed
// meanwhile: a failed call then never reached a dispatcher that could store it.
func (r *faultRun) submit(ctx context.Context, cl **faultClient, commit string) error {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	var last error
	for try := range 3 {
		if *cl == nil {
			c, err := dialClient(ctx, r.addr, wire.RoleObserver, "fault-observer")
			if err != nil {
				last = err
				continue
			}
			*cl = c
		}
		var s wire.Submitted
		err := (*cl).call(ctx, wire.MethodCommitSubmit, &wire.Submit{Repo: r.repoDir, Commit: commit, Branch: "main",
			Message: "fault injection"}, &s)
		if err != nil {
			// Most likely the connection to a dispatcher killed since: dial the new one.
			(*cl).close()
			*cl, last = nil, err
			continue
		}
		if s.Duplicate && try == 0 {
			return fmt.Errorf("commit %s: submitted once, and the dispatcher calls it a duplicate of job %s", commit, s.JobID)
		}
		r.smu.Lock()
		r.commits = append(r.commits, commit)
		r.jobIDs[commit] = s.JobID
		r.smu.Unlock()
		return nil
	}
	return fmt.Errorf("commit.submit %s: %w", commit, last)
}

func (r *faultRun) submitted() int {
	r.smu.Lock()
	defer r.smu.Unlock()
	return len(r.commits)
}

// finished counts the result files: each is written once its job's result is stored.
func (r *faultRun) finished() int {
	ents, err := os.ReadDir(r.resDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// Waiting and checking

// waitUntil polls cond every 10 ms until it holds; at the deadline it fails the
// test with what is known about the jobs that have not finished.
func (r *faultRun) waitUntil(deadline time.Time, what string, cond func() bool) {
	r.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			r.fatalf("timed out (%v into the run) waiting for %s\n%s", time.Since(r.start).Round(time.Millisecond), what, r.diagnose())
		}
		<-tick.C
	}
}

// faultStall is how long no job may finish while some are unfinished. On an idle
// machine a restart costs at most the downtime, the 2 s reclaim window and a
// runner's 2 s backoff; the rest is room for a busy machine, so that a failure
// means a job stuck for good, not a slow one.
const faultStall = 60 * time.Second

// faultStep bounds one step that makes no progress of its own to watch: a
// process starting and registering, or dying. Seconds when idle; generous for the
// same reason as faultStall.
const faultStep = 60 * time.Second

// waitDone waits until n jobs have finished. It has no total deadline: it fails
// only when no job finishes for faultStall.
func (r *faultRun) waitDone(n int, what string) {
	r.t.Helper()
	last, lastAt := r.finished(), time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done := r.finished()
		switch {
		case done >= n:
			return
		case done != last:
			last, lastAt = done, time.Now()
		case time.Since(lastAt) > faultStall:
			r.fatalf("no job finished for %v (%v into the run, %d of %d done, waiting for %s)\n%s", faultStall,
				time.Since(r.start).Round(time.Millisecond), done, r.submitted(), what, r.diagnose())
		}
		<-tick.C
	}
}

// waitLine waits until p logs a line with every one of subs.
func waitLine(p *proc, deadline time.Time, subs ...string) (logLine, bool) {
	for {
		if l, ok := p.find(subs...); ok {
			return l, true
		}
		if time.Now().After(deadline) {
			return logLine{}, false
		}
		time.Sleep(10 * time.Millisecond) // polling the log
	}
}

// settle waits until every submitted commit has its result file and no job is
// queued, assigned or running, and returns a console connection.
func (r *faultRun) settle() *faultClient {
	r.t.Helper()
	want := r.submitted()
	r.waitDone(want, fmt.Sprintf("a result file for each of the %d jobs", want))
	con := r.console()
	r.waitUntil(time.Now().Add(faultStep), "no job queued, assigned or running", func() bool {
		var l wire.JobList
		err := con.call(context.Background(), wire.MethodJobsList, &wire.JobQuery{
			States: []string{wire.StateQueued, wire.StateAssigned, wire.StateRunning}, Limit: 1}, &l)
		return err == nil && len(l.Jobs) == 0
	})
	return con
}

// faultStats are the figures verify gathers.
type faultStats struct {
	attempts        int
	outcomes        string // of the attempts given up on, by kind
	slowest, median time.Duration
}

// verify checks the invariants through the console and the result files.
func (r *faultRun) verify(con *faultClient) faultStats {
	r.t.Helper()
	ctx := context.Background()
	var all []wire.JobInfo
	q := wire.JobQuery{Limit: wire.MaxListLimit}
	for {
		var page wire.JobList
		if err := con.call(ctx, wire.MethodJobsList, &q, &page); err != nil {
			r.fatalf("jobs.list %+v: %v", q, err)
		}
		all = append(all, page.Jobs...)
		if !page.More || len(page.Jobs) == 0 {
			break
		}
		q.Before = page.Jobs[len(page.Jobs)-1].ID
	}

	r.smu.Lock()
	commits, jobIDs := slices.Clone(r.commits), r.jobIDs
	r.smu.Unlock()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(all) != len(commits) {
		bad("jobs.list lists %d jobs, want %d (one per submitted commit)", len(all), len(commits))
	}
	seen := make(map[string]string) // commit → job id listed
	for _, j := range all {
		switch want, ok := jobIDs[j.Commit]; {
		case !ok:
			bad("job %s is for commit %s, which was never submitted", j.ID, j.Commit)
		case seen[j.Commit] != "":
			bad("commit %s has two jobs: %s and %s", short12(j.Commit), seen[j.Commit], j.ID)
		case j.ID != want:
			bad("commit %s has job %s, but commit.submit answered %s", short12(j.Commit), j.ID, want)
		}
		seen[j.Commit] = j.ID
	}
	for _, c := range commits {
		if seen[c] == "" {
			bad("commit %s (job %s) is not listed", short12(c), jobIDs[c])
		}
	}

	st := faultStats{}
	given := make(map[string]int)
	var took []time.Duration
	for _, listed := range all {
		var j wire.JobInfo
		if err := con.call(ctx, wire.MethodJobGet, &wire.JobID{JobID: listed.ID}, &j); err != nil {
			bad("job.get %s: %v", listed.ID, err)
			continue
		}
		st.attempts += len(j.Attempts)
		took = append(took, j.FinishedAt.Sub(j.QueuedAt))
		for _, p := range checkFaultJob(&j) {
			bad("job %s (commit %s): %s", j.ID, short12(j.Commit), p)
		}
		for _, a := range j.Attempts {
			if a.N != j.Attempt {
				given[a.Outcome]++
			}
		}
		if !wire.ValidCommit(j.Commit) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.resDir, j.Commit))
		if err != nil {
			bad("job %s: result file: %v", j.ID, err)
			continue
		}
		rf := parseResult(r.t, string(b))
		if got, want := rf.get("Job"), fmt.Sprintf("%s attempt %d", j.ID, j.Attempt); rf.get("Status") != wire.StatusPassed ||
			got != want || rf.get("Commit") != j.Commit || rf.get("Runner") != j.Runner {
			bad("result file of %s says Status %q, Job %q, Commit %q, Runner %q; job.get says passed, %q, %s, %q",
				short12(j.Commit), rf.get("Status"), got, rf.get("Commit"), rf.get("Runner"), want, j.Commit, j.Runner)
		}
	}
	for _, name := range results(r.t, r.resDir) {
		if _, ok := jobIDs[name]; !ok {
			bad("result file %s is for no submitted commit", name)
		}
	}
	if len(problems) > 0 {
		const show = 15
		msg := strings.Join(problems[:min(len(problems), show)], "\n")
		if len(problems) > show {
			msg += fmt.Sprintf("\n… and %d more", len(problems)-show)
		}
		r.errorf("%d problems after the faults (%d runner kills, %d dispatcher kills):\n%s\n%s",
			len(problems), r.runnerKills, r.dispatcherKills, msg, r.evidence(problems))
	}

	var parts []string
	for _, k := range slices.Sorted(maps.Keys(given)) {
		parts = append(parts, fmt.Sprintf("%d %s", given[k], k))
	}
	st.outcomes = strings.Join(parts, ", ")
	if st.outcomes == "" {
		st.outcomes = "none"
	}
	slices.Sort(took)
	if len(took) > 0 {
		st.slowest, st.median = took[len(took)-1], took[len(took)/2]
	}
	return st
}

// checkFaultJob lists what is wrong with a job that should have passed once.
func checkFaultJob(j *wire.JobInfo) []string {
	var p []string
	if j.State != wire.StatusPassed {
		p = append(p, fmt.Sprintf("state %q (reason %q), want passed", j.State, j.Reason))
	}
	if j.Summary == nil || j.Summary.Passed != 1 || j.Summary.Failed != 0 || j.Summary.Errors != 0 {
		p = append(p, fmt.Sprintf("summary %+v, want 1 passed test", j.Summary))
	}
	verdicts := 0
	for i, a := range j.Attempts {
		if a.N != i+1 {
			p = append(p, fmt.Sprintf("attempt #%d is numbered %d", i+1, a.N))
		}
		if a.Ended.IsZero() {
			p = append(p, fmt.Sprintf("attempt %d on %s never ended", a.N, a.Runner))
		}
		switch a.Outcome {
		case wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled:
			verdicts++
			if a.Outcome != wire.StatusPassed || a.N != j.Attempt || a.Runner != j.Runner {
				p = append(p, fmt.Sprintf("attempt %d on %s has verdict %q; want only the last attempt (%d on %s) to have one, passed",
					a.N, a.Runner, a.Outcome, j.Attempt, j.Runner))
			}
		case "lost", "refused", "infra":
		default:
			p = append(p, fmt.Sprintf("attempt %d on %s ended %q (%s)", a.N, a.Runner, a.Outcome, a.Reason))
		}
	}
	if verdicts != 1 {
		p = append(p, fmt.Sprintf("%d attempts with a test verdict, want exactly 1", verdicts))
	}
	if len(j.Attempts) != j.Attempt {
		p = append(p, fmt.Sprintf("%d attempts recorded, but the job is at attempt %d", len(j.Attempts), j.Attempt))
	}
	if len(p) > 0 {
		b, _ := json.Marshal(j.Attempts)
		p = append(p, "attempts: "+string(b))
	}
	return p
}

// diagnose describes the jobs without a result file, with their log lines.
func (r *faultRun) diagnose() string {
	r.smu.Lock()
	commits := slices.Clone(r.commits)
	ids := maps.Clone(r.jobIDs)
	r.smu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d jobs have a result file; %d runner kills, %d dispatcher kills so far\n",
		r.finished(), len(commits), r.runnerKills, r.dispatcherKills)
	var missing []string
	for _, c := range commits {
		if _, err := os.Stat(filepath.Join(r.resDir, c)); err != nil {
			missing = append(missing, c)
		}
	}
	con, err := dialClient(context.Background(), r.addr, wire.RoleConsole, "fault-diagnose")
	if err != nil {
		fmt.Fprintf(&b, "(no console: %v)\n", err)
	} else {
		defer con.close()
	}
	var lines []string
	for i, c := range missing {
		if i == 5 {
			fmt.Fprintf(&b, "… and %d more without a result file\n", len(missing)-i)
			break
		}
		id := ids[c]
		fmt.Fprintf(&b, "job %s (commit %s) has no result file", id, short12(c))
		if con != nil {
			var j wire.JobInfo
			if err := con.call(context.Background(), wire.MethodJobGet, &wire.JobID{JobID: id}, &j); err != nil {
				fmt.Fprintf(&b, "; job.get: %v", err)
			} else {
				a, _ := json.Marshal(j.Attempts)
				fmt.Fprintf(&b, "; job.get: state %s, attempt %d, runner %q, reason %q, attempts %s", j.State, j.Attempt, j.Runner, j.Reason, a)
			}
		}
		b.WriteString("\n")
		lines = append(lines, id)
	}
	b.WriteString(r.logLinesOf(lines))
	// What each dispatcher found in the store, and who registered with it.
	for i, d := range r.dgens {
		for _, l := range append(d.linesWith(`msg="resumed from the store"`), d.linesWith(`msg="runner registered"`)...) {
			fmt.Fprintf(&b, "  dispatcher#%d | %s\n", i+1, l)
		}
	}
	return b.String()
}

// evidence gathers the log lines of the first jobs named in problems.
func (r *faultRun) evidence(problems []string) string {
	var ids []string
	for _, p := range problems {
		for _, f := range strings.Fields(p) {
			if wire.ValidJobID(f) && !slices.Contains(ids, f) {
				ids = append(ids, f)
			}
		}
		if len(ids) >= 3 {
			break
		}
	}
	return r.logLinesOf(ids)
}

// logLinesOf returns the lines every dispatcher and runner process logged about
// the jobs ids, each marked with its process.
func (r *faultRun) logLinesOf(ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "log lines about job %s:\n", id)
		for i, d := range r.dgens {
			for _, l := range d.linesWith(id) {
				fmt.Fprintf(&b, "  dispatcher#%d | %s\n", i+1, l)
			}
		}
		for _, p := range r.rgens {
			for _, l := range p.linesWith(id) {
				fmt.Fprintf(&b, "  %s | %s\n", p.name, l)
			}
		}
	}
	return b.String()
}

// linesWith returns the lines p printed that contain sub.
func (p *proc) linesWith(sub string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.Contains(l.text, sub) {
			out = append(out, l.text)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Helpers

// faultTest is tests/test_sample.py of commit i: one quick test that passes.
func faultTest(i int) string {
	return fmt.Sprintf(`import unittest


class FaultTest(unittest.TestCase):
    def test_commit_%d(self):
        self.assertEqual(%d + 1, %d)


if __name__ == "__main__":
    unittest.main()
`, i, i, i+1)
}

// faultConfigFile makes every job run check.sh with the shell: a few
// milliseconds, where python3 costs 100-300 ms.
const faultConfigFile = "command: sh check.sh\n"

// faultCheck is check.sh of commit i: one quick test that passes when the job runs
// in a worktree of its own commit, with the plain closing line for the counts.
func faultCheck(i int) string {
	return fmt.Sprintf(`# fault commit %d
set -e
test "$(git rev-parse HEAD)" = "$EVENTIDE_COMMIT"
test $((%d + 1)) -eq %d
echo "test_commit_%d ... ok"
echo "1 passed, 0 failed"
`, i, i, i+1, i)
}

// appendCommits adds n commits, numbered from first, on branch main of the
// repository in dir with one git fast-import, and returns their ids, oldest first.
// Each commit's test is a shell script, or with unittest a python3 unittest.
func appendCommits(dir string, first, n int, unittest bool) ([]string, error) {
	var b bytes.Buffer
	file := func(path, body string) {
		fmt.Fprintf(&b, "M 100644 inline %s\ndata %d\n%s\n", path, len(body), body)
	}
	for i := first; i < first+n; i++ {
		msg := fmt.Sprintf("fault commit %d\n", i)
		fmt.Fprintf(&b, "commit refs/heads/main\nmark :%d\ncommitter Eventide E2E <e2e@eventide.invalid> %d +0000\ndata %d\n%s",
			i-first+1, 1700000000+i, len(msg), msg)
		if i == first && first > 0 {
			b.WriteString("from refs/heads/main^0\n")
		}
		if unittest {
			file("tests/test_sample.py", faultTest(i))
		} else {
			file(".eventide.yml", faultConfigFile)
			file("check.sh", faultCheck(i))
		}
	}
	if _, err := gitIn(dir, b.String(), "fast-import", "--quiet"); err != nil {
		return nil, err
	}
	out, err := gitIn(dir, "", "rev-list", "--reverse", "-n", strconv.Itoa(n), "main")
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) != n {
		return nil, fmt.Errorf("rev-list after fast-import: %d commits, want %d", len(ids), n)
	}
	return ids, nil
}

// gitIn runs git in dir with stdin, as the fixtures of internal/testkit do, in
// the children's environment, and returns its output. It is safe off the test's
// goroutine (the soak's feeder calls it).
func gitIn(dir, stdin string, args ...string) (string, error) {
	return testkit.GitCmd{Dir: dir, Base: childEnv(), Stdin: stdin}.Run(args...)
}

func short12(commit string) string { return commit[:min(len(commit), 12)] }

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// exitCode is the exit code of a process that has exited (-1 when killed by a signal).
func (p *proc) exitCode() int {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ExitCode()
}
