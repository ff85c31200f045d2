package dispatcher

import (
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// The job record is the store's: what the dispatcher holds in memory is what it
// records.
type (
	Job     = store.Job
	Attempt = store.Attempt
	State   = wire.State
)

// job is a Job with what the dispatcher tracks of its current attempt.
type job struct {
	Job
	logBytes  int64          // logical output offset received for the current attempt
	headEnd   int64          // end of the stored head of the current attempt's output
	headDone  bool           // the head is complete: later output is tail
	extents   []store.Extent // stored chunks of the tail, oldest first
	logStored int64          // their total size
	stopping  bool           // a cancel was asked for: the runner's result ends it
	owner     string         // the credential that queued it (submit or retry), for its quota; "" after a restart
	saved     *store.Ticket  // the last change's; acknowledge nothing before it
	// out is the current attempt's whole output while it is small and came in order
	// (outOK): the result file is then written from it instead of from the store.
	out   []byte
	outOK bool
	// tests are the current attempt's per-test records received so far.
	tests *testChunks
	// found is what storing the result will reveal about flaky tests, for
	// the result file (finishedLocked hands it on).
	found *store.Flakiness
}

func (j *job) key() string { return j.Repo + "\x00" + j.Commit }

// assign copies what an assignment needs, so that it can be used without the lock.
func (j *job) assign() wire.Assign {
	return wire.Assign{JobID: j.ID, Attempt: j.Attempt, Repo: j.Repo, Commit: j.Commit, Branch: j.Branch}
}

// copy is a deep copy of the record, safe to use without the lock.
func (j *job) copy() Job {
	c := j.Job
	c.Attempts = append([]Attempt(nil), j.Attempts...)
	return c
}

// current is the attempt in progress (or the last one), or nil before the first.
func (j *job) current() *Attempt {
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].N == j.Attempt {
		return &j.Attempts[n-1]
	}
	return nil
}

func (j *job) endAttempt(now time.Time, outcome, reason string) {
	if a := j.current(); a != nil && a.Ended.IsZero() {
		a.Ended, a.Outcome, a.Reason = now, outcome, reason
	}
}

// infraStreak counts the attempts at the end of the history that ended without a
// verdict from the tests (lost runner, refusal, infrastructure error): those are
// what --max-attempts limits, so a manual retry starts a fresh count.
func (j *job) infraStreak() int {
	n := 0
	for i := len(j.Attempts) - 1; i >= 0 && j.Attempts[i].N > j.RetryBase; i-- {
		switch j.Attempts[i].Outcome {
		case outcomeLost, outcomeRefused, outcomeInfra:
			n++
		default:
			return n
		}
	}
	return n
}

// failedSince counts the attempts since the last retry by a person that
// ended failed: the re-runs retry_failed has made so far, plus the first.
func (j *job) failedSince() int {
	n := 0
	for _, a := range j.Attempts {
		if a.N > j.RetryBase && a.Outcome == wire.StatusFailed {
			n++
		}
	}
	return n
}

// rerunDue says whether the next attempt re-runs a failed one: the last
// attempt with a verdict since a person's retry failed (attempts lost on the
// way do not change that).
func (j *job) rerunDue() bool {
	for i := len(j.Attempts) - 1; i >= 0 && j.Attempts[i].N > j.RetryBase; i-- {
		switch j.Attempts[i].Outcome {
		case outcomeLost, outcomeRefused, outcomeInfra:
			continue
		}
		return j.Attempts[i].Outcome == wire.StatusFailed
	}
	return false
}

// Outcomes of attempts that were retried.
const (
	outcomeLost    = "lost"
	outcomeRefused = "refused"
	outcomeInfra   = "infra"
	outcomeRetried = "retried" // ended by a manual retry
)

func short(commit string) string { return commit[:min(len(commit), 12)] }
