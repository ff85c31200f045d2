package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// Limits on what a console is sent.
const (
	snapshotJobs   = 1500      // jobs in a snapshot: the active ones first, then the newest
	snapshotBytes  = 900 << 10 // a snapshot stays well inside a frame
	eventsPerFrame = 400
	outputPerEvent = 8 << 10 // a console shows the tail of live output, not all of it
	pendingMax     = 20000   // events held per console before it is told it fell behind
	flushEvery     = 50 * time.Millisecond
)

// subscriber is one console's event stream: changes are coalesced (the latest
// state of each job and runner wins) and sent at most every flushEvery, so a burst
// of thousands of changes is a handful of frames.
type subscriber struct {
	conn *peer.Conn
	wake chan struct{}

	mu      sync.Mutex
	jobs    map[string]int // index in events of a job's pending event
	runners map[string]int
	events  []wire.Event
	dropped int
}

func (s *subscriber) add(ev wire.Event, key string, index map[string]int) {
	s.mu.Lock()
	if i, ok := index[key]; ok && key != "" {
		s.events[i] = ev
	} else if len(s.events) >= pendingMax {
		s.dropped++
	} else {
		if key != "" {
			index[key] = len(s.events)
		}
		s.events = append(s.events, ev)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() ([]wire.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, dropped := s.events, s.dropped
	s.events, s.dropped = nil, 0
	clear(s.jobs)
	clear(s.runners)
	return evs, dropped
}

// run sends batches until the console's connection or the dispatcher ends.
func (s *subscriber) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.conn.Done():
			return
		case <-s.wake:
		}
		evs, dropped := s.take()
		for len(evs) > 0 || dropped > 0 {
			n := min(len(evs), eventsPerFrame)
			batch := wire.Events{Events: evs[:n], Dropped: dropped}
			if err := s.conn.Notify(ctx, wire.MethodConsoleEvents, &batch); err != nil {
				return
			}
			evs, dropped = evs[n:], 0
		}
		// Pacing, not synchronisation: changes arriving meanwhile wait here to be
		// sent together.
		select {
		case <-ctx.Done():
			return
		case <-time.After(flushEvery):
		}
	}
}

// subscribe registers a console and returns the state the events follow from.
// Both happen under the lock, so no change falls between them.
func (d *Dispatcher) subscribe(c *peer.Conn) (*wire.Snapshot, *subscriber) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &subscriber{conn: c, wake: make(chan struct{}, 1), jobs: make(map[string]int), runners: make(map[string]int)}
	if d.subs == nil {
		d.subs = make(map[*subscriber]struct{})
	}
	d.subs[s] = struct{}{}
	return d.snapshotLocked(), s
}

func (d *Dispatcher) unsubscribe(s *subscriber) {
	d.mu.Lock()
	delete(d.subs, s)
	d.mu.Unlock()
}

func (d *Dispatcher) snapshotLocked() *wire.Snapshot {
	snap := &wire.Snapshot{Server: "eventide " + d.cfg.Version, Address: d.listenAt, StartedAt: d.started}
	for _, r := range d.runners {
		snap.Runners = append(snap.Runners, d.runnerInfoLocked(r))
	}
	// The queue in order (with positions), then running jobs, then the newest
	// finished ones, within the frame's room.
	size := 0
	addJob := func(j *job, waiting string) bool {
		in := d.info(&j.Job, false)
		in.Waiting = waiting
		b, _ := json.Marshal(in)
		if len(snap.Jobs) >= snapshotJobs || size+len(b) > snapshotBytes {
			return false
		}
		size += len(b)
		snap.Jobs = append(snap.Jobs, in)
		return true
	}
	why := d.waitingLocked()
	for i, id := range d.queue.ids {
		if j := d.jobs[id]; j != nil && j.State == wire.StateQueued {
			if !addJob(j, fmt.Sprintf("%s in queue; %s", ordinal(i+1), why)) {
				return snap
			}
		}
	}
	for _, j := range d.jobs {
		if j.State == wire.StateAssigned || j.State == wire.StateRunning {
			if !addJob(j, "") {
				return snap
			}
		}
	}
	for i := len(d.done.ids) - 1; i >= 0; i-- {
		if j := d.jobs[d.done.ids[i]]; j != nil && !j.State.Active() {
			if !addJob(j, "") {
				return snap
			}
		}
	}
	return snap
}

// waitingLocked says why queued jobs are not running.
func (d *Dispatcher) waitingLocked() string {
	live, slots, draining := 0, 0, 0
	for _, r := range d.runners {
		switch {
		case r.lost:
		case r.draining:
			draining++
		default:
			live++
			slots += r.slots
		}
	}
	switch {
	case live == 0 && draining > 0:
		return "every runner is draining"
	case live == 0:
		return "no runner connected"
	default:
		return fmt.Sprintf("all %d slots busy", slots)
	}
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

func (d *Dispatcher) runnerInfoLocked(r *runner) wire.RunnerInfo {
	in := wire.RunnerInfo{Name: r.name, Labels: r.labels, Slots: r.slots, Done: r.done, Remote: r.remote,
		Identity: r.identity, Enrolled: r.enrolled}
	if r.conn != nil {
		in.LastSeen = r.conn.LastHeard()
	}
	if in.LastSeen.IsZero() {
		in.LastSeen = r.since
	}
	for id := range r.jobs {
		in.Jobs = append(in.Jobs, id)
	}
	switch {
	case r.lost:
		in.State = wire.RunnerLost
	case r.draining:
		in.State = wire.RunnerDraining
	case len(r.jobs) > 0:
		in.State = wire.RunnerBusy
	default:
		in.State = wire.RunnerIdle
	}
	return in
}

// emitJobLocked tells consoles a job changed.
func (d *Dispatcher) emitJobLocked(j *job) {
	if len(d.subs) == 0 {
		return
	}
	in := d.info(&j.Job, false)
	if j.State == wire.StateQueued {
		in.Waiting = d.waitingLocked()
	}
	ev := wire.Event{Kind: wire.EventJob, Job: &in}
	for s := range d.subs {
		s.add(ev, j.ID, s.jobs)
	}
}

// emitRunnerLocked tells consoles a runner changed.
func (d *Dispatcher) emitRunnerLocked(r *runner) {
	if len(d.subs) == 0 {
		return
	}
	in := d.runnerInfoLocked(r)
	ev := wire.Event{Kind: wire.EventRunner, Runner: &in}
	for s := range d.subs {
		s.add(ev, r.name, s.runners)
	}
}

// emitOutputLocked passes live output on, its tail only when a chunk is large.
func (d *Dispatcher) emitOutputLocked(j *job, off int64, data string) {
	if len(d.subs) == 0 {
		return
	}
	if len(data) > outputPerEvent {
		cut := len(data) - outputPerEvent
		for cut < len(data) && data[cut]&0xc0 == 0x80 { // not inside a UTF-8 sequence
			cut++
		}
		off, data = off+int64(cut), data[cut:]
	}
	ev := wire.Event{Kind: wire.EventOutput, Output: &wire.Output{JobID: j.ID, Attempt: j.Attempt, Offset: off, Data: data}}
	for s := range d.subs {
		s.add(ev, "", nil)
	}
}

// emitBeats refreshes the consoles' view of live runners, whose heartbeats are
// not events of their own.
func (d *Dispatcher) emitBeats() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.subs) == 0 {
		return
	}
	for _, r := range d.runners {
		if !r.lost {
			d.emitRunnerLocked(r)
		}
	}
}

// info is a job as a console sees it.
func (d *Dispatcher) info(j *Job, attempts bool) wire.JobInfo {
	in := wire.JobInfo{ID: j.ID, Repo: j.Repo, Commit: j.Commit, Branch: j.Branch, Author: j.Author,
		Message: j.Message, State: j.State, Attempt: j.Attempt, Runner: j.Runner, Reason: j.Reason,
		QueuedAt: j.QueuedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	if j.Result != nil {
		sum := wireSummary(j.Result.Summary)
		in.Summary, in.ExitCode = &sum, j.Result.ExitCode
		in.CPUMS, in.PeakMemoryBytes = j.Result.CPUMS, j.Result.PeakMemoryBytes
		in.TestsTotal, in.Flaky = j.Result.TestsTotal, flaky(j)
	}
	in.FlakyTests = j.FlakyTests
	if attempts {
		for _, a := range j.Attempts {
			in.Attempts = append(in.Attempts, wire.AttemptInfo{N: a.N, Runner: a.Runner, Assigned: a.Assigned,
				Ended: a.Ended, Outcome: a.Outcome, Reason: a.Reason, LogBytes: a.LogBytes, Rerun: a.Rerun})
		}
	}
	return in
}
