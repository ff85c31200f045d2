package dispatcher

import (
	"errors"

	"github.com/eventide-ci/eventide/net/wire"
)

// errStale is the reply to anything about an attempt that is no longer current.
func errStale(jobID string, got, current int) error {
	return wire.Errorf(wire.CodeStaleAttempt, "job %s attempt %d is no longer current (current attempt %d)", jobID, got, current)
}

var errUnknownJob = errors.New("unknown job")

func errNoJob(id string) error {
	return wire.Errorf(wire.CodeUnknownJob, "job %s: %v", id, errUnknownJob)
}

// errTransition is the error of an event the job's state does not allow.
var errTransition = errors.New("not allowed in this state")
