package dispatcher

import (
	"context"

	"github.com/eventide-ci/eventide/net/wire"
)

// What the tests outside the package (package dispatcher_test) drive the
// dispatcher with besides the protocol.

// Submit queues a commit as an observer's commit.submit does, and returns once
// the job is stored.
func (d *Dispatcher) Submit(ctx context.Context, s *wire.Submit) (wire.Submitted, error) {
	got, t, err := d.submit(s, "")
	if err != nil {
		return got, err
	}
	return got, d.waitSaved(ctx, t, "job "+got.JobID)
}

// Stop is job.stop from a console.
func (d *Dispatcher) Stop(ctx context.Context, id string) error { return d.stop(ctx, id) }
