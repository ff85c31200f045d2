package wire

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Hello opens every connection (params of MethodHello).
type Hello struct {
	Role            string   `json:"role"`
	ProtocolVersion int      `json:"protocol_version"`
	Name            string   `json:"name"`
	Token           string   `json:"token,omitempty"`
	Labels          []string `json:"labels,omitempty"` // runner only
	Slots           int      `json:"slots,omitempty"`  // runner only: jobs it runs at once
	// Draining (runner only, since version 2) says the runner takes no new jobs,
	// so that a draining runner that reconnects is not offered any.
	Draining bool `json:"draining,omitempty"`
	// Jobs are the jobs a reconnecting runner still holds: running, or finished with
	// a result not yet acknowledged. The dispatcher re-attaches or cancels each.
	Jobs []HeldJob `json:"jobs,omitempty"`
	// Identity (runner only, since version 8) authenticates a runner that has
	// enrolled; Enrol asks for an identity instead, for a runner that has none.
	Identity *Identity `json:"identity,omitempty"`
	Enrol    bool      `json:"enrol,omitempty"`
}

// HeldJob is a job a runner still holds when it says hello.
type HeldJob struct {
	Assign
	Finished bool `json:"finished"`
}

// Validate checks everything but the version and the token, which the server checks
// first so that their errors carry their own codes.
func (h *Hello) Validate() error {
	switch h.Role {
	case RoleRunner, RoleObserver, RoleConsole:
	default:
		return fmt.Errorf("role %q: want %s, %s or %s", clip(h.Role), RoleRunner, RoleObserver, RoleConsole)
	}
	if err := CheckName(h.Name); err != nil {
		return err
	}
	if err := h.checkIdentity(); err != nil {
		return err
	}
	if len(h.Token) > MaxTokenLen {
		return fmt.Errorf("token is %d bytes, at most %d", len(h.Token), MaxTokenLen)
	}
	if h.Role != RoleRunner {
		if h.Slots != 0 || len(h.Labels) != 0 || len(h.Jobs) != 0 || h.Draining {
			return fmt.Errorf("slots, labels, jobs and draining are for runners, not a %s", h.Role)
		}
		return nil
	}
	if h.Slots < 1 || h.Slots > MaxSlots {
		return fmt.Errorf("slots %d: want 1-%d", h.Slots, MaxSlots)
	}
	if len(h.Jobs) > MaxSlots*4 {
		return fmt.Errorf("%d held jobs: at most %d", len(h.Jobs), MaxSlots*4)
	}
	for i := range h.Jobs {
		if err := h.Jobs[i].Validate(); err != nil {
			return fmt.Errorf("jobs[%d]: %w", i, err)
		}
	}
	return CheckLabels(h.Labels)
}

// Welcome is the dispatcher's reply to a hello.
type Welcome struct {
	SessionID       string `json:"session_id"`
	ProtocolVersion int    `json:"protocol_version"`
	HeartbeatMS     int64  `json:"heartbeat_ms"`
	Server          string `json:"server"`
	// Cancel lists held jobs (from the hello) the runner must stop and forget: their
	// attempt is no longer current.
	Cancel []string `json:"cancel,omitempty"`
	// Identity (since version 8) is the identity issued to a runner that asked to
	// enrol: the only time its secret is sent. The runner keeps it before using it.
	Identity *Identity `json:"identity,omitempty"`
}

// Heartbeat returns the interval the dispatcher asked for.
func (w *Welcome) Heartbeat() time.Duration { return time.Duration(w.HeartbeatMS) * time.Millisecond }

// Validate checks a welcome as a client receives it.
func (w *Welcome) Validate() error {
	if w.HeartbeatMS < 10 || w.HeartbeatMS > 10*60*1000 {
		return fmt.Errorf("heartbeat_ms %d: want 10-600000", w.HeartbeatMS)
	}
	for _, id := range w.Cancel {
		if !ValidJobID(id) {
			return fmt.Errorf("cancel: job_id %q: want 16 lowercase hex characters", clip(id))
		}
	}
	if w.Identity != nil {
		return w.Identity.Validate()
	}
	return nil
}

// Assign offers a job to a runner (params of MethodJobAssign). The reply is an empty
// result when the runner takes it, or an error with CodeRefused.
type Assign struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	Repo    string `json:"repo"`
	Commit  string `json:"commit"`
	Branch  string `json:"branch,omitempty"`
}

// Validate checks an assignment.
func (a *Assign) Validate() error {
	if err := checkJob(a.JobID, a.Attempt); err != nil {
		return err
	}
	if err := CheckRepo(a.Repo); err != nil {
		return err
	}
	if err := checkCommit(a.Commit); err != nil {
		return err
	}
	return CheckBranch(a.Branch)
}

// JobRef names one attempt of a job (params of MethodJobCancel).
type JobRef struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
}

// Validate checks a job reference.
func (r *JobRef) Validate() error {
	if err := checkJob(r.JobID, r.Attempt); err != nil {
		return err
	}
	return checkText("reason", r.Reason, MaxReasonLen)
}

// Output is one chunk of a job's combined output (params of MethodJobOutput). Offset
// is the byte position of Data in the attempt's output, so a chunk sent twice (after
// a reconnect) is recognised and dropped, and a gap is detected.
type Output struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	Seq     uint64 `json:"seq"`
	Offset  int64  `json:"offset"`
	Data    string `json:"data"`
}

// Validate checks a chunk.
func (o *Output) Validate() error {
	if err := checkJob(o.JobID, o.Attempt); err != nil {
		return err
	}
	if o.Offset < 0 {
		return fmt.Errorf("offset %d is negative", o.Offset)
	}
	if len(o.Data) > MaxChunkSize {
		return fmt.Errorf("chunk is %d bytes, at most %d", len(o.Data), MaxChunkSize)
	}
	return nil
}

// Outcomes of one test in Summary.Tests.
const (
	OutcomePassed  = "passed"
	OutcomeFailed  = "failed"
	OutcomeError   = "error"
	OutcomeSkipped = "skipped"
)

// Limits on Summary.Tests. MaxTestsBytes bounds the names' total length so that a
// result with a full list, at realistic name lengths, still fits in a frame.
const (
	MaxTests      = 5000
	MaxTestsBytes = 512 << 10
)

// Summary counts a test run's outcomes.
type Summary struct {
	Passed  int      `json:"passed"`
	Failed  int      `json:"failed"`
	Errors  int      `json:"errors"`
	Skipped int      `json:"skipped"`
	Failing []string `json:"failing,omitempty"`
	// Tests lists per-test outcomes in the order the tests reported, each name once.
	// It is optional (older runners never send it, and a runner that cannot tell
	// tests apart leaves it empty) and need not agree with the counts above.
	Tests []TestOutcome `json:"tests,omitempty"`
	// Since version 9 (summary_report.go). Reported is false when the runner
	// recognised no test output: the counts are then 0 and mean nothing. nil from
	// older runners, whose counts are as they are.
	Reported *bool `json:"reported,omitempty"`
	// Unknown names the counts the output's format cannot know (plain go test
	// prints no passing test): each is a lower bound, "not reported" when 0.
	Unknown []string `json:"unknown,omitempty"`
	// Failures gives each failing test of Failing (by ID) its first message line
	// and duration, as far as the output said them.
	Failures []Failure `json:"failures,omitempty"`
}

// TestOutcome is how one test ended: Outcome is one of the Outcome constants.
type TestOutcome struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
}

// Validate checks a summary.
func (s *Summary) Validate() error {
	for _, n := range []int{s.Passed, s.Failed, s.Errors, s.Skipped} {
		if n < 0 || n > 1e9 {
			return fmt.Errorf("count %d: want 0-1000000000", n)
		}
	}
	if len(s.Failing) > MaxFailing {
		return fmt.Errorf("%d failing tests listed, at most %d", len(s.Failing), MaxFailing)
	}
	for _, t := range s.Failing {
		if t == "" || strings.ContainsAny(t, "\r\n") {
			return fmt.Errorf("failing test name %q is empty or has a line break", clip(t))
		}
		if err := checkText("failing test name", t, MaxTestName); err != nil {
			return err
		}
	}
	if err := s.validateReport(); err != nil {
		return err
	}
	return s.validateTests()
}

func (s *Summary) validateTests() error {
	if len(s.Tests) == 0 {
		return nil
	}
	if len(s.Tests) > MaxTests {
		return fmt.Errorf("%d tests listed, at most %d", len(s.Tests), MaxTests)
	}
	seen := make(map[string]struct{}, len(s.Tests))
	total := 0
	for i, t := range s.Tests {
		switch {
		case t.Name == "":
			return fmt.Errorf("tests[%d]: name is empty", i)
		case len(t.Name) > MaxTestName:
			return fmt.Errorf("tests[%d]: name is %d bytes, at most %d", i, len(t.Name), MaxTestName)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("tests[%d]: name %q is not valid UTF-8", i, clip(t.Name))
		case strings.IndexFunc(t.Name, unicode.IsControl) >= 0:
			return fmt.Errorf("tests[%d]: name %q has control characters", i, clip(t.Name))
		}
		switch t.Outcome {
		case OutcomePassed, OutcomeFailed, OutcomeError, OutcomeSkipped:
		default:
			return fmt.Errorf("tests[%d] (%q): outcome %q: want passed, failed, error or skipped",
				i, clip(t.Name), clip(t.Outcome))
		}
		if _, dup := seen[t.Name]; dup {
			return fmt.Errorf("tests[%d]: name %q is listed twice", i, clip(t.Name))
		}
		seen[t.Name] = struct{}{}
		if total += len(t.Name); total > MaxTestsBytes {
			return fmt.Errorf("tests[%d]: names total more than %d bytes", i, MaxTestsBytes)
		}
	}
	return nil
}

// Result reports how one attempt ended (params of MethodJobResult). The reply is an
// empty result once it is recorded (also when it was already recorded), or an error
// with CodeStaleAttempt when a newer attempt exists: the runner then drops it.
type Result struct {
	JobID       string    `json:"job_id"`
	Attempt     int       `json:"attempt"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"` // why, for error and cancelled
	ExitCode    int       `json:"exit_code"`
	Summary     Summary   `json:"summary"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	OutputBytes int64     `json:"output_bytes"` // total output sent in job.output chunks
	// Infra marks an error caused by the runner or its environment (checkout
	// failed, runner stopping), not by the tests: the dispatcher retries it on
	// another attempt instead of recording it.
	Infra bool `json:"infra,omitempty"`
	// CPUMS is the CPU time (user and system) of all the attempt's processes
	// together, in milliseconds; PeakMemoryBytes the most memory they held at
	// once. Both since version 7, and nil where the runner did not measure them:
	// absent is "not measured", never 0.
	CPUMS           *int64 `json:"cpu_ms,omitempty"`
	PeakMemoryBytes *int64 `json:"peak_memory_bytes,omitempty"`
	// TestChunks (since VersionTestRecords) is how many job.tests chunks the
	// runner sent for this attempt: the dispatcher records the result only
	// when it holds all of them, else it refuses with CodeInternal ("have N of
	// M test chunks") and the runner sends them again, then the result.
	TestChunks int `json:"test_chunks,omitempty"`
	// RetryFailed (since VersionTestRecords) is the commit's .eventide.yml
	// retry_failed: a failed attempt is run again up to this many times, each
	// a new attempt that does not count against the dispatcher's attempt limit.
	RetryFailed int `json:"retry_failed,omitempty"`
}

// Limits on a result's usage figures: far beyond any real job (31 years of CPU,
// 1 PiB), low enough that a figure times a thousand still fits in an int64.
const (
	MaxCPUMS           = 1_000_000_000_000
	MaxPeakMemoryBytes = 1 << 50
)

// Validate checks a result.
func (r *Result) Validate() error {
	if err := checkJob(r.JobID, r.Attempt); err != nil {
		return err
	}
	switch r.Status {
	case StatusPassed, StatusFailed, StatusError, StatusCancelled:
	default:
		return fmt.Errorf("status %q: want passed, failed, error or cancelled", clip(r.Status))
	}
	if err := checkText("reason", r.Reason, MaxReasonLen); err != nil {
		return err
	}
	if r.FinishedAt.Before(r.StartedAt) {
		return errors.New("finished_at is before started_at")
	}
	if r.OutputBytes < 0 {
		return fmt.Errorf("output_bytes %d is negative", r.OutputBytes)
	}
	if err := checkMeasure("cpu_ms", r.CPUMS, MaxCPUMS); err != nil {
		return err
	}
	if err := checkMeasure("peak_memory_bytes", r.PeakMemoryBytes, MaxPeakMemoryBytes); err != nil {
		return err
	}
	if r.TestChunks < 0 || r.TestChunks > MaxTestChunks {
		return fmt.Errorf("test_chunks %d: want 0-%d", r.TestChunks, MaxTestChunks)
	}
	if r.RetryFailed < 0 || r.RetryFailed > MaxRetryFailed {
		return fmt.Errorf("retry_failed %d: want 0-%d", r.RetryFailed, MaxRetryFailed)
	}
	return r.Summary.Validate()
}

// Submit asks the dispatcher to test a commit (params of MethodCommitSubmit).
type Submit struct {
	Repo    string    `json:"repo"`
	Commit  string    `json:"commit"`
	Branch  string    `json:"branch,omitempty"`
	Author  string    `json:"author,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// Validate checks a submission.
func (s *Submit) Validate() error {
	if err := CheckRepo(s.Repo); err != nil {
		return err
	}
	if err := checkCommit(s.Commit); err != nil {
		return err
	}
	if err := CheckBranch(s.Branch); err != nil {
		return err
	}
	if err := checkText("author", s.Author, MaxAuthorLen); err != nil {
		return err
	}
	return checkText("message", s.Message, MaxMessageLen)
}

// Submitted is the reply to a submission. Duplicate is true when the same repository
// and commit was already queued or running; JobID is then that job's.
type Submitted struct {
	JobID     string `json:"job_id"`
	Duplicate bool   `json:"duplicate"`
}
