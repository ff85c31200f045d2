package console

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventide-ci/eventide/net/wire"
)

// ErrOlderDispatcher is returned by requests the dispatcher's protocol version
// does not know yet; the error's text says which version they need.
var ErrOlderDispatcher = errors.New("the dispatcher is older than this request")

// JobGet is job.get with all its parameters: the job with its attempts and,
// when q asks for one (q.TestsLimit > 0), a page of an attempt's per-test
// records in JobInfo.Tests. A page needs a dispatcher of
// wire.VersionTestRecords or later.
func (c *Client) JobGet(ctx context.Context, q wire.JobGet) (wire.JobInfo, error) {
	var j wire.JobInfo
	if err := q.Validate(); err != nil {
		return j, fmt.Errorf("%s: %w", wire.MethodJobGet, err)
	}
	since := 0
	if q.Attempt != 0 || q.TestsLimit != 0 || q.TestsOffset != 0 || q.TestsOrder != wire.TestsInOrder {
		since = wire.VersionTestRecords
	}
	if err := c.callSince(ctx, since, "a page of tests", wire.MethodJobGet, &q, &j); err != nil {
		return j, err
	}
	if err := checkPage(&q, j.Tests); err != nil {
		return wire.JobInfo{}, fmt.Errorf("%s reply: %w", wire.MethodJobGet, err)
	}
	return j, nil
}

// FlakyTests lists a repository's flaky tests, most recently seen first. It
// needs a dispatcher of wire.VersionTestRecords or later.
func (c *Client) FlakyTests(ctx context.Context, q wire.FlakyQuery) (wire.FlakyList, error) {
	var l wire.FlakyList
	if err := q.Validate(); err != nil {
		return l, fmt.Errorf("%s: %w", wire.MethodTestsFlaky, err)
	}
	if err := c.callSince(ctx, wire.VersionTestRecords, "the flaky tests", wire.MethodTestsFlaky, &q, &l); err != nil {
		return l, err
	}
	if err := checkFlaky(&l); err != nil {
		return wire.FlakyList{}, fmt.Errorf("%s reply: %w", wire.MethodTestsFlaky, err)
	}
	return l, nil
}

// checkPage checks the page of tests a job.get reply carries against what q
// asked for: the console pages on with Next and shows every record.
func checkPage(q *wire.JobGet, p *wire.TestPage) error {
	if p == nil {
		return nil
	}
	switch {
	case len(p.Tests) > wire.MaxTestsPage || len(p.Tests) > max(q.TestsLimit, 0):
		return fmt.Errorf("tests: %d records on a page of at most %d", len(p.Tests), q.TestsLimit)
	case p.Total < 0 || p.Total > wire.MaxTestRecords:
		return fmt.Errorf("tests: total %d: want 0-%d", p.Total, wire.MaxTestRecords)
	case p.Offset != q.TestsOffset:
		return fmt.Errorf("tests: offset %d, asked for %d", p.Offset, q.TestsOffset)
	case p.Next != 0 && (p.Next <= p.Offset || p.Next > p.Total):
		// A next offset that does not move on would page forever.
		return fmt.Errorf("tests: next %d: want 0 or %d-%d", p.Next, p.Offset+1, p.Total)
	case q.Attempt != 0 && p.Attempt != q.Attempt:
		return fmt.Errorf("tests: attempt %d, asked for %d", p.Attempt, q.Attempt)
	case p.Attempt < 0 || p.Attempt > wire.MaxAttempt:
		return fmt.Errorf("tests: attempt %d: want 0-%d", p.Attempt, wire.MaxAttempt)
	}
	for i := range p.Tests {
		if err := p.Tests[i].Validate(); err != nil {
			return fmt.Errorf("tests[%d] %w", i, err)
		}
	}
	return nil
}

// checkFlaky checks a tests.flaky reply.
func checkFlaky(l *wire.FlakyList) error {
	if len(l.Tests) > wire.MaxFlakyList {
		return fmt.Errorf("%d tests: at most %d", len(l.Tests), wire.MaxFlakyList)
	}
	for i, t := range l.Tests {
		r := wire.TestRecord{ID: t.ID, Suite: t.Suite, Outcome: wire.OutcomeFailed}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("tests[%d] %w", i, err)
		}
		if t.Flips < 0 {
			return fmt.Errorf("tests[%d] (%q): flips %d is negative", i, t.ID, t.Flips)
		}
		if t.LastJob != "" && !wire.ValidJobID(t.LastJob) {
			return fmt.Errorf("tests[%d] (%q): last_job %q: want 16 lowercase hex characters", i, t.ID, t.LastJob)
		}
	}
	return nil
}
