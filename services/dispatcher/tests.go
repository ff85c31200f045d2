package dispatcher

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// testChunks are the job.tests chunks received for one attempt, held until its
// result stores them all in one transaction. They are the attempt's only: a
// new lease, a lost runner or the result drops them, and a runner that
// reconnects sends them all again (repeats are dropped by seq).
type testChunks struct {
	attempt int
	chunks  map[int][]store.TestRecord
	records int
}

// testChunk holds one chunk of an attempt's per-test records. It is
// acknowledged at once: nothing is durable before the result, and a runner
// sends every chunk again before a result the dispatcher refused.
func (d *Dispatcher) testChunk(r *runner, c *wire.TestChunk) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recordedLocked(r, c.JobID, c.Attempt) != nil {
		return nil // a repeat from before the result was recorded
	}
	j, err := d.currentLocked(r, c.JobID, c.Attempt)
	if err != nil {
		d.refused("test records", r, c.JobID, c.Attempt, err)
		return err
	}
	d.startLocked(j) // the records can overtake the lease goroutine, as output can
	if j.tests == nil || j.tests.attempt != j.Attempt {
		j.tests = &testChunks{attempt: j.Attempt, chunks: make(map[int][]store.TestRecord)}
	}
	tc := j.tests
	if _, ok := tc.chunks[c.Seq]; ok {
		return nil // sent again after a reconnect
	}
	if tc.records+len(c.Tests) > d.maxTestRecords {
		return wire.Errorf(wire.CodeInvalidParams, "%s: job %s attempt %d: more than %d test records",
			wire.MethodJobTests, c.JobID, c.Attempt, d.maxTestRecords)
	}
	recs := make([]store.TestRecord, len(c.Tests))
	for i, t := range c.Tests {
		recs[i] = store.TestRecord(t)
	}
	tc.chunks[c.Seq] = recs
	tc.records += len(recs)
	return nil
}

// resultTestsLocked gathers the records of j's current attempt that res
// announces, in seq order, or refuses the result while chunks are missing, so
// that the runner sends them again and then the result. A runner before
// VersionTestRecords lists its tests in the summary instead.
func resultTestsLocked(j *job, res *wire.Result) ([]store.TestRecord, error) {
	if res.TestChunks == 0 {
		return summaryTests(&res.Summary), nil
	}
	tc := j.tests
	have := 0
	if tc != nil && tc.attempt == res.Attempt {
		for seq := range tc.chunks {
			if seq < res.TestChunks {
				have++
			}
		}
	}
	if have < res.TestChunks {
		return nil, wire.Errorf(wire.CodeInternal, "job %s attempt %d: have %d of %d test chunks; send them again",
			res.JobID, res.Attempt, have, res.TestChunks)
	}
	out := make([]store.TestRecord, 0, tc.records)
	for seq := 0; seq < res.TestChunks; seq++ {
		out = append(out, tc.chunks[seq]...)
	}
	return out, nil
}

// flakyFound applies what storing j's result revealed (found, once stored)
// to the jobs in memory, and tells consoles: j's own flag and the commit's
// flaky tests, and other jobs of the commit that passed and are flaky now.
// Each changed job gets a new Result: copies of the job share the old one.
func (d *Dispatcher) flakyFound(j *job, rec *store.Result, found *store.Flakiness) {
	if !found.Flaky && len(found.Tests) == 0 && len(found.Jobs) == 0 {
		return // the common case: nothing flipped, and no event to send
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if j.Result == rec {
		r := *rec
		r.Flaky = found.Flaky
		j.Result, j.FlakyTests = &r, found.Tests
		d.emitJobLocked(j)
	}
	for _, id := range found.Jobs {
		o := d.jobs[id]
		if o == nil || o.Result == nil || o.State != wire.StatusPassed {
			continue
		}
		r := *o.Result
		r.Flaky = true
		o.Result = &r
		o.FlakyTests = found.Tests
		d.emitJobLocked(o)
	}
}

// afterStored runs f once t is stored, unless the dispatcher stops first.
func (d *Dispatcher) afterStored(t *store.Ticket, f func()) {
	d.wg.Go(func() {
		select {
		case <-t.Done():
			if t.Wait(d.ctx) == nil {
				f()
			}
		case <-d.ctx.Done():
		}
	})
}

// pageReserve is what a job.get reply needs besides the job and its records:
// the frame's envelope and the page's own members.
const pageReserve = 4 << 10

// getJob answers job.get: the job with its attempts, and a page of an
// attempt's per-test records when asked for one.
func (d *Dispatcher) getJob(ctx context.Context, q wire.JobGet) (wire.JobInfo, error) {
	// From the store, which knows each attempt's stored output, once the
	// job's last change (which a console may have seen as an event already)
	// is committed there.
	d.mu.Lock()
	var saved *store.Ticket
	if mj, ok := d.jobs[q.JobID]; ok {
		saved = mj.saved
	}
	d.mu.Unlock()
	if err := d.waitSaved(ctx, saved, "job "+q.JobID); err != nil {
		return wire.JobInfo{}, err
	}
	j, err := d.st.Job(ctx, q.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return wire.JobInfo{}, errNoJob(q.JobID)
	}
	if err != nil {
		return wire.JobInfo{}, wire.Errorf(wire.CodeInternal, "%s: %v", wire.MethodJobGet, err)
	}
	in := d.info(&j, true)
	if q.TestsLimit == 0 {
		return in, nil
	}
	attempt := q.Attempt
	if attempt == 0 {
		attempt = j.Attempt
	}
	p, err := d.st.Tests(ctx, q.JobID, attempt, q.TestsOffset, q.TestsLimit, q.TestsOrder)
	if err != nil {
		return wire.JobInfo{}, wire.Errorf(wire.CodeInternal, "%s: tests: %v", wire.MethodJobGet, err)
	}
	page := &wire.TestPage{Attempt: attempt, Total: p.Total, Offset: q.TestsOffset, Tests: make([]wire.TestRecord, 0, len(p.Tests))}
	// The reply must fit in a frame: 1,000 records of long ids and messages
	// would not, so a page may hold fewer than asked for (next says where
	// to read on), never none while some are left.
	room := wire.MaxFrameSize - pageReserve
	if b, err := json.Marshal(&in); err == nil {
		room -= len(b)
	}
	for _, t := range p.Tests {
		r := wire.TestRecord(t)
		b, err := json.Marshal(&r)
		if err != nil {
			return wire.JobInfo{}, wire.Errorf(wire.CodeInternal, "%s: tests: %v", wire.MethodJobGet, err)
		}
		if room -= len(b) + 1; room < 0 && len(page.Tests) > 0 {
			break
		}
		page.Tests = append(page.Tests, r)
	}
	if end := q.TestsOffset + len(page.Tests); end < p.Total && len(page.Tests) > 0 {
		page.Next = end
	}
	in.Tests = page
	return in, nil
}

// flakyTests answers tests.flaky from the store.
func (d *Dispatcher) flakyTests(ctx context.Context, q wire.FlakyQuery) (wire.FlakyList, error) {
	limit := q.Limit
	if limit <= 0 || limit > wire.MaxFlakyList {
		limit = wire.MaxFlakyList
	}
	list, err := d.st.Flaky(ctx, q.Repo, limit)
	if err != nil {
		return wire.FlakyList{}, wire.Errorf(wire.CodeInternal, "%s: %v", wire.MethodTestsFlaky, err)
	}
	out := wire.FlakyList{Repo: q.Repo, Tests: make([]wire.FlakyTest, len(list))}
	for i, f := range list {
		out.Tests[i] = wire.FlakyTest(f)
	}
	return out, nil
}
