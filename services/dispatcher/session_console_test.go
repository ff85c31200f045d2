package dispatcher_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

func TestHistoryQueries(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		statuses := map[string]string{commitID(1): wire.StatusPassed, commitID(2): wire.StatusFailed,
			commitID(3): wire.StatusPassed, commitID(4): wire.StatusFailed}
		startRunner(t, s, "r1", func(a wire.Assign) string { return statuses[a.Commit] })
		branches := []string{"main", "dev", "dev", "main", "dev"}
		var ids []string
		for i := range 4 {
			id := s.submit(t, i+1, branches[i])
			ids = append(ids, id)
			st.wait(t, "job "+id+" finished", 0, jobIs(id, wire.State(statuses[commitID(i+1)])))
		}
		ctx := ctxT(t)
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "r1 draining", 0, runnerIs("r1", wire.RunnerDraining))
		ids = append(ids, s.submit(t, 5, branches[4])) // stays queued

		list := func(q wire.JobQuery) ([]string, bool) {
			t.Helper()
			l, err := c.Jobs(ctx, q)
			if err != nil {
				t.Fatalf("jobs.list %+v: %v", q, err)
			}
			var got []string
			for _, j := range l.Jobs {
				got = append(got, j.ID)
			}
			return got, l.More
		}
		check := func(what string, q wire.JobQuery, want []string, wantMore bool) {
			t.Helper()
			got, more := list(q)
			if !slices.Equal(got, want) || more != wantMore {
				t.Errorf("%s: got %v more=%v, want %v more=%v", what, got, more, want, wantMore)
			}
		}
		check("all", wire.JobQuery{}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, false)
		check("failed", wire.JobQuery{States: []string{wire.StatusFailed}}, []string{ids[3], ids[1]}, false)
		check("branch dev", wire.JobQuery{Branch: "dev"}, []string{ids[4], ids[2], ids[1]}, false)
		check("passed or queued on dev", wire.JobQuery{Branch: "dev", States: []string{wire.StatusPassed, wire.StateQueued}},
			[]string{ids[4], ids[2]}, false)
		check("commit", wire.JobQuery{Commit: commitID(3)}, []string{ids[2]}, false)
		check("page 1", wire.JobQuery{Limit: 2}, []string{ids[4], ids[3]}, true)
		check("page 2", wire.JobQuery{Limit: 2, Before: ids[3]}, []string{ids[2], ids[1]}, true)
		check("page 3", wire.JobQuery{Limit: 2, Before: ids[1]}, []string{ids[0]}, false)

		l, err := c.Jobs(ctx, wire.JobQuery{Commit: commitID(2)})
		if err != nil || len(l.Jobs) != 1 {
			t.Fatalf("jobs.list by commit: %+v %v", l, err)
		}
		if j := l.Jobs[0]; j.State != wire.StatusFailed || j.Runner != "r1" || j.Branch != "dev" || j.Summary == nil ||
			j.Summary.Failed != 1 || j.ExitCode != 1 || j.FinishedAt.IsZero() || len(j.Attempts) != 0 {
			t.Errorf("listed job %+v, want failed on r1 with its summary and no attempts", j)
		}

		// job.get: the job with its attempts.
		j, err := c.Job(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if j.ID != ids[1] || j.State != wire.StatusFailed || j.Attempt != 1 || j.Summary == nil || j.Summary.Failed != 1 ||
			!slices.Equal(j.Summary.Failing, []string{"test_bad (t.T.test_bad)"}) || j.ExitCode != 1 {
			t.Errorf("job.get: %+v", j)
		}
		if len(j.Attempts) != 1 {
			t.Fatalf("attempts %+v, want 1", j.Attempts)
		}
		if a := j.Attempts[0]; a.N != 1 || a.Runner != "r1" || a.Assigned.IsZero() || a.Ended.IsZero() || a.Outcome != wire.StatusFailed {
			t.Errorf("attempt %+v, want 1 on r1, ended failed", a)
		}
		q, err := c.Job(ctx, ids[4])
		if err != nil || q.State != wire.StateQueued || q.Attempt != 0 || len(q.Attempts) != 0 {
			t.Errorf("job.get of the queued job: %+v %v", q, err)
		}
		_, err = c.Job(ctx, "0123456789abcdef")
		wantCode(t, "job.get of an unknown job", err, wire.CodeUnknownJob)

		// job.log: all of it, then in pieces.
		out := outputFor(wire.Assign{Commit: commitID(2)})
		lc, err := c.Log(ctx, wire.LogQuery{JobID: ids[1]})
		if err != nil {
			t.Fatal(err)
		}
		if lc.JobID != ids[1] || lc.Attempt != 1 || lc.Data != out || lc.Offset != 0 || lc.Next != int64(len(out)) ||
			lc.End != int64(len(out)) || lc.Start != 0 || !lc.Final {
			t.Errorf("job.log: %+v, want all of %q, final", lc, out)
		}
		p1, err := c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 1, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		p2, err := c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 1, Offset: p1.Next})
		if err != nil {
			t.Fatal(err)
		}
		if p1.Data != out[:10] || p1.Next != 10 || p2.Offset != 10 || p2.Data != out[10:] || p2.Next != int64(len(out)) || !p2.Final {
			t.Errorf("job.log in pieces: %+v then %+v, want %q then %q", p1, p2, out[:10], out[10:])
		}
		_, err = c.Log(ctx, wire.LogQuery{JobID: ids[1], Attempt: 2})
		wantCode(t, "job.log of an attempt that never was", err, wire.CodeUnknownJob)
	})
}

// job.get reports how much output each attempt has stored.
func TestJobAttemptLogBytes(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	_, st := subscribe(t, c)
	startRunner(t, s, "r1", passAll)
	id := s.submit(t, 1, "main")
	st.wait(t, "job passed", 0, jobIs(id, wire.StatusPassed))
	j, err := c.Job(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(outputFor(wire.Assign{Commit: commitID(1)})))
	if len(j.Attempts) != 1 || j.Attempts[0].LogBytes != want {
		t.Errorf("attempts %+v, want one with log_bytes %d", j.Attempts, want)
	}
}

// A running job's log is not final, and grows.
func TestLogOfRunningJob(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		r1 := startRunner(t, s, "r1", nil)
		id := s.submit(t, 1, "main")
		a := r1.next(t)
		r1.output(t, a, 1, 0, "first\n")
		st.wait(t, "output", 0, outputIs(id, 1, 0, "first\n"))
		lc, err := c.Log(ctxT(t), wire.LogQuery{JobID: id})
		if err != nil {
			t.Fatal(err)
		}
		if lc.Data != "first\n" || lc.Next != 6 || lc.End != 6 || lc.Final || lc.Attempt != 1 {
			t.Errorf("log of a running job: %+v, want %q, not final", lc, "first\n")
		}
		r1.output(t, a, 2, 6, "second\n")
		lc, err = c.Log(ctxT(t), wire.LogQuery{JobID: id, Offset: lc.Next})
		if err != nil {
			t.Fatal(err)
		}
		if lc.Data != "second\n" || lc.Offset != 6 || lc.Next != 13 || lc.Final {
			t.Errorf("log read on: %+v, want %q from 6", lc, "second\n")
		}
	})
}

func TestRetry(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)

		id := s.submit(t, 1, "main")
		a1 := r1.next(t)
		if err := r1.finish(ctx, a1, wire.StatusFailed, "boom\n"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "attempt 1 failed", 0, jobIs(id, wire.StatusFailed))

		m := st.mark()
		info, err := c.Retry(ctx, id)
		if err != nil {
			t.Fatalf("retry of a finished job: %v", err)
		}
		if info.ID != id || info.State != wire.StateQueued || info.Summary != nil || !info.FinishedAt.IsZero() {
			t.Errorf("retry reply %+v, want the job queued again without its old result", info)
		}
		// The runner gets the new attempt, which passes.
		a2 := r1.next(t)
		if a2.JobID != id || a2.Attempt != 2 {
			t.Fatalf("assignment after retry %+v, want %s attempt 2", a2, id)
		}
		// Retrying a job that is queued or running is refused.
		_, err = c.Retry(ctx, id)
		wantCode(t, "retry of a running job", err, wire.CodeRefused)
		if err := r1.finish(ctx, a2, wire.StatusPassed, "fixed\n"); err != nil {
			t.Fatal(err)
		}
		ev, _ := st.wait(t, "attempt 2 passed", m, jobIs(id, wire.StatusPassed))
		if ev.Job.Attempt != 2 {
			t.Errorf("passed event %+v, want attempt 2", ev.Job)
		}
		j, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != wire.StatusPassed || j.Attempt != 2 || len(j.Attempts) != 2 ||
			j.Attempts[0].Outcome != wire.StatusFailed || j.Attempts[1].Outcome != wire.StatusPassed || j.Attempts[1].N != 2 {
			t.Errorf("job after retry: %+v attempts %+v, want attempt 1 failed, attempt 2 passed", j, j.Attempts)
		}
		// Each attempt keeps its own log.
		for n, want := range map[int]string{1: "boom\n", 2: "fixed\n", 0: "fixed\n"} {
			lc, err := c.Log(ctx, wire.LogQuery{JobID: id, Attempt: n})
			if err != nil || lc.Data != want || !lc.Final {
				t.Errorf("log of attempt %d: %+v %v, want %q", n, lc, err, want)
			}
		}

		// A queued job cannot be retried.
		m = st.mark()
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "r1 draining", m, runnerIs("r1", wire.RunnerDraining))
		q := s.submit(t, 2, "main")
		_, err = c.Retry(ctx, q)
		wantCode(t, "retry of a queued job", err, wire.CodeRefused)

		// Nor a finished job whose commit is queued again as another job.
		again := s.submit(t, 1, "main")
		if again == id {
			t.Fatal("a finished commit's resubmission got the old job's id")
		}
		_, err = c.Retry(ctx, id)
		wantCode(t, "retry while the commit is queued as another job", err, wire.CodeRefused)
		_, err = c.Retry(ctx, "0123456789abcdef")
		wantCode(t, "retry of an unknown job", err, wire.CodeUnknownJob)
	})
}

func TestStop(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)

		running := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "job running", 0, jobIs(running, wire.StateRunning))

		// A queued job ends at once.
		m := st.mark()
		queued := s.submit(t, 2, "main")
		st.wait(t, "second job queued", m, jobIs(queued, wire.StateQueued))
		if err := c.Stop(ctx, queued); err != nil {
			t.Fatalf("stop of a queued job: %v", err)
		}
		ev, _ := st.wait(t, "queued job cancelled", m, jobIs(queued, wire.StatusCancelled))
		if ev.Job.Reason == "" || ev.Job.FinishedAt.IsZero() {
			t.Errorf("cancelled event %+v, want a reason and finished_at", ev.Job)
		}
		if j, err := c.Job(ctx, queued); err != nil || j.State != wire.StatusCancelled || j.Attempt != 0 {
			t.Errorf("job.get of the cancelled job: %+v %v", j, err)
		}

		// A running job is cancelled on its runner, whose result ends it.
		if err := c.Stop(ctx, running); err != nil {
			t.Fatalf("stop of a running job: %v", err)
		}
		select {
		case ref := <-r1.cancels:
			if ref.JobID != running || ref.Attempt != a.Attempt {
				t.Errorf("job.cancel %+v, want %s attempt %d", ref, running, a.Attempt)
			}
		case <-time.After(waitTime):
			t.Fatal("the runner got no job.cancel")
		}
		if j, err := c.Job(ctx, running); err != nil || j.State != wire.StateRunning {
			t.Errorf("before the runner reports, the job is %+v %v, want still running", j.State, err)
		}
		m = st.mark()
		if err := r1.result(ctx, a, wire.StatusCancelled, 0); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "running job cancelled", m, jobIs(running, wire.StatusCancelled))
		if j, err := c.Job(ctx, running); err != nil || j.State != wire.StatusCancelled || len(j.Attempts) != 1 ||
			j.Attempts[0].Outcome != wire.StatusCancelled {
			t.Errorf("job.get of the stopped job: %+v %v", j, err)
		}
		st.wait(t, "r1 idle again", m, runnerIs("r1", wire.RunnerIdle))

		// A job that has ended cannot be stopped.
		wantCode(t, "stop of a finished job", c.Stop(ctx, running), wire.CodeRefused)
		wantCode(t, "stop of an unknown job", c.Stop(ctx, "0123456789abcdef"), wire.CodeUnknownJob)
	})
}

func TestDrain(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		ctx := ctxT(t)
		r1 := startRunner(t, s, "r1", nil)
		first := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "first job running", 0, jobIs(first, wire.StateRunning))

		m := st.mark()
		if err := c.Drain(ctx, "r1"); err != nil {
			t.Fatalf("drain: %v", err)
		}
		ev, _ := st.wait(t, "r1 draining", m, runnerIs("r1", wire.RunnerDraining))
		if !slices.Equal(ev.Runner.Jobs, []string{first}) {
			t.Errorf("draining r1 holds %v, want its job %s", ev.Runner.Jobs, first)
		}
		second := s.submit(t, 2, "main")
		ev, _ = st.wait(t, "second job queued", m, jobIs(second))
		if ev.Job.State != wire.StateQueued || ev.Job.Waiting != "every runner is draining" {
			t.Errorf("second job %+v, want queued because every runner is draining", ev.Job)
		}

		// It finishes what it has, and takes nothing more.
		m = st.mark()
		if err := r1.finish(ctx, a, wire.StatusPassed, "ok\n"); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "first job passed", m, jobIs(first, wire.StatusPassed))
		st.wait(t, "r1 done, still draining", m, func(ev wire.Event) bool {
			return runnerIs("r1", wire.RunnerDraining)(ev) && ev.Runner.Done == 1 && len(ev.Runner.Jobs) == 0
		})
		if j, err := c.Job(ctx, second); err != nil || j.State != wire.StateQueued {
			t.Errorf("second job with only a draining runner: %+v %v, want queued", j, err)
		}
		snap, _ := subscribe(t, newClient(t, s, tr))
		for _, j := range snap.Jobs {
			if j.ID == second && (j.State != wire.StateQueued || j.Waiting != "1st in queue; every runner is draining") {
				t.Errorf("snapshot shows the second job as %s, %q", j.State, j.Waiting)
			}
		}
		// A live runner takes it; had the drained one been given it meanwhile, the
		// live one would get nothing.
		r2 := startRunner(t, s, "r2", nil)
		if got := r2.next(t); got.JobID != second {
			t.Fatalf("r2 got %+v, want the second job", got)
		}
		select {
		case got := <-r1.assigns:
			t.Errorf("the draining runner was given %+v", got)
		default:
		}
		wantCode(t, "drain of an unknown runner", c.Drain(ctx, "nobody"), wire.CodeRefused)
	})
}

// A runner slow to acknowledge a cancel delays the reply to job.stop, not the
// console's connection: it stays up, with its events, over either transport.
func TestStopWithSlowRunnerKeepsConsole(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		hold := make(chan struct{})
		r1 := startRunnerHolding(t, s, "r1", nil, hold)
		id := s.submit(t, 1, "main")
		a := r1.next(t)
		st.wait(t, "job running", 0, jobIs(id, wire.StateRunning))

		stopped := make(chan error, 1)
		go func() { stopped <- c.Stop(context.Background(), id) }()
		select {
		case <-r1.cancels:
		case <-time.After(waitTime):
			t.Fatal("the runner got no job.cancel")
		}
		// The runner takes ten heartbeat intervals to answer; the console's
		// connection must not end meanwhile. (A timed wait on purpose: this is
		// the slowness under test, and it ends early if the connection does.)
		closed := make(chan struct{})
		go func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			for !st.closed {
				ch := st.changed
				st.mu.Unlock()
				<-ch
				st.mu.Lock()
			}
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(500 * time.Millisecond):
		}
		close(hold)
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("stop with a slow runner: %v", err)
			}
		case <-time.After(waitTime):
			t.Fatal("stop did not return")
		}
		if err := r1.result(ctxT(t), a, wire.StatusCancelled, 0); err != nil {
			t.Fatal(err)
		}
		st.wait(t, "the job cancelled", 0, jobIs(id, wire.StatusCancelled))
	})
}
