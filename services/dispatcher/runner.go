package dispatcher

import (
	"context"
	"encoding/json"
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

// admit registers a client that passed the handshake.
func (d *Dispatcher) admit(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
	switch h.Role {
	case wire.RoleObserver:
		d.log.Info("observer connected", "name", h.Name, "remote", c.RemoteAddr())
		return &observerSession{d: d, name: h.Name}, nil
	case wire.RoleConsole:
		d.log.Info("console connected", "name", h.Name, "remote", c.RemoteAddr())
		return &consoleSession{d: d, name: h.Name, conn: c}, nil
	case wire.RoleRunner:
	default:
		return nil, wire.Errorf(wire.CodeInvalidParams, "role %q is not served by this dispatcher yet", h.Role)
	}

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
	return &runnerSession{d: d, r: r}, nil
}

// runnerSession handles one runner connection.
type runnerSession struct {
	d *Dispatcher
	r *runner
}

func (s *runnerSession) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case wire.MethodJobOutput:
		var o wire.Output
		if err := wire.Decode(method, params, &o); err != nil {
			return nil, err
		}
		t, err := s.d.output(s.r, &o)
		if err != nil {
			return nil, err
		}
		return s.d.later(t, "output of job "+o.JobID, nil), nil
	case wire.MethodJobResult:
		var res wire.Result
		if err := wire.Decode(method, params, &res); err != nil {
			return nil, err
		}
		t, err := s.d.result(s.r, &res)
		if err != nil {
			return nil, err
		}
		return s.d.later(t, "result of job "+res.JobID, nil), nil
	case wire.MethodRunnerDrain:
		s.d.mu.Lock()
		s.r.draining = true
		s.d.emitRunnerLocked(s.r)
		s.d.mu.Unlock()
		s.d.log.Info("runner draining", "runner", s.r.name)
		return nil, nil
	}
	return nil, wire.Errorf(wire.CodeMethodNotFound, "method %q is not available to a runner", method)
}

// Closed re-queues the runner's jobs: a closed connection is a lost runner at once.
func (s *runnerSession) Closed(err error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.r.lost { // replaced by a newer connection of the same runner
		return
	}
	if d.closing {
		// The dispatcher is stopping, not the runner: it keeps its jobs and
		// reports them to the next dispatcher, so nothing is retried or failed.
		s.r.lost, s.r.lastErr = true, err
		return
	}
	s.r.lost, s.r.lastErr = true, err
	d.saveRunnerLocked(s.r, err.Error())
	d.log.Warn("runner lost", "runner", s.r.name, "reason", err, "jobs", len(s.r.jobs))
	for _, j := range s.r.jobs {
		d.runnerLostLocked(j, fmt.Sprintf("runner %s lost: %v", s.r.name, err))
	}
	clear(s.r.jobs)
	d.emitRunnerLocked(s.r)
	d.kick()
}

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

// observerSession handles one observer connection.
type observerSession struct {
	d    *Dispatcher
	name string
}

func (s *observerSession) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	if method == wire.MethodObserverPosition {
		var q wire.PositionQuery
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		branches, known, err := s.d.st.Position(ctx, q.Repo)
		if err != nil {
			return nil, wire.Errorf(wire.CodeInternal, "%s: %v", method, err)
		}
		return wire.Position{Known: known, Branches: branches}, nil
	}
	if method != wire.MethodCommitSubmit {
		return nil, wire.Errorf(wire.CodeMethodNotFound, "method %q is not available to an observer", method)
	}
	var sub wire.Submit
	if err := wire.Decode(method, params, &sub); err != nil {
		return nil, err
	}
	got, t, err := s.d.submit(&sub)
	if err != nil {
		return nil, err
	}
	return s.d.later(t, "job "+got.JobID, got), nil
}

func (s *observerSession) Closed(err error) {
	s.d.log.Info("observer disconnected", "name", s.name, "reason", err)
}

// Runners lists registered runners' names with whether each is live.
func (d *Dispatcher) Runners() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool, len(d.runners))
	for n, r := range d.runners {
		out[n] = !r.lost
	}
	return out
}

// saveRunnerLocked records what the store keeps of a runner (not waited for: a
// runner's record is for people, not for correctness).
func (d *Dispatcher) saveRunnerLocked(r *runner, lastErr string) {
	d.st.Apply(store.PutRunner{Runner: store.Runner{Name: r.name, Labels: r.labels, Slots: r.slots,
		FirstSeen: r.since, LastSeen: time.Now(), Done: r.done, LastError: lastErr}})
}
