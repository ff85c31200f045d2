package dispatcher

import (
	"fmt"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// runner is the dispatcher's view of one registered runner.
type runner struct {
	name     string
	identity string    // the identity it authenticated with
	enrolled time.Time // when that identity enrolled
	session  string
	labels   []string
	slots    int
	conn     *peer.Conn
	jobs     map[string]*job // current attempts it holds (assigned or running)
	draining bool
	lost     bool
	lastErr  error
	done     int
	remote   string
	since    time.Time // registered
	lastJob  time.Time // last assignment, to share work among equally free runners
}

func (r *runner) free() int {
	if r.lost || r.draining {
		return 0
	}
	return r.slots - len(r.jobs)
}

// saveRunnerLocked records what the store keeps of a runner (not waited for: a
// runner's record is for people, not for correctness).
func (d *Dispatcher) saveRunnerLocked(r *runner, lastErr string) {
	d.st.Apply(store.PutRunner{Runner: store.Runner{Name: r.name, Labels: r.labels, Slots: r.slots,
		FirstSeen: r.since, LastSeen: time.Now(), Done: r.done, LastError: lastErr}})
}

// register authenticates a runner's identity and adds the runner to the
// registry, replacing an earlier connection of the same identity, and settles
// the jobs it says it holds: the current attempts leased to this identity go on,
// any other (unknown, foreign or stale) is cancelled in the welcome, never
// adopted, and what it held before and does not report is lost.
func (d *Dispatcher) register(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (*runner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	remote := c.RemoteAddr().String()
	id, prev, err := d.authenticateLocked(h, remote)
	if err != nil {
		return nil, err
	}
	old := d.runners[h.Name]
	if o := d.runners[prev]; prev != h.Name && o != nil && o.identity == id.ID {
		// Renamed: its connection under the old name is the one it replaces.
		old = o
		delete(d.runners, prev)
	}
	if old != nil && old.identity != id.ID && !old.lost {
		// Never another identity's live connection (the name check above
		// leaves none, but a verdict depends on it).
		return nil, wire.Errorf(wire.CodeNameTaken, "runner name %q is in use by identity %s: revoke the old identity first", h.Name, old.identity)
	}
	now := time.Now()
	r := &runner{
		name: h.Name, identity: id.ID, enrolled: id.EnrolledAt, session: w.SessionID, labels: h.Labels, slots: h.Slots,
		conn: c, jobs: make(map[string]*job), draining: h.Draining,
		remote: remote, since: now,
	}
	for _, hj := range h.Jobs {
		j := d.lookupLocked(hj.JobID)
		switch {
		case j == nil:
			d.log.Warn("held job refused: the dispatcher never issued it; cancelled", "job", hj.JobID, "attempt", hj.Attempt,
				"runner", h.Name, "identity", id.ID, "remote", remote)
			w.Cancel = append(w.Cancel, hj.JobID)
			continue
		case j.RunnerID != id.ID:
			d.log.Warn("held job refused: not leased to this identity; cancelled", "job", j.ID, "attempt", hj.Attempt,
				"runner", h.Name, "identity", id.ID, "lease", j.RunnerID, "remote", remote)
		case j.Attempt == hj.Attempt && j.State.Active() && j.State != wire.StateQueued:
			// Same runner back within the heartbeat window, or after a restart
			// within the reclaim window: the job goes on, under the name it
			// uses now.
			j.Runner = h.Name
			d.reclaimLocked(j, r) // allowed from assigned and running
			continue
		case j.Attempt == hj.Attempt && !j.State.Active() && j.Result != nil:
			// Already recorded; the runner missed the acknowledgement and will resend.
			continue
		}
		w.Cancel = append(w.Cancel, j.ID)
	}
	// Orphans from before a restart that this identity held and does not report
	// are lost now, not at the end of the reclaim window.
	for jid, j := range d.orphans {
		if j.RunnerID == id.ID && r.jobs[jid] != j {
			d.runnerLostLocked(j, fmt.Sprintf("runner %s came back after the dispatcher's restart without attempt %d", h.Name, j.Attempt))
		}
	}
	if old != nil && !old.lost {
		// The same identity (a name belongs to one): its newer connection wins.
		d.log.Warn("runner reconnected; replacing its old connection", "runner", h.Name, "identity", id.ID)
		for jid, j := range old.jobs {
			// Whatever the new registration did not take back (not held, or held
			// at another attempt) goes back to the queue.
			if r.jobs[jid] != j {
				d.runnerLostLocked(j, fmt.Sprintf("runner %s reconnected without this attempt", h.Name))
			}
		}
		// The held jobs now belong to the new registration; a lease still waiting
		// on the old connection must find nothing to re-queue.
		clear(old.jobs)
		old.lost = true
		old.conn.Close()
	}
	if old != nil && old.identity == id.ID {
		r.done = old.done
	}
	d.saveRunnerLocked(r, "")
	d.emitRunnerLocked(r)
	d.runners[h.Name] = r
	d.log.Info("runner registered", "runner", h.Name, "identity", id.ID, "slots", h.Slots, "labels", h.Labels,
		"held", len(h.Jobs), "remote", remote)
	d.kick()
	return r, nil
}

// gone handles a runner's closed connection: a lost runner at once, whose jobs
// are re-queued, unless the dispatcher is the one stopping.
func (d *Dispatcher) gone(r *runner, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.lost { // replaced by a newer connection of the same runner
		return
	}
	if d.closing {
		// The dispatcher is stopping, not the runner: it keeps its jobs and
		// reports them to the next dispatcher, so nothing is retried or failed.
		r.lost, r.lastErr = true, err
		return
	}
	r.lost, r.lastErr = true, err
	d.saveRunnerLocked(r, err.Error())
	d.log.Warn("runner lost", "runner", r.name, "reason", err, "jobs", len(r.jobs))
	for _, j := range r.jobs {
		d.runnerLostLocked(j, fmt.Sprintf("runner %s lost: %v", r.name, err))
	}
	clear(r.jobs)
	d.emitRunnerLocked(r)
	d.kick()
}

// drainLocked stops giving r jobs; it finishes those it has.
func (d *Dispatcher) drainLocked(r *runner) {
	r.draining = true
	d.emitRunnerLocked(r)
}

// drain stops giving a runner jobs; it finishes those it has.
func (d *Dispatcher) drain(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.runners[name]
	if r == nil || r.lost {
		return wire.Errorf(wire.CodeRefused, "runner %s is not connected", name)
	}
	d.drainLocked(r)
	d.log.Info("runner draining (asked from the console)", "runner", name)
	return nil
}
