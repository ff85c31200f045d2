package dispatcher

import (
	"context"
	"encoding/json"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// observerSession handles one observer connection.
type observerSession struct {
	d     *Dispatcher
	name  string
	owner string // its credential's id, for the queue quota
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
	got, t, err := s.d.submit(&sub, s.owner)
	if err != nil {
		return nil, err
	}
	return s.d.later(t, "job "+got.JobID, got), nil
}

func (s *observerSession) Closed(err error) {
	s.d.log.Info("observer disconnected", "name", s.name, "reason", err)
}

// submit is Submit up to the wait: the job is stored once the ticket is. owner
// is the credential the job counts against while it is queued.
func (d *Dispatcher) submit(s *wire.Submit, owner string) (wire.Submitted, *store.Ticket, error) {
	if err := s.Validate(); err != nil {
		return wire.Submitted{}, nil, wire.Errorf(wire.CodeInvalidParams, "%s: %v", wire.MethodCommitSubmit, err)
	}
	if err := d.allowed(s.Repo); err != nil {
		return wire.Submitted{}, nil, err
	}
	if err := d.st.Err(); err != nil {
		// Refuse new work while the store cannot take it: the observer keeps the
		// commit and offers it again.
		return wire.Submitted{}, nil, wire.Errorf(wire.CodeInternal, "not accepting jobs while the store fails: %v", err)
	}
	d.mu.Lock()
	var pos []store.Op
	if s.Branch != "" {
		pos = append(pos, store.PutPosition{Repo: s.Repo, Branch: s.Branch, Commit: s.Commit})
	}
	key := s.Repo + "\x00" + s.Commit
	if j, ok := d.active[key]; ok {
		t := d.st.Apply(pos...)
		d.mu.Unlock()
		return wire.Submitted{JobID: j.ID, Duplicate: true}, t, nil
	}
	if err := d.overQuotaLocked(wire.MethodCommitSubmit, owner); err != nil {
		d.mu.Unlock()
		return wire.Submitted{}, nil, err
	}
	j := &job{Job: Job{
		ID: d.newJobIDLocked(), Repo: s.Repo, Commit: s.Commit, Branch: s.Branch,
		Author: s.Author, Message: s.Message, QueuedAt: time.Now(),
	}, owner: owner}
	t, err := d.submitLocked(j, pos...)
	if err != nil { // a new job is always queued
		d.mu.Unlock()
		return wire.Submitted{}, nil, wire.Errorf(wire.CodeInternal, "%v", err)
	}
	d.log.Info("job queued", "job", j.ID, "commit", short(j.Commit), "branch", j.Branch, "queue", d.queue.len())
	d.kick()
	d.mu.Unlock()
	return wire.Submitted{JobID: j.ID}, t, nil
}
