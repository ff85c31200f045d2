package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// scheduleLoop assigns queued jobs to free slots whenever something changes.
func (d *Dispatcher) scheduleLoop() {
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		for d.queue.len() > 0 && !d.closing {
			r := d.pickRunnerLocked()
			if r == nil {
				break
			}
			j := d.jobs[d.queue.popFront()]
			if j == nil || j.State != wire.StateQueued {
				continue
			}
			saved, err := d.leaseLocked(j, r)
			if err != nil { // it is queued
				continue
			}
			r.lastJob = time.Now()
			a, conn := j.assign(), r.conn
			d.emitRunnerLocked(r)
			d.wg.Go(func() { d.lease(conn, r, a, saved) })
		}
		d.mu.Unlock()
	}
}

// pickRunnerLocked returns the live runner with the most free slots, or nil; among
// equals, the one that waited longest for work, so that work is shared.
func (d *Dispatcher) pickRunnerLocked() *runner {
	var best *runner
	for _, r := range d.runners {
		if r.free() <= 0 {
			continue
		}
		if best == nil || r.free() > best.free() ||
			r.free() == best.free() && (r.lastJob.Before(best.lastJob) || r.lastJob.Equal(best.lastJob) && r.name < best.name) {
			best = r
		}
	}
	return best
}

// lease offers an assignment once it is stored (so that no runner ever holds an
// attempt a restarted dispatcher would hand out again) and waits for the runner to
// accept it in time; a refusal or silence puts the job back at once.
func (d *Dispatcher) lease(conn *peer.Conn, r *runner, a wire.Assign, saved *store.Ticket) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.LeaseTimeout)
	defer cancel()
	err := saved.Wait(ctx)
	if err == nil {
		err = conn.Call(ctx, wire.MethodJobAssign, &a, nil)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.jobs[a.JobID]
	// r.jobs, not the runner's name: a runner that reconnected meanwhile holds the
	// job under its new registration, and this lease no longer speaks for it.
	if j == nil || j.Attempt != a.Attempt || r.jobs[a.JobID] != j || !j.State.Active() {
		return
	}
	if err != nil {
		if d.closing || j.State == wire.StateRunning {
			// Shutting down (the job stays as it is), or output already arrived, so
			// the runner has the job whatever happened to this reply.
			return
		}
		d.leaseRefusedLocked(j, fmt.Sprintf("runner %s did not take the job: %v", r.name, err))
		return
	}
	d.startLocked(j) // refused when output came first and started it
}

// kick wakes the scheduler; callers hold d.mu or not, it never blocks.
func (d *Dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
