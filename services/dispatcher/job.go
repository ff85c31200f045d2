package dispatcher

import (
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// State is where a job is in its lifecycle.
type State string

// Job states: queued → assigned → running → passed | failed | error | cancelled.
const (
	StateQueued    State = "queued"
	StateAssigned  State = "assigned"
	StateRunning   State = "running"
	StatePassed    State = wire.StatusPassed
	StateFailed    State = wire.StatusFailed
	StateError     State = wire.StatusError
	StateCancelled State = wire.StatusCancelled
)

// Active reports whether a job in state s still occupies the queue or a runner.
func (s State) Active() bool {
	return s == StateQueued || s == StateAssigned || s == StateRunning
}

// Job is one commit of one repository to test.
type Job struct {
	ID      string
	Repo    string
	Commit  string
	Branch  string
	Author  string
	Message string

	State      State
	Attempt    int    // current (or last) attempt; 0 while never assigned
	Runner     string // runner of the current attempt
	Reason     string // why it ended as error or cancelled
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Attempts   []Attempt
	Result     *wire.Result // the recorded result, once finished by a runner

	logBytes  int64 // logical output offset received for the current attempt
	logStored int64 // bytes actually written to the log file (capped)
	logCut    bool
}

// Attempt is one assignment of a job to a runner.
type Attempt struct {
	N        int
	Runner   string
	Assigned time.Time
	Ended    time.Time
	Outcome  string // a final status, or "lost"/"refused" for a retried attempt
	Reason   string
}

func (j *Job) key() string { return j.Repo + "\x00" + j.Commit }

// snapshot copies what an assignment needs, so that it can be used without the lock.
func (j *Job) assign() wire.Assign {
	return wire.Assign{JobID: j.ID, Attempt: j.Attempt, Repo: j.Repo, Commit: j.Commit, Branch: j.Branch}
}

func (j *Job) endAttempt(now time.Time, outcome, reason string) {
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].N == j.Attempt && j.Attempts[n-1].Ended.IsZero() {
		j.Attempts[n-1].Ended = now
		j.Attempts[n-1].Outcome = outcome
		j.Attempts[n-1].Reason = reason
	}
}
