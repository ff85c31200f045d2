//go:build unix && !linux

package testrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// NewContainment needs Linux (cgroups, child subreapers, /proc).
func NewContainment(mode Mode, dataDir string) (*Containment, Leftovers, error) {
	return nil, Leftovers{}, fmt.Errorf("testrun: job containment: %w", errors.ErrUnsupported)
}

// MaybeSupervise returns at once: there are no job supervisors here.
func MaybeSupervise() {}

func (c *Containment) run(ctx context.Context, spec Spec, opts Options, grace, timeout time.Duration, output io.Writer) Outcome {
	return startFailed(fmt.Errorf("testrun: job containment: %w", errors.ErrUnsupported))
}
