// Package store keeps the dispatcher's state durable: jobs and their attempts,
// results with per-test outcomes, attempt logs, the runners seen, and where each
// observed repository's branches were last dispatched.
//
// The dispatcher works from memory and records every change here through Apply,
// which batches changes from many goroutines into one transaction (group commit):
// each caller waits for its Ticket before it acknowledges anything to a peer, so
// nothing acknowledged is ever lost, and one fsync serves many changes.
//
// SQLite (NewSQLite) is the implementation; the Store interface is what another
// database (PostgreSQL, for several dispatchers) would implement. No SQL lives
// outside this package.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// Store is the dispatcher's durable state.
type Store interface {
	// Load returns what a starting dispatcher resumes from.
	Load(ctx context.Context, recent int) (*Snapshot, error)
	// Apply queues changes; they commit in the order given, in a batch with
	// others. Wait on the ticket before acknowledging them to anyone.
	Apply(ops ...Op) *Ticket
	// Err reports the last write failure while writes are failing (they are
	// retried), or nil.
	Err() error

	Job(ctx context.Context, id string) (Job, error) // ErrNotFound
	Jobs(ctx context.Context, q JobQuery) (jobs []Job, more bool, err error)
	// Log reads an attempt's output from offset; limit 0 reads it all.
	Log(ctx context.Context, id string, attempt int, offset int64, limit int) (LogPart, error)
	// Position returns the last dispatched commit of each branch of repo, and
	// whether any was ever recorded.
	Position(ctx context.Context, repo string) (map[string]string, bool, error)
	// Prune deletes the logs of jobs that finished before t; it returns how many
	// attempts' logs went.
	Prune(ctx context.Context, before time.Time) (int, error)
	// Unwritten returns finished jobs whose result file is not written yet,
	// oldest first, at most limit of them.
	Unwritten(ctx context.Context, limit int) ([]Job, error)
	// Tests reads a page of an attempt's per-test records: at most limit from
	// offset, in the order reported or slowest first (wire.TestsSlowest).
	Tests(ctx context.Context, id string, attempt, offset, limit int, order string) (TestPage, error)
	// Flaky lists a repository's flaky tests, most recently seen first.
	Flaky(ctx context.Context, repo string, limit int) ([]FlakyTest, error)

	// Close writes what is queued and closes the store.
	Close() error
}

// UnwrittenLoaded bounds Snapshot.Unwritten.
const UnwrittenLoaded = 10000

// ErrNotFound is returned for a job the store does not have.
var ErrNotFound = errors.New("not found")

// Job is one commit of one repository to test.
type Job struct {
	ID      string
	Repo    string
	Commit  string
	Branch  string
	Author  string
	Message string

	State   wire.State
	Attempt int    // current (or last) attempt; 0 while never assigned
	Runner  string // runner of the current attempt
	// RunnerID is the identity the current attempt is leased to: only it may
	// report the attempt's output and result.
	RunnerID   string
	Reason     string // why it ended as error or cancelled
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// Seq orders the queue: lower runs first (a retried job gets a lower one).
	Seq int64
	// RetryBase is the attempt a person last retried from: automatic retries are
	// counted from there.
	RetryBase int
	// FileWritten is set once test_results/<commit> holds the final result.
	FileWritten bool

	Attempts []Attempt
	Result   *Result // the recorded result of the current attempt, once finished by a runner
	// FlakyTests are the tests of the job's commit that failed in one attempt
	// and passed in another (of any job of the commit), at most
	// wire.MaxFlakyTests, in id order. Read only: stored with results.
	FlakyTests []string
}

// Attempt is one assignment of a job to a runner.
type Attempt struct {
	N        int
	Runner   string
	Assigned time.Time
	Ended    time.Time
	Outcome  string // a final status, or "lost"/"refused"/"infra" for a retried attempt
	Reason   string
	LogBytes int64 // output stored (Job only: not kept up to date in memory)
	// Rerun is set on an attempt that re-runs a failed one (retry_failed).
	Rerun bool
}

// Result is how an attempt ended, as its runner reported it.
type Result struct {
	Attempt     int
	Status      wire.State // a final state
	Reason      string     // why, for error and cancelled
	ExitCode    int
	Summary     Summary
	StartedAt   time.Time
	FinishedAt  time.Time
	OutputBytes int64 // the output the runner sent in all
	// CPUMS and PeakMemoryBytes are what the attempt's processes consumed
	// (CPU milliseconds, bytes), nil where the runner did not measure it.
	CPUMS, PeakMemoryBytes *int64
	// TestsTotal is how many per-test records the attempt has (read only:
	// PutResult counts its Tests).
	TestsTotal int
	// Flaky is set on a passed result of a commit that another attempt (of
	// this job or another) failed. Read only: the store works it out.
	Flaky bool
}

// Summary counts an attempt's tests and names the failing ones; each test's
// record is stored apart (PutResult.Tests) and read a page at a time (Tests).
type Summary struct {
	Passed, Failed, Errors, Skipped int
	Failing                         []string
	// Reported is false when the runner recognised no test output, nil from
	// runners before protocol 9. Unknown names the counts the output could not
	// know (wire's Count constants). Failures give failing tests their message.
	Reported *bool
	Unknown  []string
	Failures []Failure
}

// Failure is a failing test's first message line and duration in
// milliseconds, nil when not reported.
type Failure struct {
	ID         string `json:"id"`
	Message    string `json:"message,omitempty"`
	DurationMS *int64 `json:"duration_ms,omitempty"`
}

// TestRecord is how one test ended in an attempt.
type TestRecord struct {
	ID         string
	Suite      string
	Outcome    string // one of wire's Outcome constants
	DurationMS *int64 // nil: not reported
	Message    string
}

// TestPage is part of an attempt's per-test records; Total counts them all.
type TestPage struct {
	Total int
	Tests []TestRecord
}

// FlakyTest is a test of a repository that failed in one attempt and passed in
// another of the same commit, on Flips commits; the Last fields are the latest.
type FlakyTest struct {
	ID         string
	Suite      string
	Flips      int
	LastSeen   time.Time
	LastJob    string
	LastCommit string
}

// Flakiness is what storing a result found out about its commit, filled in by
// the store before the result's ticket is done (read it only after).
type Flakiness struct {
	// Flaky: the result passed, and another attempt of the commit failed.
	Flaky bool
	// Tests are the commit's flaky tests (at most wire.MaxFlakyTests).
	Tests []string
	// Jobs are other jobs of the commit whose passed result is flaky now,
	// because this result failed.
	Jobs []string
}

// JobQuery selects jobs for Store.Jobs: every field set must match.
type JobQuery struct {
	States []wire.State
	Repo   string
	Commit string // a full commit id
	Branch string
	Since  time.Time // queued at or after
	Until  time.Time // queued before
	Limit  int       // at most this many (DefaultListLimit when 0)
	// Before continues a listing: jobs queued before the job with this id.
	Before string
}

// Runner is what the store remembers of a runner.
type Runner struct {
	Name      string
	Labels    []string
	Slots     int
	FirstSeen time.Time
	LastSeen  time.Time
	Done      int
	LastError string
}

// Extent is one stored chunk of output: Len bytes at Offset.
type Extent struct {
	Offset int64
	Len    int64
}

// Snapshot is what a dispatcher resumes from.
type Snapshot struct {
	// Active are the queued jobs in queue order, then the assigned and running ones.
	Active []Job
	// Extents are the stored chunks of each active job's current attempt, by job id.
	Extents map[string][]Extent
	// Recent are the most recently finished jobs, oldest first.
	Recent []Job
	// Unwritten are finished jobs whose result file was not written yet: the
	// oldest UnwrittenLoaded of them (Store.Unwritten pages through the rest).
	Unwritten []Job
	Runners   []Runner
	// Identities are every runner identity issued, revoked ones included.
	Identities []Identity
}

// Identity is a runner's identity: the name it enrolled with (or last used) and
// the SHA-256 of its secret, never the secret.
type Identity struct {
	ID           string
	Name         string
	SecretSHA256 [32]byte
	EnrolledAt   time.Time
	RevokedAt    time.Time // zero while it is valid
}

// LogPart is part of an attempt's output. Data holds markers where output was
// dropped or lost, so read on from Next, not from Offset+len(Data).
type LogPart struct {
	Data  string
	Next  int64
	Start int64 // first stored offset
	End   int64 // end of the stored output
	// Dropped is the hole left between the head and the tail to keep the log
	// under its size limit (Len 0: none).
	Dropped Extent
}

// An Op is one change to record.
type Op interface{ op() }

// PutJob inserts or updates a job's own fields (not its attempts or result).
type PutJob struct{ Job Job }

// PutAttempt inserts or updates one attempt of a job.
type PutAttempt struct {
	JobID   string
	Attempt Attempt
}

// PutResult records a runner's result for an attempt with its per-test
// records, all in the batch's one transaction, and works out which tests of
// the commit flipped between attempts (Repo and Commit are the job's).
type PutResult struct {
	JobID        string
	Repo, Commit string
	Result       Result
	Tests        []TestRecord // in the order reported
	// Found, when not nil, is filled in with what the result reveals.
	Found *Flakiness
}

// AppendLog stores a chunk of an attempt's output at its offset.
type AppendLog struct {
	JobID   string
	Attempt int
	Offset  int64
	Data    string
}

// TrimLog drops an attempt's output from From up to Before, to keep the log under
// its cap: a chunk across Before keeps its part from Before on. It records Before
// as the cut: a gap ending at or before it was dropped on purpose, not lost.
type TrimLog struct {
	JobID   string
	Attempt int
	From    int64
	Before  int64
}

// DeleteLog drops an attempt's output.
type DeleteLog struct {
	JobID   string
	Attempt int
}

// MarkFileWritten records that a job's result file is on disk.
type MarkFileWritten struct{ JobID string }

// PutRunner inserts or updates a runner.
type PutRunner struct{ Runner Runner }

// PutIdentity inserts or updates a runner identity (its name, its revocation).
type PutIdentity struct{ Identity Identity }

// PutPosition records the last commit dispatched on a branch of a repository.
type PutPosition struct {
	Repo, Branch, Commit string
}

func (PutJob) op()          {}
func (PutAttempt) op()      {}
func (PutResult) op()       {}
func (AppendLog) op()       {}
func (TrimLog) op()         {}
func (DeleteLog) op()       {}
func (MarkFileWritten) op() {}
func (PutRunner) op()       {}
func (PutPosition) op()     {}
func (PutIdentity) op()     {}

// Ticket is the promise of a batch: Wait returns once its changes are durable.
type Ticket struct {
	done chan struct{}
	err  error
}

func newTicket() *Ticket { return &Ticket{done: make(chan struct{})} }

// Done is closed once the batch is committed (or the store closed without it).
func (t *Ticket) Done() <-chan struct{} { return t.done }

// Wait blocks until the changes are durable, ctx ends, or the store closed.
func (t *Ticket) Wait(ctx context.Context) error {
	if t == nil {
		return nil
	}
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrClosed is a ticket's error when the store closed before its batch committed.
var ErrClosed = errors.New("store closed")
