package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/console"
	"github.com/eventide-ci/eventide/net/wire"
)

func TestSubscribeSnapshot(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		before := time.Now()
		s := startDispatcher(t, serverOpts{})
		var ids []string
		for i := range 3 {
			ids = append(ids, s.submit(t, i+1, "main"))
		}
		c := newClient(t, s, tr)
		snap, _ := subscribe(t, c)
		if snap.Server != "eventide test" {
			t.Errorf("server %q, want %q", snap.Server, "eventide test")
		}
		if snap.Address != s.addr {
			t.Errorf("address %q, want %q", snap.Address, s.addr)
		}
		if snap.StartedAt.Before(before) || snap.StartedAt.After(time.Now()) {
			t.Errorf("started_at %v, want between %v and now", snap.StartedAt, before)
		}
		if len(snap.Runners) != 0 {
			t.Errorf("runners %+v, want none", snap.Runners)
		}
		if len(snap.Jobs) != 3 {
			t.Fatalf("snapshot has %d jobs, want 3: %+v", len(snap.Jobs), snap.Jobs)
		}
		for i, j := range snap.Jobs {
			want := fmt.Sprintf("%s in queue; no runner connected", []string{"1st", "2nd", "3rd"}[i])
			if j.ID != ids[i] || j.State != wire.StateQueued || j.Waiting != want || j.Commit != commitID(i+1) ||
				j.Repo != "/r" || j.Branch != "main" || j.Attempt != 0 || j.QueuedAt.IsZero() {
				t.Errorf("snapshot job %d: %+v, want %s queued, waiting %q", i, j, ids[i], want)
			}
		}

		// With a runner holding the first job, a second console sees it busy and
		// the rest waiting for its slot.
		r1 := startRunner(t, s, "r1", nil)
		if a := r1.next(t); a.JobID != ids[0] {
			t.Fatalf("runner got %s, want %s", a.JobID, ids[0])
		}
		snap2, _ := subscribe(t, newClient(t, s, tr))
		if len(snap2.Runners) != 1 {
			t.Fatalf("runners %+v, want r1", snap2.Runners)
		}
		r := snap2.Runners[0]
		if r.Name != "r1" || r.State != wire.RunnerBusy || r.Slots != 1 || !slices.Equal(r.Jobs, ids[:1]) || r.LastSeen.IsZero() || r.Remote == "" {
			t.Errorf("runner %+v, want r1 busy with %s", r, ids[0])
		}
		if len(snap2.Jobs) != 3 {
			t.Fatalf("snapshot has %d jobs, want 3: %+v", len(snap2.Jobs), snap2.Jobs)
		}
		// The queue first, in order, then the running job.
		for i, want := range []struct{ id, waiting string }{
			{ids[1], "1st in queue; all 1 slots busy"},
			{ids[2], "2nd in queue; all 1 slots busy"},
		} {
			if j := snap2.Jobs[i]; j.ID != want.id || j.State != wire.StateQueued || j.Waiting != want.waiting {
				t.Errorf("snapshot job %d: %s %s waiting %q, want %s queued waiting %q", i, j.ID, j.State, j.Waiting, want.id, want.waiting)
			}
		}
		if j := snap2.Jobs[2]; j.ID != ids[0] || (j.State != wire.StateAssigned && j.State != wire.StateRunning) ||
			j.Runner != "r1" || j.Attempt != 1 || j.Waiting != "" {
			t.Errorf("snapshot job 2: %+v, want %s assigned or running on r1, attempt 1", j, ids[0])
		}
	})
}

func TestEventsFollowJobsAndRunners(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)

		// A runner registering, with nothing to do.
		r1 := startRunner(t, s, "r1", nil)
		ev, _ := st.wait(t, "r1 registering", 0, runnerIs("r1"))
		if ev.Runner.State != wire.RunnerIdle || ev.Runner.Slots != 1 || len(ev.Runner.Jobs) != 0 {
			t.Errorf("first event of r1: %+v, want idle with 1 slot", ev.Runner)
		}

		// A job it runs: assigned or running (the two may be coalesced), then
		// running, with its output, then passed.
		m := st.mark()
		a := s.submit(t, 1, "main")
		as := r1.next(t)
		if as.JobID != a || as.Attempt != 1 {
			t.Fatalf("assignment %+v, want %s attempt 1", as, a)
		}
		ev, at := st.wait(t, "job A assigned or running", m, jobIs(a, wire.StateAssigned, wire.StateRunning))
		if ev.Job.Runner != "r1" || ev.Job.Attempt != 1 || ev.Job.Commit != commitID(1) {
			t.Errorf("job A event %+v, want attempt 1 on r1", ev.Job)
		}
		ev, at = st.wait(t, "job A running", at, jobIs(a, wire.StateRunning))
		if ev.Job.StartedAt.IsZero() {
			t.Errorf("running job has no started_at: %+v", ev.Job)
		}
		ev, _ = st.wait(t, "r1 busy", m, runnerIs("r1", wire.RunnerBusy))
		if !slices.Equal(ev.Runner.Jobs, []string{a}) {
			t.Errorf("busy r1 holds %v, want [%s]", ev.Runner.Jobs, a)
		}

		// A second job waits for the busy slot.
		m = st.mark()
		b := s.submit(t, 2, "main")
		ev, _ = st.wait(t, "job B queued", m, jobIs(b))
		if ev.Job.State != wire.StateQueued || ev.Job.Waiting != "all 1 slots busy" || ev.Job.Attempt != 0 {
			t.Errorf("job B event %+v, want queued waiting for all 1 slots busy", ev.Job)
		}

		// Output arrives as output events, in order.
		r1.output(t, as, 1, 0, "hello\n")
		_, at = st.wait(t, "the first output of A", at, outputIs(a, 1, 0, "hello\n"))
		r1.output(t, as, 2, 6, "world\n")
		st.wait(t, "the second output of A", at+1, outputIs(a, 1, 6, "world\n"))

		// The job passes; the runner is free again and takes B.
		m = st.mark()
		if err := r1.result(ctxT(t), as, wire.StatusPassed, 12); err != nil {
			t.Fatal(err)
		}
		ev, _ = st.wait(t, "job A passed", m, jobIs(a, wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled))
		if j := ev.Job; j.State != wire.StatusPassed || j.FinishedAt.IsZero() || j.Summary == nil || j.Summary.Passed != 2 || j.Attempt != 1 {
			t.Errorf("job A's final event %+v (summary %+v), want passed with 2 tests passed", j, j.Summary)
		}
		st.wait(t, "r1 done with A", m, func(ev wire.Event) bool { return runnerIs("r1")(ev) && ev.Runner.Done == 1 })
		bs := r1.next(t)
		if bs.JobID != b {
			t.Fatalf("r1 got %+v, want job B", bs)
		}
		st.wait(t, "job B running", m, jobIs(b, wire.StateRunning))

		// The runner is lost: it shows as lost, and B is queued again.
		m = st.mark()
		r1.conn.Close()
		st.wait(t, "r1 lost", m, runnerIs("r1", wire.RunnerLost))
		ev, _ = st.wait(t, "job B queued again", m, jobIs(b, wire.StateQueued))
		if ev.Job.Attempt != 1 || ev.Job.Runner != "" {
			t.Errorf("re-queued job B %+v, want attempt 1 (the lost one), no runner", ev.Job)
		}
		j, err := c.Job(ctxT(t), b)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Outcome != "lost" || j.Attempts[0].Runner != "r1" {
			t.Errorf("job B's attempts %+v, want one lost on r1", j.Attempts)
		}
	})
}

// A burst of changes arrives in a few batches, each job at most once per batch
// with its latest state. Coalescing is the dispatcher's, whatever the transport,
// so one (TCP) is enough: the test is the slowest here.
func TestBurstIsCoalesced(t *testing.T) {
	// Not parallel: coalescing needs the burst to come faster than the pacing
	// interval, which other tests running beside it on two cores can prevent.
	{
		tr := transports[0]
		const (
			n = 500
			// A few submitters at once, as observers would be; not so many that
			// the 50ms heartbeats starve on a small machine under the race detector.
			submitters = 8
			// The dispatcher's pacing of event frames (flushEvery), less a margin.
			pacing = 40 * time.Millisecond
		)
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)

		// Every fifth job is cancelled right after it is queued: the two changes
		// mostly fall into one batch, where only the latest state may remain.
		ids := make([]string, n)
		errs := make([]error, n)
		want := make(map[string]string, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for w := range submitters {
			wg.Go(func() {
				for i := w; i < n; i += submitters {
					sub, err := s.d.Submit(context.Background(), &wire.Submit{Repo: "/r", Commit: commitID(i + 1), Branch: "main"})
					state := wire.StateQueued
					if err == nil && i%5 == 0 {
						err, state = s.d.Stop(context.Background(), sub.JobID), wire.StatusCancelled
					}
					ids[i], errs[i] = sub.JobID, err
					mu.Lock()
					want[sub.JobID] = state
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}

		latest := map[string]wire.State{}
		st.until(t, "the latest state of every job", func() bool {
			clear(latest)
			for _, ev := range st.events {
				if ev.Kind == wire.EventJob {
					latest[ev.Job.ID] = ev.Job.State
				}
			}
			for id, state := range want {
				if latest[id] != wire.State(state) {
					return false
				}
			}
			return true
		})
		elapsed := time.Since(start)
		st.mu.Lock()
		var batches, jobEvents int
		for _, b := range st.batches {
			seen := map[string]bool{}
			for _, ev := range b.Events {
				if ev.Kind != wire.EventJob {
					continue
				}
				if seen[ev.Job.ID] {
					t.Errorf("job %s appears twice in one batch: not coalesced", ev.Job.ID)
				}
				seen[ev.Job.ID] = true
				jobEvents++
			}
			if len(seen) > 0 {
				batches++
			}
			if b.Dropped != 0 {
				t.Errorf("a batch reports %d dropped events", b.Dropped)
			}
		}
		st.mu.Unlock()
		t.Logf("%d job changes in %v arrived as %d events in %d batches", n+n/5, elapsed.Round(time.Millisecond), jobEvents, batches)
		if len(latest) != n {
			t.Errorf("events name %d jobs, want %d", len(latest), n)
		}
		// Frames are paced: no more than one per pacing interval (plus the
		// frames a big batch is split into). The bound scales with the time the
		// burst took: a fixed count (it was under n/5) fails a busy machine whose
		// submissions span more than n/5 intervals, however well paced.
		if limit := int(elapsed/pacing) + 4; batches > limit {
			t.Errorf("%d jobs arrived in %d batches over %v: bursts are not coalesced (want at most %d)", n, batches, elapsed, limit)
		}
		if jobEvents >= n+n/5 {
			t.Errorf("%d changes arrived as %d events: no job's changes were coalesced", n+n/5, jobEvents)
		}
	}
}

// After a retry, the snapshot still lists each job once.
func TestSnapshotListsRetriedJobOnce(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	_, st := subscribe(t, c)
	startRunner(t, s, "r1", passAll)
	id := s.submit(t, 1, "main")
	st.wait(t, "attempt 1 passed", 0, jobIs(id, wire.StatusPassed))
	m := st.mark()
	if _, err := c.Retry(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	st.wait(t, "attempt 2 passed", m, func(ev wire.Event) bool { return jobIs(id, wire.StatusPassed)(ev) && ev.Job.Attempt == 2 })
	snap, _ := subscribe(t, newClient(t, s, transports[0]))
	n := 0
	for _, j := range snap.Jobs {
		if j.ID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the snapshot lists the retried job %d times, want once: %+v", n, snap.Jobs)
	}
}

// Jobs cancelled while queued no longer count in the queue positions the snapshot
// shows, and a cancelled job that is retried is queued once.
func TestSnapshotQueueAfterStop(t *testing.T) {
	t.Parallel()
	s := startDispatcher(t, serverOpts{})
	c := newClient(t, s, transports[0])
	subscribe(t, c)
	ctx := ctxT(t)
	a := s.submit(t, 1, "main")
	b := s.submit(t, 2, "main")
	if err := c.Stop(ctx, a); err != nil {
		t.Fatal(err)
	}
	snap, _ := subscribe(t, newClient(t, s, transports[0]))
	for _, j := range snap.Jobs {
		if j.ID == b && j.Waiting != "1st in queue; no runner connected" {
			t.Errorf("the only queued job shows as %q, want %q", j.Waiting, "1st in queue; no runner connected")
		}
	}
	if _, err := c.Retry(ctx, a); err != nil {
		t.Fatalf("retry of a cancelled job: %v", err)
	}
	snap, _ = subscribe(t, newClient(t, s, transports[0]))
	var queued []string
	for _, j := range snap.Jobs {
		if j.State == wire.StateQueued {
			queued = append(queued, j.ID+" ("+j.Waiting+")")
		}
	}
	want := []string{b + " (1st in queue; no runner connected)", a + " (2nd in queue; no runner connected)"}
	if !slices.Equal(queued, want) {
		t.Errorf("queued jobs in the snapshot: %v, want %v", queued, want)
	}
}

// A console subscribes again to a dispatcher restarted on the same address with the
// same data directory, and finds the history from before the restart.
func TestResubscribeAfterRestart(t *testing.T) {
	t.Parallel()
	s1 := startDispatcher(t, serverOpts{})
	c := newClient(t, s1, transports[0])
	snap1, st := subscribe(t, c)
	r1 := startRunner(t, s1, "r1", passAll)
	var ids []string
	for i := range 3 {
		id := s1.submit(t, i+1, "main")
		ids = append(ids, id)
		st.wait(t, "job "+id+" passed", 0, jobIs(id, wire.StatusPassed))
	}
	s1.shutdown(t)
	st.waitClosed(t)
	select { // the runner lost its dispatcher too
	case <-r1.served:
	case <-time.After(waitTime):
		t.Fatal("the runner's connection outlived the dispatcher")
	}
	if _, err := c.Job(ctxT(t), ids[0]); !errors.Is(err, console.ErrNotConnected) {
		t.Errorf("request while the dispatcher is down: %v, want ErrNotConnected", err)
	}

	s2 := startDispatcher(t, serverOpts{addr: s1.addr, dataDir: s1.dataDir, resultsDir: s1.resultsDir})
	snap2, st2 := subscribe(t, c)
	if !snap2.StartedAt.After(snap1.StartedAt) || snap2.Address != s1.addr {
		t.Errorf("snapshot after the restart: started %v (before: %v), address %q", snap2.StartedAt, snap1.StartedAt, snap2.Address)
	}
	if len(snap2.Runners) != 0 {
		t.Errorf("runners after the restart: %+v, want none", snap2.Runners)
	}
	// The recent finished jobs, newest first.
	var got []string
	for _, j := range snap2.Jobs {
		if j.State != wire.StatusPassed || j.Attempt != 1 || j.Runner != "r1" || j.FinishedAt.IsZero() {
			t.Errorf("job after the restart: %+v, want passed on r1", j)
		}
		got = append(got, j.ID)
	}
	if want := []string{ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
		t.Errorf("snapshot jobs after the restart: %v, want %v", got, want)
	}
	// And the new connection works: queries and events.
	if j, err := c.Job(ctxT(t), ids[1]); err != nil || j.State != wire.StatusPassed || len(j.Attempts) != 1 {
		t.Errorf("job.get after the restart: %+v %v", j, err)
	}
	id := s2.submit(t, 9, "main")
	st2.wait(t, "a job submitted after the restart", 0, jobIs(id, wire.StateQueued))
}
