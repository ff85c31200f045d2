package testrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

const (
	// TokenEnv is the environment variable that marks every process of a
	// run. Descendants inherit it even after leaving the process group, so
	// it is how escaped daemons are found.
	TokenEnv = "EVENTIDE_RUN_TOKEN"

	// DefaultGrace is the SIGTERM to SIGKILL delay when Options.Grace is 0.
	DefaultGrace = 5 * time.Second

	// killWait bounds how long we keep re-sending SIGKILL and then wait for
	// the command itself to be reaped. SIGKILL cannot be caught, so only a
	// process in uninterruptible sleep takes longer than this.
	killWait = 2 * time.Second

	// drainSlack is added to the grace period when waiting for EOF on the
	// output pipe after all known processes are dead.
	drainSlack = time.Second
)

// Options for Run.
type Options struct {
	Dir string
	Env []string // extra env entries appended to os.Environ()
	// Hide names variables of os.Environ() the job does not get: the runner's
	// own settings and credentials.
	Hide []string
	// User, when set, is who the job's processes run as (the runner must be
	// root); nil runs them as the runner's user. Dir must be theirs to use.
	User    *User
	Output  io.Writer     // combined stdout+stderr, written as produced (must be safe to call from one goroutine)
	Grace   time.Duration // SIGTERM -> SIGKILL grace, default 5s
	Timeout time.Duration // whole-run timeout, 0 = none; a non-zero Spec.Timeout overrides it
	// Contain runs the command under a job supervisor that kills everything
	// it started even if this process dies, in a cgroup where it has one.
	// Without it the command is this process's child and Run does the
	// killing, which a SIGKILLed runner cannot.
	Contain *Containment
}

// Outcome is how a run ended.
type Outcome struct {
	ExitCode int    // -1 if killed by signal or not started
	Reason   Reason // why it ended
	Duration time.Duration
	// Err is nil when the command ran to completion, whatever its exit
	// code. Otherwise it wraps the start failure, ErrTimeout, the
	// context's cause, ErrUnkillable, or the error from writing Output.
	Err error
	// Usage is what the job consumed, nil where it was not measured
	// (without Options.Contain).
	Usage *Usage
}

// Usage is what a job consumed, all its processes together.
type Usage struct {
	CPU time.Duration // user and system time
	// PeakMemory is the most memory the job's cgroup held at once, in bytes;
	// -1 when not measured: in pgroup mode, and where the cgroup2 tree does
	// not enable the memory controller for it.
	PeakMemory int64
}

// Reason says why a run ended.
type Reason int

const (
	ReasonExited      Reason = iota // the command exited (or died of a signal) by itself
	ReasonTimeout                   // the run exceeded its timeout and was killed
	ReasonCancelled                 // the context was cancelled and the run was killed
	ReasonStartFailed               // the command never started
)

func (r Reason) String() string {
	switch r {
	case ReasonExited:
		return "exited"
	case ReasonTimeout:
		return "timeout"
	case ReasonCancelled:
		return "cancelled"
	case ReasonStartFailed:
		return "start failed"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Run runs spec.Command in opts.Dir and returns once the command and every
// process it left behind are gone and its output has been delivered.
//
// The effective timeout is spec.Timeout when non-zero, else opts.Timeout;
// a caller that has already merged the two gets the same result. On
// timeout or ctx cancellation the whole job receives SIGTERM, then SIGKILL
// after opts.Grace. When the command exits by itself, anything it left
// running is stopped the same way before Run returns.
//
// Run blocks until every write to opts.Output has returned; an Output that
// blocks forever blocks Run.
func Run(ctx context.Context, spec Spec, opts Options) Outcome {
	start := time.Now()
	out := run(ctx, spec, opts)
	out.Duration = time.Since(start)
	return out
}

func run(ctx context.Context, spec Spec, opts Options) Outcome {
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return startFailed(fmt.Errorf("testrun: %w", ErrEmptyCommand))
	}
	if ctx.Err() != nil {
		return Outcome{ExitCode: -1, Reason: ReasonCancelled, Err: context.Cause(ctx)}
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	timeout := opts.Timeout
	if spec.Timeout > 0 {
		timeout = spec.Timeout
	}
	output := opts.Output
	if output == nil {
		output = io.Discard
	}
	if opts.Contain != nil {
		return opts.Contain.run(ctx, spec, opts, grace, timeout, output)
	}

	marker := TokenEnv + "=" + newToken()
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Dir = opts.Dir
	// The marker goes last: os/exec keeps the last of duplicate keys, so
	// neither the runner's own environment (a nested eventide) nor
	// opts.Env can replace it.
	cmd.Env = append(jobEnviron(opts), marker)
	// A group of its own lets one kill(-pgid) reach the whole job, and
	// keeps terminal signals meant for the runner away from it.
	cmd.SysProcAttr = sysProcAttr()
	if opts.User != nil {
		cmd.SysProcAttr.Credential = opts.User.credential()
	}

	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return startFailed(fmt.Errorf("testrun: %w", err))
	}
	// One pipe for both streams keeps their relative order, and passing
	// *os.File means os/exec hands the fd to the child instead of starting
	// copy goroutines that would tie Wait to the pipe's EOF.
	pr, pw, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return startFailed(fmt.Errorf("testrun: %w", err))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, pw, pw
	err = cmd.Start()
	// The child holds its own copies now. Ours must go, or the read end
	// would never see EOF.
	pw.Close()
	stdin.Close()
	if err != nil {
		pr.Close()
		return startFailed(fmt.Errorf("testrun: starting %q: %w", spec.Command[0], err))
	}

	// Output errors must not stop the copy: a full pipe would block the
	// test on its next write and turn a logging problem into a timeout.
	sink := &drainWriter{w: output}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(sink, pr)
	}()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timeoutC <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		timeoutC = timer.C
	}

	res := Outcome{ExitCode: -1, Reason: ReasonExited}
	var waitErr error
	exited := false
	select {
	case waitErr = <-waited:
		exited = true
	case <-timeoutC:
		res.Reason, res.Err = ReasonTimeout, fmt.Errorf("testrun: %w after %v", ErrTimeout, timeout)
	case <-ctx.Done():
		res.Reason, res.Err = ReasonCancelled, context.Cause(ctx)
	}
	if !exited {
		// An exit that raced with the deadline still counts as an exit.
		select {
		case waitErr = <-waited:
			exited = true
			res.Reason, res.Err = ReasonExited, nil
		default:
		}
	}

	tree := newProcTree(cmd.Process.Pid, marker)
	// On the exit path this stops leftovers; on the others it stops the
	// command too. Either way nothing of the job is running afterwards.
	tree.terminate(grace)
	if !exited {
		select {
		case waitErr = <-waited:
			exited = true
		case <-time.After(killWait):
			res.Err = errors.Join(res.Err, fmt.Errorf("testrun: pid %d: %w", cmd.Process.Pid, ErrUnkillable))
		}
	}
	tree.reap(killWait)

	// Every process we know of is dead, so EOF should be immediate. A
	// process that escaped both the group and the marker (env -i setsid ...)
	// may still hold the pipe; don't let it hold the job too. The price is
	// that an Output lagging by more than the bound loses what is still
	// buffered in the pipe (at most 64 KiB on Linux).
	select {
	case <-copied:
	case <-time.After(grace + drainSlack):
	}
	pr.Close() // unblocks a pending Read, so the wait below is short
	<-copied

	if exited {
		res.ExitCode = cmd.ProcessState.ExitCode()
		var exitErr *exec.ExitError
		if waitErr != nil && !errors.As(waitErr, &exitErr) {
			res.Err = errors.Join(res.Err, fmt.Errorf("testrun: waiting for command: %w", waitErr))
		}
	}
	if sink.err != nil && res.Err == nil {
		res.Err = fmt.Errorf("testrun: writing output: %w", sink.err)
	}
	return res
}

func startFailed(err error) Outcome {
	return Outcome{ExitCode: -1, Reason: ReasonStartFailed, Err: err}
}

// newToken returns 128 random bits as hex, enough that no two runs on a
// machine share a marker.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // documented never to fail
	return hex.EncodeToString(b[:])
}

// drainWriter forwards to w until the first error, then discards, always
// reporting success so that io.Copy keeps emptying the pipe.
type drainWriter struct {
	w   io.Writer
	err error
}

func (d *drainWriter) Write(p []byte) (int, error) {
	if d.err == nil {
		var n int
		n, d.err = d.w.Write(p)
		if d.err == nil && n < len(p) {
			d.err = io.ErrShortWrite
		}
	}
	return len(p), nil
}
