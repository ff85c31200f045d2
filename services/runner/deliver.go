package runner

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// callTimeout bounds one delivery call; a dispatcher slower than this is treated as
// lost for this call, and the chunk or result is sent again.
const callTimeout = 10 * time.Second

// window is how many chunks (and the result) one job has on their way at once.
// They are stored together in the dispatcher's next commit, instead of one commit
// each, which is most of the wait between a test's end and its result being stored.
const window = 16

// deliver sends a job's output chunks in order, then its per-test records (to a
// dispatcher of VersionTestRecords or later) and then its result, resuming after
// every reconnect, until the dispatcher has acknowledged the result or refused the
// attempt. Delivery is at least once; the dispatcher drops repeats by offset, and
// test chunks by seq.
func (r *Runner) deliver(j *job) {
	for {
		chunks, res, dropped := j.outbox(window)
		if dropped {
			return
		}
		conn, version, changed := r.current()
		var tests []wire.TestChunk
		if conn != nil && res != nil {
			tests, res = j.resultOutbox(res, conn, version, window)
		}
		if conn == nil || (len(chunks) == 0 && len(tests) == 0 && res == nil) {
			select {
			case <-changed:
			case <-j.kick:
			case <-r.quit:
				return
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := send(ctx, conn, j, chunks, tests, res)
		cancel()
		var we *wire.Error
		switch {
		case err == nil && res == nil:
		case err == nil:
			took, stored := j.delivered()
			r.log.Info("result delivered", "job", j.a.JobID, "attempt", j.a.Attempt, "status", res.Status,
				"test_chunks", res.TestChunks, "since_finished", took.Round(time.Millisecond),
				"after_test_chunks", stored.Round(time.Millisecond))
			r.forget(j)
			return
		case errors.As(err, &we) && (we.Code == wire.CodeStaleAttempt || we.Code == wire.CodeUnknownJob):
			r.log.Warn("dispatcher refused the attempt; dropping it", "job", j.a.JobID, "attempt", j.a.Attempt, "err", err)
			r.mu.Lock()
			r.dropLocked(j)
			r.mu.Unlock()
			return
		case errors.As(err, &we) && we.Code == wire.CodeInternal && strings.Contains(we.Message, "test chunks"):
			// The dispatcher lacks some of the records it was sent (it
			// restarted, or dropped them): all of them go again, then the
			// result, shortly.
			j.resendTests()
			fallthrough
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

// send puts chunks, tests and then res (if not nil) on their way together, and
// waits for their acknowledgements in order, marking each chunk acknowledged. It
// stops at the first failure; what was not acknowledged is sent again by the next
// call.
func send(ctx context.Context, conn *peer.Conn, j *job, chunks []wire.Output, tests []wire.TestChunk, res *wire.Result) error {
	calls := make([]*peer.Pending, 0, len(chunks)+len(tests)+1)
	defer func() {
		for _, p := range calls {
			p.Abandon()
		}
	}()
	var err error
	for i := range chunks {
		var p *peer.Pending
		if p, err = conn.Start(ctx, wire.MethodJobOutput, &chunks[i]); err != nil {
			break
		}
		calls = append(calls, p)
	}
	for i := 0; err == nil && i < len(tests); i++ {
		var p *peer.Pending
		if p, err = conn.Start(ctx, wire.MethodJobTests, &tests[i]); err == nil {
			calls = append(calls, p)
		}
	}
	if err == nil && res != nil {
		var p *peer.Pending
		if p, err = conn.Start(ctx, wire.MethodJobResult, res); err == nil {
			calls = append(calls, p)
		}
	}
	for i, p := range calls {
		if werr := p.Wait(ctx, nil); werr != nil {
			return werr
		}
		switch {
		case i < len(chunks):
			j.acked(chunks[i].Seq)
		case i < len(chunks)+len(tests):
			j.testAcked(conn, tests[i-len(chunks)].Seq)
		}
	}
	return err
}
