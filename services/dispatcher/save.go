package dispatcher

import (
	"context"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// saveLocked records j's row, with ops, and remembers the ticket.
func (d *Dispatcher) saveLocked(j *job, ops ...store.Op) *store.Ticket {
	row := j.Job
	row.Attempts, row.Result = nil, nil
	j.saved = d.st.Apply(append([]store.Op{store.PutJob{Job: row}}, ops...)...)
	d.emitJobLocked(j)
	return j.saved
}

// saveAttemptLocked records j's row and its current attempt.
func (d *Dispatcher) saveAttemptLocked(j *job, ops ...store.Op) *store.Ticket {
	if a := j.current(); a != nil {
		ops = append([]store.Op{store.PutAttempt{JobID: j.ID, Attempt: *a}}, ops...)
	}
	return d.saveLocked(j, ops...)
}

// later is a reply that goes out once t is stored, without holding up the
// connection's next frames: a peer is told only what is durable, and many changes
// share one commit.
func (d *Dispatcher) later(t *store.Ticket, what string, reply any) *peer.Deferred {
	return peer.Later(func(ctx context.Context) (any, error) {
		if err := d.waitSaved(ctx, t, what); err != nil {
			return nil, err
		}
		return reply, nil
	})
}

// waitSaved waits (without the lock) until a change is stored, at most StoreWait:
// a peer is told only what is durable, and otherwise gets an error and resends.
func (d *Dispatcher) waitSaved(ctx context.Context, t *store.Ticket, what string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StoreWait)
	defer cancel()
	if err := t.Wait(ctx); err != nil {
		if serr := d.st.Err(); serr != nil {
			err = serr
		}
		return wire.Errorf(wire.CodeInternal, "storing %s: %v", what, err)
	}
	return nil
}
