//go:build unix && !linux

package testrun

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
)

// isSubreaper is never set here: only Linux has child subreapers.
var isSubreaper atomic.Bool

// BecomeSubreaper is Linux-only; elsewhere orphans go to init.
func BecomeSubreaper() error {
	return fmt.Errorf("testrun: child subreaper: %w", errors.ErrUnsupported)
}

// scan needs /proc. Without it procTree falls back to the process
// group alone, and escapees that called setsid are not found.
func scan(sel selector) ([]member, error) {
	return nil, errors.ErrUnsupported
}

// sysProcAttr puts the command in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
