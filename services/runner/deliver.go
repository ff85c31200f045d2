package runner

import (
	"context"
	"errors"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// callTimeout bounds one delivery call; a dispatcher slower than this is treated as
// lost for this call, and the chunk or result is sent again.
const callTimeout = 10 * time.Second

// deliver sends a job's output chunks in order and then its result, resuming after
// every reconnect, until the dispatcher has acknowledged the result or refused the
// attempt. Delivery is at least once; the dispatcher drops repeats by offset.
func (r *Runner) deliver(j *job) {
	for {
		chunk, res, dropped := j.next()
		if dropped {
			return
		}
		conn, changed := r.current()
		if conn == nil || (chunk == nil && res == nil) {
			select {
			case <-changed:
			case <-j.kick:
			case <-r.quit:
				return
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		var err error
		if chunk != nil {
			err = conn.Call(ctx, wire.MethodJobOutput, chunk, nil)
		} else {
			err = conn.Call(ctx, wire.MethodJobResult, res, nil)
		}
		cancel()
		var we *wire.Error
		switch {
		case err == nil && chunk != nil:
			j.acked(chunk.Seq)
		case err == nil:
			r.log.Info("result delivered", "job", j.a.JobID, "attempt", j.a.Attempt, "status", res.Status)
			r.forget(j)
			return
		case errors.As(err, &we) && (we.Code == wire.CodeStaleAttempt || we.Code == wire.CodeUnknownJob):
			r.log.Warn("dispatcher refused the attempt; dropping it", "job", j.a.JobID, "attempt", j.a.Attempt, "err", err)
			r.mu.Lock()
			r.dropLocked(j)
			r.mu.Unlock()
			return
		case errors.As(err, &we):
			// The dispatcher failed (for example a full disk): try again shortly.
			r.log.Warn("dispatcher could not take delivery; retrying", "job", j.a.JobID, "err", err)
			select {
			case <-time.After(time.Second):
			case <-changed:
			case <-r.quit:
				return
			}
		default:
			// The connection is going away (or the dispatcher is stuck): wait for the
			// next one, checking again now and then.
			select {
			case <-changed:
			case <-time.After(time.Second):
			case <-r.quit:
				return
			}
		}
	}
}
