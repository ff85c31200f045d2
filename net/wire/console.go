package wire

import (
	"fmt"
	"time"
)

// The console role (since protocol version 3): a dashboard subscribes to the
// dispatcher's state, queries history, and asks for retries, cancels and drains.
// History queries are also open to any console-role client, such as a script.
const (
	// MethodConsoleSubscribe asks for a Snapshot; ConsoleEvents notifications
	// follow until the connection closes (console → dispatcher request).
	MethodConsoleSubscribe = "console.subscribe"
	// MethodConsoleEvents carries a batch of Events (dispatcher → console notification).
	MethodConsoleEvents = "console.events"
	// MethodJobsList queries jobs, newest first (console → dispatcher request).
	MethodJobsList = "jobs.list"
	// MethodJobGet returns one job with its attempts (console → dispatcher request).
	MethodJobGet = "job.get"
	// MethodJobLog returns part of an attempt's stored output (console → dispatcher request).
	MethodJobLog = "job.log"
	// MethodJobRetry makes a new attempt of a job (console → dispatcher request).
	MethodJobRetry = "job.retry"
	// MethodJobStop cancels a queued or running job (console → dispatcher request).
	MethodJobStop = "job.stop"
	// MethodRunnerStop drains a runner: it finishes its jobs and takes no more
	// (console → dispatcher request).
	MethodRunnerStop = "runner.stop"
	// MethodRunnerRevoke (since version 8) revokes a runner's identity: its
	// connection closes, its jobs are queued again and its identity is refused
	// from then on (console → dispatcher request).
	MethodRunnerRevoke = "runner.revoke"
	// MethodObserverPosition asks which commit the dispatcher last accepted on each
	// branch of a repository, so that an observer resumes where it left off
	// (observer → dispatcher request).
	MethodObserverPosition = "observer.position"
)

// Runner states as the console sees them.
const (
	RunnerIdle     = "idle"
	RunnerBusy     = "busy"
	RunnerDraining = "draining"
	RunnerLost     = "lost"
)

// JobInfo is a job as the console and history queries see it.
type JobInfo struct {
	ID         string    `json:"id"`
	Repo       string    `json:"repo"`
	Commit     string    `json:"commit"`
	Branch     string    `json:"branch,omitempty"`
	Author     string    `json:"author,omitempty"`
	Message    string    `json:"message,omitempty"`
	State      State     `json:"state"`
	Attempt    int       `json:"attempt"`
	Runner     string    `json:"runner,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	QueuedAt   time.Time `json:"queued_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Summary and ExitCode are set once a runner reported a result.
	Summary  *Summary `json:"summary,omitempty"`
	ExitCode int      `json:"exit_code,omitempty"`
	// CPUMS and PeakMemoryBytes are the result's (since version 7): absent
	// when not measured.
	CPUMS           *int64 `json:"cpu_ms,omitempty"`
	PeakMemoryBytes *int64 `json:"peak_memory_bytes,omitempty"`
	// Waiting says why a queued job is not running yet ("3rd in queue", "all 4
	// slots busy", "no runner connected").
	Waiting  string        `json:"waiting,omitempty"`
	Attempts []AttemptInfo `json:"attempts,omitempty"` // job.get only
	// Flaky (since VersionTestRecords): the job passed after an attempt of
	// the same commit failed (a retry_failed re-run, a retry, another job of
	// the commit). The state stays passed; it is shown "passed · flaky".
	Flaky bool `json:"flaky,omitempty"`
	// FlakyTests are the ids of the job's tests that failed in one attempt
	// and passed in another of the same commit, at most MaxFlakyTests.
	FlakyTests []string `json:"flaky_tests,omitempty"`
	// TestsTotal is how many per-test records the current attempt has stored.
	TestsTotal int `json:"tests_total,omitempty"`
	// Tests is the page of per-test records job.get asked for (job.get only).
	Tests *TestPage `json:"tests,omitempty"`
}

// AttemptInfo is one assignment of a job to a runner.
type AttemptInfo struct {
	N        int       `json:"n"`
	Runner   string    `json:"runner"`
	Assigned time.Time `json:"assigned"`
	Ended    time.Time `json:"ended,omitzero"`
	// Outcome is a final status, or lost/refused/infra/retried for an attempt that
	// was given up on; empty while it runs.
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// LogBytes is how much of the attempt's output is stored.
	LogBytes int64 `json:"log_bytes"`
	// Rerun (since VersionTestRecords): the attempt re-runs a failed one
	// because of the commit's retry_failed; it does not count against the
	// dispatcher's attempt limit.
	Rerun bool `json:"rerun,omitempty"`
}

// RunnerInfo is a runner as the console sees it.
type RunnerInfo struct {
	Name     string    `json:"name"`
	State    string    `json:"state"`
	Labels   []string  `json:"labels,omitempty"`
	Slots    int       `json:"slots"`
	Jobs     []string  `json:"jobs,omitempty"` // ids of the jobs it holds
	Done     int       `json:"done"`           // jobs finished since it registered
	LastSeen time.Time `json:"last_seen"`      // last frame received from it
	Remote   string    `json:"remote,omitempty"`
	// Identity and Enrolled (since version 8) are the runner's identity id and
	// when it enrolled.
	Identity string    `json:"identity,omitempty"`
	Enrolled time.Time `json:"enrolled,omitzero"`
}

// Snapshot is the reply to console.subscribe: the whole live state, then events.
type Snapshot struct {
	Server    string       `json:"server"`
	Address   string       `json:"address,omitempty"` // where the dispatcher listens
	StartedAt time.Time    `json:"started_at"`
	Runners   []RunnerInfo `json:"runners"`
	// Jobs are the active jobs and the most recent finished ones, newest first.
	Jobs []JobInfo `json:"jobs"`
}

// Event kinds.
const (
	EventJob    = "job"    // a job was queued or changed state: Job is set
	EventRunner = "runner" // a runner registered, changed or was lost: Runner is set
	EventOutput = "output" // output arrived: Output is set (data may be cut)
)

// Event is one change in the dispatcher's state.
type Event struct {
	Kind   string      `json:"kind"`
	Job    *JobInfo    `json:"job,omitempty"`
	Runner *RunnerInfo `json:"runner,omitempty"`
	Output *Output     `json:"output,omitempty"`
}

// Events is a batch of events (params of MethodConsoleEvents): bursts are coalesced.
// Dropped counts events left out because the console fell behind; after any drop
// the console should subscribe again for a fresh snapshot.
type Events struct {
	Events  []Event `json:"events"`
	Dropped int     `json:"dropped,omitempty"`
}

// MaxListLimit bounds a jobs.list page.
const MaxListLimit = 1000

// JobQuery selects jobs (params of MethodJobsList). Empty fields match anything.
type JobQuery struct {
	States []string  `json:"states,omitempty"`
	Repo   string    `json:"repo,omitempty"`
	Commit string    `json:"commit,omitempty"` // a full commit id
	Branch string    `json:"branch,omitempty"`
	Since  time.Time `json:"since,omitzero"` // queued at or after
	Until  time.Time `json:"until,omitzero"` // queued before
	Limit  int       `json:"limit,omitempty"`
	// Before continues a listing: jobs queued before the job with this id.
	Before string `json:"before,omitempty"`
}

// Validate checks a query.
func (q *JobQuery) Validate() error {
	if len(q.States) > 8 {
		return fmt.Errorf("states: at most 8")
	}
	for _, s := range q.States {
		if !ValidState(s) {
			return fmt.Errorf("state %q: not a job state", clip(s))
		}
	}
	if q.Repo != "" {
		if err := CheckRepo(q.Repo); err != nil {
			return err
		}
	}
	if q.Commit != "" {
		if err := checkCommit(q.Commit); err != nil {
			return err
		}
	}
	if err := CheckBranch(q.Branch); err != nil {
		return err
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return fmt.Errorf("limit %d: want 0-%d", q.Limit, MaxListLimit)
	}
	if q.Before != "" && !ValidJobID(q.Before) {
		return fmt.Errorf("before: job_id %q: want 16 lowercase hex characters", clip(q.Before))
	}
	return nil
}

// JobList is the reply to jobs.list.
type JobList struct {
	Jobs []JobInfo `json:"jobs"`
	More bool      `json:"more"` // more jobs match; ask again with Before
}

// JobID names a job (params of job.get, job.retry and job.stop).
type JobID struct {
	JobID string `json:"job_id"`
}

// Validate checks a job id.
func (j *JobID) Validate() error {
	if !ValidJobID(j.JobID) {
		return fmt.Errorf("job_id %q: want 16 lowercase hex characters", clip(j.JobID))
	}
	return nil
}

// MaxLogRead bounds one job.log reply, well under the frame limit once escaped.
const MaxLogRead = 256 << 10

// LogQuery asks for an attempt's output from Offset (params of MethodJobLog).
// Attempt 0 means the job's current attempt.
type LogQuery struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt,omitempty"`
	Offset  int64  `json:"offset,omitempty"`
	Limit   int    `json:"limit,omitempty"` // bytes; 0 or over MaxLogRead means MaxLogRead
}

// Validate checks a log query.
func (q *LogQuery) Validate() error {
	if !ValidJobID(q.JobID) {
		return fmt.Errorf("job_id %q: want 16 lowercase hex characters", clip(q.JobID))
	}
	if q.Attempt < 0 || q.Attempt > MaxAttempt {
		return fmt.Errorf("attempt %d: want 0-%d", q.Attempt, MaxAttempt)
	}
	if q.Offset < 0 {
		return fmt.Errorf("offset %d is negative", q.Offset)
	}
	if q.Limit < 0 {
		return fmt.Errorf("limit %d is negative", q.Limit)
	}
	return nil
}

// LogChunk is the reply to job.log. Offsets are positions in the attempt's output
// as the runner produced it. Data may hold markers where output was lost or
// dropped (so its length need not be Next-Offset): ask again from Next to
// continue. Start is the first offset still stored. Gap (since version 6) is the
// hole dropped between the log's head and its tail to keep it under its size
// limit; it grows as the tail moves on.
type LogChunk struct {
	JobID   string  `json:"job_id"`
	Attempt int     `json:"attempt"`
	Offset  int64   `json:"offset"` // where Data starts
	Data    string  `json:"data"`
	Next    int64   `json:"next"`  // offset to ask for next
	Start   int64   `json:"start"` // first stored offset
	End     int64   `json:"end"`   // end of the stored output so far
	Final   bool    `json:"final"` // the attempt has ended: End will not grow
	Gap     *LogGap `json:"gap,omitempty"`
}

// LogGap is output dropped from a log: Length bytes from Offset.
type LogGap struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// RunnerName names a runner (params of runner.stop).
type RunnerName struct {
	Name string `json:"name"`
}

// Validate checks a runner name.
func (r *RunnerName) Validate() error { return CheckName(r.Name) }

// PositionQuery asks for a repository's last accepted commits (params of
// MethodObserverPosition).
type PositionQuery struct {
	Repo string `json:"repo"`
}

// Validate checks a position query.
func (q *PositionQuery) Validate() error { return CheckRepo(q.Repo) }

// Position is the reply to observer.position: for each branch, the last commit the
// dispatcher accepted from an observer. Known is false when the dispatcher has
// never accepted a commit for the repository.
type Position struct {
	Known    bool              `json:"known"`
	Branches map[string]string `json:"branches"`
}

// Validate checks a position as an observer receives it.
func (p *Position) Validate() error {
	for b, c := range p.Branches {
		if err := CheckBranch(b); err != nil {
			return err
		}
		if err := checkCommit(c); err != nil {
			return err
		}
	}
	return nil
}
