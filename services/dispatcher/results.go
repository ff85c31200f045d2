package dispatcher

import (
	"fmt"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// currentLocked returns the job if attempt is its current one, leased to runner
// r's identity (the name is a label: the identity is what was leased).
func (d *Dispatcher) currentLocked(r *runner, id string, attempt int) (*job, error) {
	j := d.lookupLocked(id)
	if j == nil {
		return nil, errNoJob(id)
	}
	if j.Attempt != attempt || j.RunnerID != r.identity || (j.State != wire.StateAssigned && j.State != wire.StateRunning) || r.lost {
		return nil, errStale(id, attempt, j.Attempt)
	}
	return j, nil
}

// recordedLocked returns the job if runner r's result for this attempt is
// recorded, else nil.
func (d *Dispatcher) recordedLocked(r *runner, id string, attempt int) *job {
	j, ok := d.jobs[id]
	if ok && j.Result != nil && j.Result.Attempt == attempt && j.RunnerID == r.identity {
		return j
	}
	return nil
}

// result records how an attempt ended, once: a repeat of the recorded result is
// acknowledged again; anything for an older attempt is refused. The result is
// stored once the returned ticket is, and must be acknowledged only then, so that
// an acknowledged result is never lost.
func (d *Dispatcher) result(r *runner, res *wire.Result) (*store.Ticket, error) {
	d.mu.Lock()
	if j := d.recordedLocked(r, res.JobID, res.Attempt); j != nil {
		t := j.saved
		d.mu.Unlock()
		return t, nil // delivered twice (the first acknowledgement was lost)
	}
	j, err := d.currentLocked(r, res.JobID, res.Attempt)
	if err != nil {
		d.mu.Unlock()
		d.refused("result", r, res.JobID, res.Attempt, err)
		return nil, err
	}
	if res.Infra && res.Status == wire.StatusError && !j.stopping {
		d.retryInfraLocked(j, fmt.Sprintf("runner %s: %s", r.name, res.Reason))
		t := j.saved
		d.mu.Unlock()
		return t, nil
	}
	tests, err := resultTestsLocked(j, res)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	status := res.Status
	if j.stopping && res.Infra {
		status = wire.StatusCancelled // it stopped because it was asked to
	}
	if status == wire.StatusFailed && !j.stopping && j.failedSince() < res.RetryFailed {
		err := d.rerunLocked(j, r, res, tests) // allowed from assigned and running, as finish is
		t := j.saved
		d.mu.Unlock()
		return t, err
	}
	if err := d.finishLocked(j, r, res, status, tests); err != nil { // a validated status is final
		d.mu.Unlock()
		return nil, wire.Errorf(wire.CodeInvalidParams, "%v", err)
	}
	r.done++
	d.emitRunnerLocked(r)
	d.log.Info("job finished", "job", j.ID, "attempt", j.Attempt, "status", status, "runner", r.name,
		"commit", short(j.Commit), "passed", res.Summary.Passed, "failed", res.Summary.Failed, "errors", res.Summary.Errors)
	d.kick()
	t := j.saved
	d.mu.Unlock()
	return t, nil
}

// refused logs a runner's report about an attempt that is not leased to it
// (anything else would be a verdict from someone who did not run the job).
func (d *Dispatcher) refused(what string, r *runner, id string, attempt int, err error) {
	d.log.Warn(what+" refused: not the current attempt of this runner's identity", "job", id, "attempt", attempt,
		"runner", r.name, "identity", r.identity, "remote", r.remote, "err", err)
}
