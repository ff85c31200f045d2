package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/wire"
)

// A read-only console may list flaky tests (it changes nothing), and still
// may not retry.
func TestReadOnlyConsoleListsFlakyTests(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{NoResultFiles: true})
	s := &consoleSession{d: d, name: "watcher", readOnly: true}
	got, err := s.Handle(t.Context(), wire.MethodTestsFlaky, json.RawMessage(`{"repo":"/r"}`))
	if err != nil {
		t.Fatalf("tests.flaky from a read-only console: %v", err)
	}
	if l, ok := got.(wire.FlakyList); !ok || l.Repo != "/r" || l.Tests == nil || len(l.Tests) != 0 {
		t.Errorf("reply %#v, want an empty list of /r", got)
	}
	_, err = s.Handle(t.Context(), wire.MethodJobRetry, json.RawMessage(`{"job_id":"0123456789abcdef"}`))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
		t.Errorf("job.retry from a read-only console: %v, want unauthorized", err)
	}
	_, err = s.Handle(t.Context(), wire.MethodTestsFlaky, json.RawMessage(`{"repo":"-x"}`))
	if !errors.As(err, &we) || we.Code != wire.CodeInvalidParams {
		t.Errorf("tests.flaky of a bad repo: %v, want invalid params", err)
	}
}

// An attempt's chunks are bounded (wire.MaxTestRecords; less here, to be
// quick), and dropped when the attempt ends without a result (its runner lost,
// here for breaking that bound).
func TestTestChunksBoundedAndDropped(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{NoResultFiles: true})
	const limit = 5 * wire.MaxTestChunk
	d.mu.Lock()
	d.maxTestRecords = limit
	d.mu.Unlock()
	r, _ := connectRunner(t, d, "r1", 1)
	sub, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if err != nil {
		t.Fatal(err)
	}
	a := r.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	chunk := func(seq int) error {
		c := wire.TestChunk{JobID: a.JobID, Attempt: a.Attempt, Seq: seq, Tests: make([]wire.TestRecord, wire.MaxTestChunk)}
		for i := range c.Tests {
			c.Tests[i] = wire.TestRecord{ID: fmt.Sprintf("T%d.%d", seq, i), Outcome: wire.OutcomePassed}
		}
		return r.conn.Call(ctx, wire.MethodJobTests, &c, nil)
	}
	full := limit / wire.MaxTestChunk
	for seq := range full {
		if err := chunk(seq); err != nil {
			t.Fatalf("chunk %d: %v", seq, err)
		}
	}
	held := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		if j := d.jobs[sub.JobID]; j != nil && j.tests != nil {
			return j.tests.records
		}
		return 0
	}
	if n := held(); n != limit {
		t.Fatalf("holding %d records, want %d", n, limit)
	}
	// A chunk sent again is dropped: not counted twice.
	if err := chunk(0); err != nil {
		t.Fatalf("chunk 0 again: %v", err)
	}
	if n := held(); n != limit {
		t.Fatalf("after a repeat holding %d records, want %d", n, limit)
	}
	// One more is a protocol violation: refused, and the connection closed
	// (§6), which loses the attempt.
	var we *wire.Error
	if err := chunk(full); !errors.As(err, &we) || we.Code != wire.CodeInvalidParams {
		t.Fatalf("chunk past %d records: %v, want invalid params", limit, err)
	}
	waitFor(t, "the attempt lost", func() bool { j, _ := d.findJob(sub.JobID); return j.State == wire.StateQueued })
	if n := held(); n != 0 {
		t.Errorf("after the attempt was lost %d records are still held", n)
	}
}

// The records held for an attempt go once its result has them: the store has
// them, and a finished job may stay in memory for long.
func TestTestChunksDroppedWithResult(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{NoResultFiles: true})
	r, _ := connectRunner(t, d, "r1", 1)
	sub, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if err != nil {
		t.Fatal(err)
	}
	a := r.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	c := wire.TestChunk{JobID: a.JobID, Attempt: a.Attempt, Tests: []wire.TestRecord{{ID: "T", Outcome: wire.OutcomePassed}}}
	if err := r.conn.Call(ctx, wire.MethodJobTests, &c, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	res := wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: wire.StatusPassed, StartedAt: now, FinishedAt: now, TestChunks: 1}
	if err := r.conn.Call(ctx, wire.MethodJobResult, &res, nil); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	j := d.jobs[sub.JobID]
	held, total := j.tests, j.Result.TestsTotal
	d.mu.Unlock()
	if held != nil || total != 1 {
		t.Errorf("after the result: held %+v, tests_total %d; want nothing held, 1", held, total)
	}
}
