package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/testreport"
)

// Every record of a real JUnit report becomes a wire record: id, suite,
// outcome, duration and the message's first lines, and all of them validate.
func TestTestRecordsFromJUnit(t *testing.T) {
	t.Parallel()
	rep, err := testreport.ParseJUnit(bytes.NewReader(fixture(t, "pytest-junit.xml")))
	if err != nil {
		t.Fatal(err)
	}
	recs := testRecords(rep)
	if len(recs) != 10 {
		t.Fatalf("%d records, want the report's 10: %+v", len(recs), recs)
	}
	byID := make(map[string]wire.TestRecord)
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			t.Errorf("record %+v: %v", r, err)
		}
		byID[r.ID] = r
	}
	f := byID["test_fail"]
	if f.Outcome != wire.OutcomeFailed || f.Suite == "" || f.DurationMS == nil ||
		f.Message != "AssertionError: subtraction is off\nassert (3 - 1) == 1" {
		t.Errorf("test_fail = %+v", f)
	}
	if e := byID["test_error"]; e.Outcome != wire.OutcomeError {
		t.Errorf("test_error = %+v", e)
	}
}

// Names become one clipped line; messages keep their line breaks and lose
// every other control or format character, within MaxTestMessage, cut at a
// line break; a record with nothing left of its id is left out; durations
// have their bounds.
func TestTestRecordsCleaned(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ab\n", wire.MaxTestMessage)
	rep := &testreport.Report{Runs: []testreport.Run{{Records: []testreport.Record{
		{ID: "t\x1b[31m1\r", Suite: "s\tx", Outcome: testreport.Failed, Duration: 1500 * time.Microsecond,
			Message: "bad\x00 thing\u202e\n\tat line 3\n\n"},
		{ID: strings.Repeat("é", wire.MaxTestName), Outcome: testreport.Passed, Duration: testreport.NoDuration,
			Message: long},
		{ID: "\x01\x02", Outcome: testreport.Passed},
		{ID: "slow", Outcome: testreport.Skipped, Duration: time.Duration(1 << 62)},
	}}}}
	recs := testRecords(rep)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if r := recs[0]; r.ID != "t [31m1" || r.Suite != "s x" || *r.DurationMS != 1 || r.Message != "bad thing\n at line 3" {
		t.Errorf("first = %+v", r)
	}
	if r := recs[1]; len(r.ID) > wire.MaxTestName || r.DurationMS != nil || len(r.Message) > wire.MaxTestMessage ||
		!strings.HasSuffix(r.Message, "ab") || len(r.Message) < wire.MaxTestMessage-3 {
		t.Errorf("second: id %d bytes, duration %v, message %d bytes ending %q", len(r.ID), r.DurationMS, len(r.Message), r.Message[len(r.Message)-4:])
	}
	if r := recs[2]; *r.DurationMS != wire.MaxDurationMS {
		t.Errorf("slow = %+v", r)
	}
}

// At most MaxTestRecords records travel.
func TestTestRecordsBounded(t *testing.T) {
	t.Parallel()
	var runs []testreport.Run
	for range 2 {
		run := testreport.Run{}
		for i := range wire.MaxTestRecords/2 + 10 {
			run.Records = append(run.Records, testreport.Record{ID: fmt.Sprint("t", i), Outcome: testreport.Passed})
		}
		runs = append(runs, run)
	}
	if n := len(testRecords(&testreport.Report{Runs: runs})); n != wire.MaxTestRecords {
		t.Fatalf("%d records, want %d", n, wire.MaxTestRecords)
	}
}

// Chunks hold at most MaxTestChunk records and maxTestChunkBytes encoded, are
// numbered from 0, each validates, fits a frame, and together they hold every
// record in order.
func TestPackTests(t *testing.T) {
	t.Parallel()
	small := make([]wire.TestRecord, 5001)
	for i := range small {
		small[i] = wire.TestRecord{ID: fmt.Sprint("t", i), Outcome: wire.OutcomePassed}
	}
	big := make([]wire.TestRecord, 2000)
	for i := range big {
		// Each escapes to about 11 KiB ("<" is "\u003c"): the size, not
		// the count, cuts.
		big[i] = wire.TestRecord{ID: strings.Repeat("<", 400) + fmt.Sprint(i), Suite: strings.Repeat("<", 500),
			Outcome: wire.OutcomeFailed, Message: strings.Repeat("<", wire.MaxTestMessage)}
	}
	for name, tc := range map[string]struct {
		tests  []wire.TestRecord
		chunks int
	}{"by count": {small, 3}, "by size": {big, 0}, "none": {nil, 0}} {
		chunks := packTests(testJobID, 2, tc.tests)
		if tc.chunks > 0 && len(chunks) != tc.chunks {
			t.Errorf("%s: %d chunks, want %d", name, len(chunks), tc.chunks)
		}
		n := 0
		for i, c := range chunks {
			if err := c.Validate(); err != nil {
				t.Fatalf("%s: chunk %d: %v", name, i, err)
			}
			b, _ := json.Marshal(&c)
			if c.Seq != i || len(b) > wire.MaxFrameSize*3/4 || c.JobID != testJobID || c.Attempt != 2 {
				t.Fatalf("%s: chunk %d: seq %d, %d bytes", name, i, c.Seq, len(b))
			}
			for _, r := range c.Tests {
				if r.ID != tc.tests[n].ID {
					t.Fatalf("%s: record %d is %q, want %q", name, n, r.ID, tc.tests[n].ID)
				}
				n++
			}
		}
		if n != len(tc.tests) {
			t.Errorf("%s: %d records in the chunks, want %d", name, n, len(tc.tests))
		}
	}
	if n := len(packTests(testJobID, 2, big)); n < 40 {
		t.Errorf("%d chunks for 2000 records of 11 KiB, want them cut by size", n)
	}
}
