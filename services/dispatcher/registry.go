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

// register adds a runner to the registry, replacing an earlier connection of the
// same name, and settles the jobs it says it holds: its current attempts go on
// (adopted, if nobody knows them), stale ones are cancelled in the welcome, and
// what it held before and does not report is lost.
func (d *Dispatcher) register(c *peer.Conn, h *wire.Hello, w *wire.Welcome) *runner {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	r := &runner{
		name: h.Name, session: w.SessionID, labels: h.Labels, slots: h.Slots,
		conn: c, jobs: make(map[string]*job), draining: h.Draining,
		remote: c.RemoteAddr().String(), since: now,
	}
	old := d.runners[h.Name]
	for _, hj := range h.Jobs {
		j := d.lookupLocked(hj.JobID)
		switch {
		case j == nil:
			// Neither memory nor the store knows it (a store that was moved
			// away): adopt it, so that its result counts.
			j = &job{Job: Job{ID: hj.JobID, Repo: hj.Repo, Commit: hj.Commit, Branch: hj.Branch, Attempt: hj.Attempt}}
			d.adoptLocked(j, r, now) // a new job is always adopted
			d.log.Info("job adopted from reconnecting runner", "job", j.ID, "attempt", j.Attempt, "runner", h.Name)
		case j.Attempt == hj.Attempt && j.State.Active() && j.State != wire.StateQueued && j.Runner == h.Name:
			// Same runner back within the heartbeat window, or after a restart
			// within the reclaim window: the job goes on.
			d.reclaimLocked(j, r) // allowed from assigned and running
		case j.Attempt == hj.Attempt && !j.State.Active() && j.Result != nil:
			// Already recorded; the runner missed the acknowledgement and will resend.
		default:
			w.Cancel = append(w.Cancel, j.ID)
		}
	}
	// Orphans from before a restart that this runner held and does not report
	// are lost now, not at the end of the reclaim window.
	for id, j := range d.orphans {
		if j.Runner == h.Name && r.jobs[id] != j {
			d.runnerLostLocked(j, fmt.Sprintf("runner %s came back after the dispatcher's restart without attempt %d", h.Name, j.Attempt))
		}
	}
	if old != nil && !old.lost {
		d.log.Warn("runner reconnected; replacing its old connection", "runner", h.Name)
		for id, j := range old.jobs {
			// Whatever the new registration did not take back (not held, or held
			// at another attempt) goes back to the queue.
			if r.jobs[id] != j {
				d.runnerLostLocked(j, fmt.Sprintf("runner %s reconnected without this attempt", h.Name))
			}
		}
		// The held jobs now belong to the new registration; a lease still waiting
		// on the old connection must find nothing to re-queue.
		clear(old.jobs)
		old.lost = true
		old.conn.Close()
	}
	if old != nil {
		r.done = old.done
	}
	d.saveRunnerLocked(r, "")
	d.emitRunnerLocked(r)
	d.runners[h.Name] = r
	d.log.Info("runner registered", "runner", h.Name, "slots", h.Slots, "labels", h.Labels,
		"held", len(h.Jobs), "remote", c.RemoteAddr())
	d.kick()
	return r
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
