package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// consoleSession serves a console: history queries, and the actions a person
// takes from the dashboard.
type consoleSession struct {
	d        *Dispatcher
	name     string
	conn     *peer.Conn
	owner    string // its credential's id, for the queue quota of its retries
	readOnly bool   // its token allows console-readonly only: watchMethods

	mu  sync.Mutex
	sub *subscriber
}

// watchMethods are those a read-only console may call: they change nothing.
var watchMethods = map[string]bool{
	wire.MethodConsoleSubscribe: true, wire.MethodJobsList: true, wire.MethodJobGet: true, wire.MethodJobLog: true,
	wire.MethodTestsFlaky: true,
}

func (s *consoleSession) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	d := s.d
	if s.readOnly && !watchMethods[method] {
		// Not CodeMethodNotFound, which would close the connection: a
		// person pressed a key the console could not know was not theirs.
		return nil, wire.Errorf(wire.CodeUnauthorized, "this token allows a read-only console: %s is not allowed", method)
	}
	switch method {
	case wire.MethodConsoleSubscribe:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sub != nil {
			return nil, wire.Errorf(wire.CodeRefused, "already subscribed on this connection")
		}
		snap, sub := d.subscribe(s.conn)
		s.sub = sub
		d.wg.Go(func() { sub.run(d.ctx) })
		return snap, nil
	case wire.MethodJobsList:
		var q wire.JobQuery
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		return d.listJobs(ctx, q)
	case wire.MethodJobGet:
		var q wire.JobGet // a superset of the older {job_id}
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		return d.getJob(ctx, q)
	case wire.MethodTestsFlaky:
		var q wire.FlakyQuery
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		return d.flakyTests(ctx, q)
	case wire.MethodJobLog:
		var q wire.LogQuery
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		return d.readLog(ctx, q)
	case wire.MethodJobRetry:
		var id wire.JobID
		if err := wire.Decode(method, params, &id); err != nil {
			return nil, err
		}
		return d.retry(ctx, id.JobID, s.owner)
	case wire.MethodJobStop:
		var id wire.JobID
		if err := wire.Decode(method, params, &id); err != nil {
			return nil, err
		}
		return nil, d.stop(ctx, id.JobID)
	case wire.MethodRunnerStop:
		var n wire.RunnerName
		if err := wire.Decode(method, params, &n); err != nil {
			return nil, err
		}
		return nil, d.drain(n.Name)
	case wire.MethodRunnerRevoke:
		var q wire.RevokeRunner
		if err := wire.Decode(method, params, &q); err != nil {
			return nil, err
		}
		return d.revoke(ctx, q, "console "+s.name+" at "+s.conn.RemoteAddr().String())
	}
	return nil, wire.Errorf(wire.CodeMethodNotFound, "method %q is not available to a console", method)
}

func (s *consoleSession) Closed(err error) {
	s.mu.Lock()
	if s.sub != nil {
		s.d.unsubscribe(s.sub)
	}
	s.mu.Unlock()
	s.d.log.Info("console disconnected", "name", s.name, "reason", err)
}

// listJobs answers a history query from the store, newest first.
func (d *Dispatcher) listJobs(ctx context.Context, q wire.JobQuery) (wire.JobList, error) {
	if err := q.Validate(); err != nil {
		return wire.JobList{}, wire.Errorf(wire.CodeInvalidParams, "%s: %v", wire.MethodJobsList, err)
	}
	jobs, more, err := d.st.Jobs(ctx, storeQuery(q))
	if err != nil {
		return wire.JobList{}, wire.Errorf(wire.CodeInternal, "%s: %v", wire.MethodJobsList, err)
	}
	out := wire.JobList{Jobs: make([]wire.JobInfo, 0, len(jobs)), More: more}
	for i := range jobs {
		out.Jobs = append(out.Jobs, d.info(&jobs[i], false))
	}
	return out, nil
}

// readLog reads part of an attempt's stored output.
func (d *Dispatcher) readLog(ctx context.Context, q wire.LogQuery) (wire.LogChunk, error) {
	if err := q.Validate(); err != nil {
		return wire.LogChunk{}, wire.Errorf(wire.CodeInvalidParams, "%s: %v", wire.MethodJobLog, err)
	}
	j, ok := d.findJob(q.JobID)
	if !ok {
		return wire.LogChunk{}, errNoJob(q.JobID)
	}
	attempt := q.Attempt
	if attempt == 0 {
		attempt = j.Attempt
	}
	limit := q.Limit
	if limit <= 0 || limit > wire.MaxLogRead {
		limit = wire.MaxLogRead
	}
	final := attempt != j.Attempt || !j.State.Active()
	part, err := d.st.Log(ctx, q.JobID, attempt, q.Offset, limit)
	if errors.Is(err, store.ErrNotFound) {
		return wire.LogChunk{}, wire.Errorf(wire.CodeUnknownJob, "job %s has no attempt %d", q.JobID, attempt)
	}
	if err != nil {
		return wire.LogChunk{}, wire.Errorf(wire.CodeInternal, "%s: %v", wire.MethodJobLog, err)
	}
	c := wire.LogChunk{JobID: q.JobID, Attempt: attempt, Offset: q.Offset, Data: part.Data, Next: part.Next,
		Start: part.Start, End: part.End, Final: final}
	if part.Dropped.Len > 0 {
		c.Gap = &wire.LogGap{Offset: part.Dropped.Offset, Length: part.Dropped.Len}
	}
	return c, nil
}

// retry makes a new attempt of a job: a finished one is queued again (its earlier
// attempts stay in its history), counting against owner's quota; a queued or
// running one is left as it is.
func (d *Dispatcher) retry(ctx context.Context, id, owner string) (wire.JobInfo, error) {
	d.mu.Lock()
	j := d.lookupLocked(id)
	if j == nil {
		d.mu.Unlock()
		return wire.JobInfo{}, errNoJob(id)
	}
	if j.State.Active() {
		c := j.copy()
		d.mu.Unlock()
		return wire.JobInfo{}, wire.Errorf(wire.CodeRefused, "job %s is %s already", c.ID, c.State)
	}
	if other, ok := d.active[j.key()]; ok {
		d.mu.Unlock()
		return wire.JobInfo{}, wire.Errorf(wire.CodeRefused, "commit %s is %s as job %s already", short(j.Commit), other.State, other.ID)
	}
	if ok, err := d.cfg.AllowRepos.Allows(j.Repo); !ok {
		// Refused, not invalid (which would close the console's connection):
		// the job came before --allow-repo changed.
		d.mu.Unlock()
		return wire.JobInfo{}, wire.Errorf(wire.CodeRefused, "%s: repository not allowed: %s%s", wire.MethodJobRetry, j.Repo, errSuffix(err))
	}
	if err := d.overQuotaLocked(wire.MethodJobRetry, owner); err != nil {
		d.mu.Unlock()
		return wire.JobInfo{}, err
	}
	j.owner = owner
	t, err := d.retryLocked(j)
	if err != nil { // it is final
		d.mu.Unlock()
		return wire.JobInfo{}, wire.Errorf(wire.CodeInternal, "%v", err)
	}
	info := d.info(&j.Job, false)
	d.log.Info("job retried", "job", j.ID, "after attempt", j.Attempt)
	d.kick()
	d.mu.Unlock()
	return info, d.waitSaved(ctx, t, "retry of job "+id)
}

// stop cancels a job: a queued one ends at once; a running one is cancelled on
// its runner, whose result then ends it.
func (d *Dispatcher) stop(ctx context.Context, id string) error {
	d.mu.Lock()
	j := d.lookupLocked(id)
	if j == nil {
		d.mu.Unlock()
		return errNoJob(id)
	}
	switch t, err := d.cancelLocked(j); {
	case err != nil:
	case t != nil: // it was queued, and has ended
		d.mu.Unlock()
		return d.waitSaved(ctx, t, "cancel of job "+id)
	default: // its runner is asked to stop it
		r := d.runners[j.Runner]
		ref := wire.JobRef{JobID: j.ID, Attempt: j.Attempt, Reason: "cancelled from the console"}
		d.mu.Unlock()
		if r == nil || r.conn == nil {
			return wire.Errorf(wire.CodeInternal, "job %s: its runner %s is not connected; it ends when the runner reports back", id, j.Runner)
		}
		// Asked in the background: the console's request must not wait on a
		// runner (its connection's reads would stall behind it), and the
		// runner's cancelled result is what ends the job.
		conn, name := r.conn, r.name
		d.wg.Go(func() {
			cctx, cancel := context.WithTimeout(d.ctx, d.cfg.LeaseTimeout)
			defer cancel()
			if err := conn.Call(cctx, wire.MethodJobCancel, &ref, nil); err != nil {
				d.log.Warn("cancelling a job on its runner", "job", id, "runner", name, "err", err)
			}
		})
		return nil
	}
	st := j.State
	d.mu.Unlock()
	return wire.Errorf(wire.CodeRefused, "job %s has ended already (%s)", id, st)
}
