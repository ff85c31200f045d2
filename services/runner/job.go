package runner

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

const (
	chunkTarget = 32 << 10               // flush once this much output is pending
	chunkDelay  = 100 * time.Millisecond // or once the oldest pending byte is this old
	tailKeep    = 2 << 20                // output kept for parsing the test summary
	// The runner sends all output: the dispatcher decides what to keep (the
	// head and the tail of a log). What waits unsent, while the dispatcher is
	// slower than the test or away, is bounded: past maxBacklog the oldest unsent
	// chunks are dropped, an offset jump telling the dispatcher. The first
	// keepHead bytes (the most of a head any dispatcher keeps) are never
	// dropped, and the newest output always waits, so that the live tail and
	// the end survive. Dropping rather than blocking the test's output: a test
	// must not stall, and time out, because its dispatcher is slow or away.
	maxBacklog = 8 << 20
	keepHead   = 1 << 20
)

// job is one attempt in this runner's hands, from acceptance until the dispatcher
// has acknowledged its result.
type job struct {
	a      wire.Assign
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	pending []byte        // output not yet cut into a chunk
	timer   *time.Timer   // flushes pending after chunkDelay
	chunks  []wire.Output // cut but not yet acknowledged, in order
	seq     uint64
	offset  int64 // bytes cut into chunks so far
	unsent  int64 // bytes in chunks
	tail    []byte
	result  *wire.Result
	// tests are the finished attempt's per-test records, kept until the
	// result is acknowledged. Each connection gets them all from chunk 0
	// (the dispatcher drops repeats by seq); testsAcked counts those
	// testsConn acknowledged.
	tests      []wire.TestChunk
	testsConn  *peer.Conn
	testsAcked int
	// finishedAt and testsAckedAt (the last test chunk's acknowledgement)
	// time the delivery, for the log.
	finishedAt, testsAckedAt time.Time
	dropped                  bool
	kick                     chan struct{} // wakes the deliverer
	finished                 chan struct{}
}

func newJob(a wire.Assign, cancel context.CancelCauseFunc) *job {
	return &job{a: a, cancel: cancel, kick: make(chan struct{}, 1), finished: make(chan struct{})}
}

func (j *job) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *job) isFinished() bool {
	select {
	case <-j.finished:
		return true
	default:
		return false
	}
}

func (j *job) drop() {
	j.mu.Lock()
	j.dropped = true
	j.mu.Unlock()
	j.wake()
}

// Write takes test output. It batches: a chunk is cut when enough is pending or the
// oldest pending byte has waited chunkDelay.
func (j *job) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, p...)
	j.tail = append(j.tail, p...)
	if len(j.tail) > 2*tailKeep {
		j.tail = append(j.tail[:0], j.tail[len(j.tail)-tailKeep:]...)
	}
	if len(j.pending) >= chunkTarget {
		j.cutLocked(false)
	} else if j.timer == nil {
		j.timer = time.AfterFunc(chunkDelay, func() {
			j.mu.Lock()
			defer j.mu.Unlock()
			j.timer = nil
			j.cutLocked(false)
		})
	}
	return len(p), nil
}

// cutLocked turns pending output into chunks. Chunks travel as JSON strings, so they
// must be valid UTF-8: invalid bytes become U+FFFD, and an incomplete character at
// the end waits for its remaining bytes unless this is the final cut. Offsets count
// the bytes as sent.
func (j *job) cutLocked(final bool) {
	n := len(j.pending)
	if !final {
		n = completeUTF8(j.pending)
	}
	if n == 0 {
		return
	}
	data := strings.ToValidUTF8(string(j.pending[:n]), "\uFFFD")
	j.pending = append(j.pending[:0], j.pending[n:]...)
	for len(data) > 0 {
		size := min(len(data), wire.MaxChunkSize)
		for size < len(data) && !utf8.RuneStart(data[size]) {
			size--
		}
		j.seq++
		j.chunks = append(j.chunks, wire.Output{JobID: j.a.JobID, Attempt: j.a.Attempt,
			Seq: j.seq, Offset: j.offset, Data: data[:size]})
		j.offset += int64(size)
		j.unsent += int64(size)
		data = data[size:]
	}
	j.trimBacklogLocked()
	j.wake()
}

// trimBacklogLocked drops the oldest unsent chunks past the head while more than
// maxBacklog waits. The first window chunks may be on their way (outbox hands out
// a prefix) and stay, and so does the newest chunk.
func (j *job) trimBacklogLocked() {
	if j.unsent <= maxBacklog {
		return
	}
	from := window
	for from < len(j.chunks) && j.chunks[from].Offset < keepHead {
		from++
	}
	to := from
	for to < len(j.chunks)-1 && j.unsent > maxBacklog {
		j.unsent -= int64(len(j.chunks[to].Data))
		to++
	}
	if to > from {
		n := copy(j.chunks[from:], j.chunks[to:])
		clear(j.chunks[from+n:]) // let the dropped data go
		j.chunks = j.chunks[:from+n]
	}
}

// completeUTF8 returns the length of b without a trailing incomplete character.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// finish records the result after the last output has been cut.
func (j *job) finish(res *wire.Result) { j.finishWith(res, nil) }

// finishWith records the result and the attempt's per-test records.
func (j *job) finishWith(res *wire.Result, tests []wire.TestChunk) {
	j.mu.Lock()
	j.tests = tests
	j.finishedAt = time.Now()
	if j.timer != nil {
		j.timer.Stop()
		j.timer = nil
	}
	j.cutLocked(true)
	res.OutputBytes = j.offset
	j.result = res
	j.mu.Unlock()
	close(j.finished)
	j.wake()
}

// outbox returns what the deliverer should send now: the first unacknowledged
// chunks, at most max of them, and the result too once finished if no other chunk is
// waiting behind those.
func (j *job) outbox(max int) (chunks []wire.Output, res *wire.Result, dropped bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dropped {
		return nil, nil, true
	}
	n := min(len(j.chunks), max)
	chunks = append(chunks, j.chunks[:n]...)
	if n == len(j.chunks) {
		res = j.result
	}
	return chunks, res, false
}

// resultOutbox is what goes with or before the result (from outbox) on conn,
// a dispatcher speaking version: the next test chunks it has not
// acknowledged, at most max, and the result as that version has it, only
// once no other test chunk waits behind those. Before VersionTestRecords the
// result has no test_chunks or retry_failed and carries summary.tests;
// since, the records go in chunks instead.
func (j *job) resultOutbox(res *wire.Result, conn *peer.Conn, version, max int) ([]wire.TestChunk, *wire.Result) {
	r := *res
	if version < wire.VersionTestRecords {
		r.TestChunks, r.RetryFailed = 0, 0
		return nil, &r
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.testsConn != conn {
		j.testsConn, j.testsAcked = conn, 0
	}
	rest := j.tests[j.testsAcked:]
	n := min(len(rest), max)
	tests := rest[:n:n]
	if n < len(rest) {
		return tests, nil
	}
	r.Summary.Tests = nil
	r.TestChunks = len(j.tests)
	return tests, &r
}

// testAcked marks test chunk seq acknowledged on conn.
func (j *job) testAcked(conn *peer.Conn, seq int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.testsConn == conn && seq == j.testsAcked {
		if j.testsAcked++; j.testsAcked == len(j.tests) {
			j.testsAckedAt = time.Now()
		}
	}
}

// delivered returns the log's figures on a delivered result: how long it
// took from the job's end, and from the last test chunk's acknowledgement
// (the dispatcher storing the result and the records: 0 without records).
func (j *job) delivered() (sinceFinished, sinceTests time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.testsAckedAt.IsZero() && len(j.tests) > 0 {
		sinceTests = time.Since(j.testsAckedAt)
	}
	return time.Since(j.finishedAt), sinceTests
}

// resendTests has every test chunk sent again: the dispatcher said it lacks
// some (it lost them with a restart, or dropped them as stale).
func (j *job) resendTests() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.testsAcked = 0
}

func (j *job) acked(seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.chunks) > 0 && j.chunks[0].Seq == seq {
		j.unsent -= int64(len(j.chunks[0].Data))
		j.chunks[0] = wire.Output{}
		j.chunks = j.chunks[1:]
	}
}

func (j *job) output() []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]byte(nil), j.tail...)
}
