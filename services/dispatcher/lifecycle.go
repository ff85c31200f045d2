package dispatcher

import (
	"fmt"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// This file is a job's state machine and the only writer of its state: every
// change of j.State, and of the attempt, runner and timestamps that go with it,
// is one of the functions below, each named after its event and each checking
// the transition against the table. The rest of the package reads a job's state
// and calls these.
//
// Every function here is called with d.mu held.

// event is what moves a job from one state to another.
type event string

const (
	evSubmit       event = "submit"        // an observer's or a person's commit.submit
	evLease        event = "lease"         // the scheduler offers the next attempt to a runner
	evStart        event = "start"         // the runner accepted the lease, or its output came first
	evReclaim      event = "reclaim"       // its runner reported the attempt after a reconnect or a restart
	evLeaseRefused event = "lease refused" // the runner refused the lease or did not accept it in time
	evInfra        event = "infra retry"   // the runner reported an infrastructure error, not a verdict
	evRunnerLost   event = "runner lost"   // its runner's connection closed or fell silent, or came back without it
	evOrphanLost   event = "orphan lost"   // not reported within ReclaimWindow of a restart
	evExhausted    event = "attempts exhausted"
	evStopped      event = "stopped" // an attempt ended without a verdict after a cancel was asked
	evFinish       event = "finish"  // the runner's result for the current attempt
	evCancel       event = "cancel"
	evRetry        event = "retry" // a person asked for a new attempt of a finished job
	// evRerun: the runner's result failed, and the commit's retry_failed asks
	// for another attempt; the failed one stays in the history.
	evRerun event = "rerun"
)

// stateNew is the state of a job before its first event.
const stateNew State = ""

type transition struct {
	from State
	ev   event
	to   State
}

// transitions is the job state machine: every change of state the dispatcher
// makes is a row here. A row whose from and to are the same changes what goes
// with the state (the attempt's runner, a cancel asked for) but not the state.
// Attempts exhausted and stopped take the place of the four events that end an
// attempt without a verdict (lease refused, infra retry, runner lost, orphan
// lost) when MaxAttempts such attempts in a row are spent, or a cancel was asked.
//
// A draining runner or a stopping dispatcher changes no job's state: the runner
// finishes what it holds and gets no new lease; runners keep their jobs for the
// next dispatcher. Those appear in no row because they are no transition.
var transitions = func() []transition {
	var ts []transition
	add := func(ev event, to State, froms ...State) {
		for _, f := range froms {
			ts = append(ts, transition{f, ev, to})
		}
	}
	const (
		queued, assigned, running = wire.StateQueued, wire.StateAssigned, wire.StateRunning
		passed, failed, errored   = wire.StatusPassed, wire.StatusFailed, wire.StatusError
		cancelled                 = wire.StatusCancelled
	)
	add(evSubmit, queued, stateNew)
	add(evLease, assigned, queued)
	add(evStart, running, assigned)
	add(evReclaim, running, assigned, running)
	add(evLeaseRefused, queued, assigned)
	add(evInfra, queued, assigned, running)
	add(evRunnerLost, queued, assigned, running)
	add(evOrphanLost, queued, assigned, running)
	add(evExhausted, errored, assigned, running)
	add(evStopped, cancelled, assigned, running)
	for _, to := range []State{passed, failed, errored, cancelled} {
		add(evFinish, to, assigned, running)
	}
	add(evCancel, cancelled, queued)
	add(evCancel, assigned, assigned) // the runner is asked to stop; its result ends the job
	add(evCancel, running, running)
	add(evRetry, queued, passed, failed, errored, cancelled)
	add(evRerun, queued, assigned, running)
	return ts
}()

var allowed = func() map[transition]bool {
	m := make(map[transition]bool, len(transitions))
	for _, t := range transitions {
		m[t] = true
	}
	return m
}()

// move is the one assignment of a job's state, once the table allows it.
func move(j *job, ev event, to State) error {
	if !allowed[transition{j.State, ev, to}] {
		return fmt.Errorf("job %s: %s to %s: %w (it is %q)", j.ID, ev, to, errTransition, j.State)
	}
	j.State = to
	return nil
}

// submitLocked queues a new job behind everything and returns its ticket.
func (d *Dispatcher) submitLocked(j *job, ops ...store.Op) (*store.Ticket, error) {
	if err := move(j, evSubmit, wire.StateQueued); err != nil {
		return nil, err
	}
	d.jobs[j.ID] = j
	d.active[j.key()] = j
	d.pushBackLocked(j)
	return d.saveLocked(j, ops...), nil
}

// leaseLocked makes the next attempt of a queued job, on runner r; the lease
// (schedule.go) then offers it once the returned ticket is stored.
func (d *Dispatcher) leaseLocked(j *job, r *runner) (*store.Ticket, error) {
	if err := move(j, evLease, wire.StateAssigned); err != nil {
		return nil, err
	}
	rerun := j.rerunDue()
	j.Attempt++
	j.Runner, j.RunnerID = r.name, r.identity
	j.logBytes, j.logStored, j.extents, j.headEnd, j.headDone = 0, 0, nil, 0, false
	j.Result, j.tests = nil, nil // a re-run's job showed the failed attempt's result while queued
	d.dropOutputLocked(j)
	j.outOK = d.results != nil // kept for the result file
	j.Attempts = append(j.Attempts, Attempt{N: j.Attempt, Runner: r.name, Assigned: time.Now(), Rerun: rerun})
	r.jobs[j.ID] = j
	return d.saveAttemptLocked(j), nil
}

// startLocked marks an assigned job running, on whichever comes first: the
// runner's acceptance or its first output. A job already running is refused, and
// stays as it is.
func (d *Dispatcher) startLocked(j *job) error {
	if err := move(j, evStart, wire.StateRunning); err != nil {
		return err
	}
	d.startedLocked(j)
	return nil
}

// startedLocked records the start of a job that has just become running.
func (d *Dispatcher) startedLocked(j *job) {
	j.StartedAt = time.Now()
	d.saveLocked(j)
	d.log.Info("job started", "job", j.ID, "attempt", j.Attempt, "runner", j.Runner, "commit", short(j.Commit))
}

// reclaimLocked gives the current attempt back to runner r, which reported it
// after a reconnect, or after the dispatcher's restart.
func (d *Dispatcher) reclaimLocked(j *job, r *runner) error {
	wasAssigned := j.State == wire.StateAssigned
	if err := move(j, evReclaim, wire.StateRunning); err != nil {
		return err
	}
	r.jobs[j.ID] = j
	if d.orphans[j.ID] == j {
		delete(d.orphans, j.ID)
		d.log.Info("job reclaimed by its runner after a restart", "job", j.ID, "attempt", j.Attempt, "runner", r.name)
	}
	if wasAssigned { // this is its start
		d.startedLocked(j)
	}
	return nil
}

// leaseRefusedLocked, retryInfraLocked, runnerLostLocked and orphanLostLocked end
// j's current attempt without a verdict: see giveBackLocked.
func (d *Dispatcher) leaseRefusedLocked(j *job, reason string) error {
	return d.giveBackLocked(j, evLeaseRefused, outcomeRefused, reason)
}

func (d *Dispatcher) retryInfraLocked(j *job, reason string) error {
	return d.giveBackLocked(j, evInfra, outcomeInfra, reason)
}

func (d *Dispatcher) runnerLostLocked(j *job, reason string) error {
	return d.giveBackLocked(j, evRunnerLost, outcomeLost, reason)
}

func (d *Dispatcher) orphanLostLocked(j *job, reason string) error {
	return d.giveBackLocked(j, evOrphanLost, outcomeLost, reason)
}

// giveBackLocked ends j's current attempt because of an infrastructure failure
// (ev) and queues it again at the front, or ends it as error once MaxAttempts
// attempts in a row have failed so, or as cancelled if a cancel was asked.
func (d *Dispatcher) giveBackLocked(j *job, ev event, outcome, reason string) error {
	if !allowed[transition{j.State, ev, wire.StateQueued}] {
		return move(j, ev, wire.StateQueued) // the refusal
	}
	now := time.Now()
	j.endAttempt(now, outcome, reason)
	j.tests = nil
	if r := d.runners[j.Runner]; r != nil {
		delete(r.jobs, j.ID)
		d.emitRunnerLocked(r)
	}
	delete(d.orphans, j.ID)
	if n := j.infraStreak(); n >= d.cfg.MaxAttempts || j.stopping {
		if j.stopping {
			_ = move(j, evStopped, wire.StatusCancelled) // allowed from every state giveBack allows
			j.Reason = "cancelled: " + reason
		} else {
			_ = move(j, evExhausted, wire.StatusError)
			j.Reason = fmt.Sprintf("gave up after %d attempts: %s", n, reason)
		}
		j.FinishedAt = now
		d.saveAttemptLocked(j)
		d.deactivateLocked(j)
		d.finishedLocked(j)
		d.log.Error("job failed to run", "job", j.ID, "commit", short(j.Commit), "reason", j.Reason)
		return nil
	}
	_ = move(j, ev, wire.StateQueued)
	j.Runner, j.RunnerID = "", ""
	d.dropOutputLocked(j) // read back from the store if it ends without another attempt
	d.pushFrontLocked(j)
	d.saveAttemptLocked(j)
	d.log.Warn("job re-queued", "job", j.ID, "attempt", j.Attempt, "reason", reason)
	d.kick()
	return nil
}

// finishLocked records the result of j's current attempt on runner r, with
// its per-test records; status is the result's, or cancelled for an
// infrastructure error after a cancel.
func (d *Dispatcher) finishLocked(j *job, r *runner, res *wire.Result, status string, tests []store.TestRecord) error {
	if err := move(j, evFinish, State(status)); err != nil {
		return err
	}
	now := time.Now()
	if j.StartedAt.IsZero() {
		j.StartedAt = res.StartedAt
	}
	rec := resultRecord(res)
	rec.TestsTotal = len(tests)
	j.Reason, j.FinishedAt, j.Result, j.tests = res.Reason, now, &rec, nil
	j.endAttempt(now, status, res.Reason)
	j.found = d.putResultLocked(j, &rec, tests)
	delete(r.jobs, j.ID)
	d.deactivateLocked(j)
	d.finishedLocked(j)
	return nil
}

// rerunLocked records a failed result of j's current attempt and queues the
// job again at once, at the front, for a re-run the commit's retry_failed
// asks for. It does not count against MaxAttempts: a failed attempt ends the
// streak infraStreak counts. The job shows the failed attempt's result until
// the re-run is leased, and a repeat of that result is acknowledged.
func (d *Dispatcher) rerunLocked(j *job, r *runner, res *wire.Result, tests []store.TestRecord) error {
	if err := move(j, evRerun, wire.StateQueued); err != nil {
		return err
	}
	if j.StartedAt.IsZero() {
		j.StartedAt = res.StartedAt
	}
	rec := resultRecord(res)
	rec.TestsTotal = len(tests)
	n := j.failedSince() + 1
	j.endAttempt(time.Now(), wire.StatusFailed, fmt.Sprintf("failed; re-run %d of %d (retry_failed)", n, res.RetryFailed))
	j.Result, j.Runner, j.tests = &rec, "", nil
	d.putResultLocked(j, &rec, tests)
	delete(r.jobs, j.ID)
	d.emitRunnerLocked(r)
	d.dropOutputLocked(j)
	d.pushFrontLocked(j)
	d.log.Info("job re-run after a failed attempt", "job", j.ID, "attempt", j.Attempt, "rerun", n, "of", res.RetryFailed)
	d.kick()
	return nil
}

// putResultLocked stores the current attempt's result with its records and
// has what the store finds out about the commit's flaky tests applied once
// stored; it returns that finding for the result file.
func (d *Dispatcher) putResultLocked(j *job, rec *store.Result, tests []store.TestRecord) *store.Flakiness {
	found := new(store.Flakiness)
	t := d.saveAttemptLocked(j, store.PutResult{JobID: j.ID, Repo: j.Repo, Commit: j.Commit, Result: *rec, Tests: tests, Found: found})
	d.afterStored(t, func() { d.flakyFound(j, rec, found) })
	return found
}

// cancelLocked ends a queued job at once and returns the ticket to wait for; an
// assigned or running one is only marked (nil ticket): the caller asks its runner
// to stop, and the runner's result ends it.
func (d *Dispatcher) cancelLocked(j *job) (*store.Ticket, error) {
	if j.State != wire.StateQueued {
		if err := move(j, evCancel, j.State); err != nil {
			return nil, err
		}
		j.stopping = true
		return nil, nil
	}
	_ = move(j, evCancel, wire.StatusCancelled)
	d.queue.remove(j.ID)
	j.Reason, j.FinishedAt = "cancelled before it ran", time.Now()
	d.deactivateLocked(j)
	d.finishedLocked(j)
	return d.saveLocked(j), nil
}

// retryLocked queues a finished job again for a new attempt; its earlier
// attempts stay in its history, and a fresh count of attempts begins.
func (d *Dispatcher) retryLocked(j *job) (*store.Ticket, error) {
	if err := move(j, evRetry, wire.StateQueued); err != nil {
		return nil, err
	}
	j.Reason, j.Result, j.Runner, j.RunnerID = "", nil, "", ""
	j.FinishedAt, j.StartedAt = time.Time{}, time.Time{}
	j.RetryBase, j.FileWritten, j.stopping, j.tests = j.Attempt, false, false, nil
	d.active[j.key()] = j
	d.done.remove(j.ID) // it is finished again later, and listed once
	d.pushBackLocked(j)
	return d.saveLocked(j), nil
}

// deactivateLocked ends j's claim on its repository and commit, unless another job
// holds it (an adopted job and a resubmission of the same commit can coexist).
func (d *Dispatcher) deactivateLocked(j *job) {
	if d.active[j.key()] == j {
		delete(d.active, j.key())
	}
}

// finishedLocked remembers that j has ended, has its result file written once the
// store has it, and forgets the oldest finished jobs beyond KeepFinished, so that
// memory stays bounded however long the dispatcher runs (the store keeps them).
func (d *Dispatcher) finishedLocked(j *job) {
	f := pendingFile{job: j.copy(), saved: j.saved, found: j.found}
	j.found = nil
	// The store would add a note of output lost at the end; such a file is read
	// from it.
	if j.outOK && (j.Result == nil || j.Result.Attempt != j.Attempt || j.Result.OutputBytes <= int64(len(j.out))) {
		f.out, f.haveOut = string(j.out), true
	}
	d.dropOutputLocked(j)
	d.results.queue(f)
	d.done.pushBack(j.ID)
	for d.done.len() > d.cfg.KeepFinished {
		id := d.done.popFront()
		if old, ok := d.jobs[id]; ok && !old.State.Active() {
			delete(d.jobs, id)
		}
	}
}
