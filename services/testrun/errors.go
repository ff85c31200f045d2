package testrun

import "errors"

var (
	// ErrBadConfig wraps every problem with a checkout's .eventide.yml:
	// unparsable YAML, unknown keys, wrong types, an empty command, or a
	// file that is not a small regular file. The wrapping error says which.
	ErrBadConfig = errors.New("invalid .eventide.yml")

	// ErrNoTests means the checkout gives no way to test it.
	ErrNoTests = errors.New("no tests found: no .eventide.yml and no tests/ folder")

	// ErrEmptyCommand is returned (wrapped) for a Spec without a command,
	// whether it came from a config file or was built by a caller.
	ErrEmptyCommand = errors.New("empty command")

	// ErrTimeout is wrapped by Outcome.Err when the run hit its timeout.
	ErrTimeout = errors.New("timed out")

	// ErrUnkillable is wrapped by Outcome.Err when the command survived
	// SIGKILL for longer than Run is willing to wait, which in practice
	// means it is stuck in uninterruptible sleep (a hung NFS mount, say).
	ErrUnkillable = errors.New("command did not exit after SIGKILL")
)
