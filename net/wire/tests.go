package wire

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Per-test records (protocol version VersionTestRecords): a runner sends every
// test of an attempt, in chunks, before the attempt's result; the dispatcher
// stores them with the result in one transaction; consoles page through them
// with job.get and see the tests that flipped between attempts of one commit
// (flaky) on job objects and with tests.flaky.
const (
	// VersionTestRecords is the first protocol version with job.tests,
	// result.test_chunks and result.retry_failed, the job objects' flaky
	// members and test pages, and tests.flaky. Gate on it, never on the number.
	VersionTestRecords = 11

	// MethodJobTests carries one chunk of an attempt's per-test records
	// (runner → dispatcher request).
	MethodJobTests = "job.tests"
	// MethodTestsFlaky lists a repository's flaky tests, most recently seen
	// first (console → dispatcher request).
	MethodTestsFlaky = "tests.flaky"
)

// Limits on per-test records. MaxTestRecords is what one attempt may send in
// all (a suite of 50,000 tests fits twice over); a chunk holds at most
// MaxTestChunk records and must fit in a frame, which the sender sees to by
// sending fewer.
const (
	MaxTestRecords = 100_000
	MaxTestChunk   = 2000
	MaxTestChunks  = 1000
	MaxTestMessage = 1024 // bytes of a record's message: its first lines
	MaxRetryFailed = 5    // .eventide.yml's retry_failed
	MaxTestsPage   = 1000 // records in one job.get page
	MaxFlakyList   = 1000 // tests in one tests.flaky reply
	MaxFlakyTests  = 200  // flaky test ids on one job object
)

// TestRecord is how one test ended in one attempt.
type TestRecord struct {
	// ID names the test as its tool prints it, parameters included: the key
	// by which a test is known from one attempt to the next.
	ID string `json:"id"`
	// Suite is the package, module, class or file, when the format says.
	Suite   string `json:"suite,omitempty"`
	Outcome string `json:"outcome"` // one of the Outcome constants
	// DurationMS is nil when the format gave none.
	DurationMS *int64 `json:"duration_ms,omitempty"`
	// Message is the first lines of the failure, error or skip message: line
	// breaks allowed, no other control characters.
	Message string `json:"message,omitempty"`
}

// Validate checks a record.
func (t *TestRecord) Validate() error {
	if t.ID == "" {
		return fmt.Errorf("id is empty")
	}
	if err := checkLine("id", t.ID, MaxTestName); err != nil {
		return err
	}
	if err := checkLine(fmt.Sprintf("(%q) suite", clip(t.ID)), t.Suite, MaxTestName); err != nil {
		return err
	}
	switch t.Outcome {
	case OutcomePassed, OutcomeFailed, OutcomeError, OutcomeSkipped:
	default:
		return fmt.Errorf("(%q) outcome %q: want passed, failed, error or skipped", clip(t.ID), clip(t.Outcome))
	}
	if t.DurationMS != nil && (*t.DurationMS < 0 || *t.DurationMS > MaxDurationMS) {
		return fmt.Errorf("(%q) duration_ms %d: want 0-%d", clip(t.ID), *t.DurationMS, int64(MaxDurationMS))
	}
	if err := checkText(fmt.Sprintf("(%q) message", clip(t.ID)), t.Message, MaxTestMessage); err != nil {
		return err
	}
	if strings.IndexFunc(t.Message, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("(%q) message %q has control characters other than line breaks", clip(t.ID), clip(t.Message))
	}
	return nil
}

// TestChunk is one chunk of an attempt's per-test records (params of
// MethodJobTests). Seq numbers an attempt's chunks 0, 1, 2, …; the result's
// TestChunks says how many there are. A chunk sent again (after a reconnect)
// is recognised by its Seq and dropped. Reply: an empty result.
type TestChunk struct {
	JobID   string       `json:"job_id"`
	Attempt int          `json:"attempt"`
	Seq     int          `json:"seq"`
	Tests   []TestRecord `json:"tests"`
}

// Validate checks a chunk. The same test id may appear in two chunks (a test
// run by two packages' runs); the dispatcher keeps both.
func (c *TestChunk) Validate() error {
	if err := checkJob(c.JobID, c.Attempt); err != nil {
		return err
	}
	if c.Seq < 0 || c.Seq >= MaxTestChunks {
		return fmt.Errorf("seq %d: want 0-%d", c.Seq, MaxTestChunks-1)
	}
	if len(c.Tests) == 0 || len(c.Tests) > MaxTestChunk {
		return fmt.Errorf("%d tests in a chunk: want 1-%d", len(c.Tests), MaxTestChunk)
	}
	for i := range c.Tests {
		if err := c.Tests[i].Validate(); err != nil {
			return fmt.Errorf("tests[%d] %w", i, err)
		}
	}
	return nil
}

// Orders of a job.get test page.
const (
	TestsInOrder = ""        // as the runner reported them
	TestsSlowest = "slowest" // longest duration first; tests without one last
)

// JobGet asks for one job (params of MethodJobGet). Since VersionTestRecords it
// may ask for a page of an attempt's per-test records: TestsLimit > 0 records
// from TestsOffset, in TestsOrder, of Attempt (0: the current one).
type JobGet struct {
	JobID       string `json:"job_id"`
	Attempt     int    `json:"attempt,omitempty"`
	TestsOffset int    `json:"tests_offset,omitempty"`
	TestsLimit  int    `json:"tests_limit,omitempty"`
	TestsOrder  string `json:"tests_order,omitempty"`
}

// Validate checks a job query.
func (q *JobGet) Validate() error {
	if !ValidJobID(q.JobID) {
		return fmt.Errorf("job_id %q: want 16 lowercase hex characters", clip(q.JobID))
	}
	if q.Attempt < 0 || q.Attempt > MaxAttempt {
		return fmt.Errorf("attempt %d: want 0-%d", q.Attempt, MaxAttempt)
	}
	if q.TestsOffset < 0 || q.TestsOffset > MaxTestRecords {
		return fmt.Errorf("tests_offset %d: want 0-%d", q.TestsOffset, MaxTestRecords)
	}
	if q.TestsLimit < 0 || q.TestsLimit > MaxTestsPage {
		return fmt.Errorf("tests_limit %d: want 0-%d", q.TestsLimit, MaxTestsPage)
	}
	switch q.TestsOrder {
	case TestsInOrder, TestsSlowest:
	default:
		return fmt.Errorf("tests_order %q: want \"\" or %q", clip(q.TestsOrder), TestsSlowest)
	}
	return nil
}

// TestPage is a page of an attempt's per-test records (JobInfo.Tests, job.get
// only). Total counts the attempt's records; Next is the offset to ask for
// next, 0 when this page is the last.
type TestPage struct {
	Attempt int          `json:"attempt"`
	Total   int          `json:"total"`
	Offset  int          `json:"offset"`
	Next    int          `json:"next,omitempty"`
	Tests   []TestRecord `json:"tests"`
}

// FlakyQuery asks for a repository's flaky tests (params of MethodTestsFlaky).
type FlakyQuery struct {
	Repo  string `json:"repo"`
	Limit int    `json:"limit,omitempty"` // 0 or over MaxFlakyList: MaxFlakyList
}

// Validate checks a flaky query.
func (q *FlakyQuery) Validate() error {
	if err := CheckRepo(q.Repo); err != nil {
		return err
	}
	if q.Limit < 0 {
		return fmt.Errorf("limit %d is negative", q.Limit)
	}
	return nil
}

// FlakyTest is a test of a repository that failed in one attempt and passed in
// another of the same commit. Flips counts the commits on which it did so.
type FlakyTest struct {
	ID         string    `json:"id"`
	Suite      string    `json:"suite,omitempty"`
	Flips      int       `json:"flips"`
	LastSeen   time.Time `json:"last_seen"`
	LastJob    string    `json:"last_job"`
	LastCommit string    `json:"last_commit"`
}

// FlakyList is the reply to tests.flaky.
type FlakyList struct {
	Repo  string      `json:"repo"`
	Tests []FlakyTest `json:"tests"`
}
