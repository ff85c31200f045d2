package wire

// This file is the one definition of a job's lifecycle vocabulary: the store, the
// dispatcher and the console all use these words and predicates.
//
//	queued → assigned → running → passed | failed | error | cancelled
//
// The active states keep a job in the queue or on a runner; the final ones are
// also the status of the result that ended it (Result.Status), which is why they
// are named Status….
//
// Where the wire's words differ from the lifecycle's (kept for compatibility, not
// renamed):
//   - cancel is MethodJobStop from a console and MethodJobCancel to a runner;
//   - drain is MethodRunnerStop from a console and MethodRunnerDrain from a runner
//     (or hello.draining).

// State is where a job is in its lifecycle, as the store keeps it and the console
// and history show it.
type State string

// The active states.
const (
	StateQueued   = "queued"
	StateAssigned = "assigned"
	StateRunning  = "running"
)

// The final states, which are also a result's status.
const (
	StatusPassed    = "passed"
	StatusFailed    = "failed"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// Active reports whether a job in state s still occupies the queue or a runner.
func (s State) Active() bool {
	switch s {
	case StateQueued, StateAssigned, StateRunning:
		return true
	}
	return false
}

// Final reports whether a job in state s has ended: it has a verdict, or was
// given up on or cancelled.
func (s State) Final() bool {
	switch s {
	case StatusPassed, StatusFailed, StatusError, StatusCancelled:
		return true
	}
	return false
}

// ValidState reports whether s names a job state.
func ValidState(s string) bool {
	st := State(s)
	return st.Active() || st.Final()
}
