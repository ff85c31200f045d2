package testrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// run is Run under a job supervisor; the caller has checked spec and
// settled grace, timeout and output. The runner keeps the roles it has
// without one (timeout, cancellation, output), and the supervisor does the
// killing, so that it happens even when the runner itself is killed.
func (c *Containment) run(ctx context.Context, spec Spec, opts Options, grace, timeout time.Duration, output io.Writer) Outcome {
	token := newToken()
	marker := c.markerPrefix() + token
	cfg := supervisorConfig{Grace: grace, User: opts.User}
	var cg cgroup
	if c.mode == ModeCgroup {
		cg = cgroup(c.jobCgroup(token))
		if err := os.Mkdir(string(cg), 0o755); err != nil {
			return startFailed(fmt.Errorf("testrun: making the job's cgroup: %w", err))
		}
		cfg.Cgroup = string(cg)
	}
	rawCfg, _ := json.Marshal(cfg) // plain fields: cannot fail

	var files []*os.File // the child's ends, closed once it has them
	pipe := func() (r, w *os.File, err error) {
		if r, w, err = os.Pipe(); err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return c.startFailed(cg, err)
	}
	files = append(files, stdin)
	ctlR, ctlW, err1 := pipe()
	stR, stW, err2 := pipe()
	pr, pw, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return c.startFailed(cg, err)
	}

	cmd := exec.Command(c.exe)
	cmd.Args = append([]string{"eventide-job-supervisor"}, spec.Command...)
	cmd.Dir = opts.Dir
	// The marker goes after opts.Env, as without a supervisor, and the
	// supervisor's configuration last, which it removes before the command
	// starts.
	cmd.Env = append(jobEnviron(opts), marker, supervisorEnv+"="+string(rawCfg))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, pw, pw
	cmd.ExtraFiles = []*os.File{ctlR, stW} // fds 3 and 4
	// No Pdeathsig: the supervisor must outlive a killed runner to kill the
	// job. Its own group keeps terminal signals meant for the runner away.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	for _, f := range []*os.File{stdin, ctlR, stW, pw} {
		f.Close() // the child has its copies; ours would hide end of file
	}
	if err != nil {
		ctlW.Close()
		stR.Close()
		pr.Close()
		return c.startFailed(cg, fmt.Errorf("starting the job supervisor: %w", err))
	}
	// The control pipe's write end stays open for the whole job: closing it
	// (or dying) tells the supervisor to kill everything at once.
	defer ctlW.Close()

	sink := &drainWriter{w: output}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(sink, pr)
	}()
	type report struct {
		st  supervisorStatus
		err error
	}
	reported := make(chan report, 1)
	go func() {
		var r report
		r.err = json.NewDecoder(stR).Decode(&r.st)
		stR.Close()
		reported <- r
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
	var rep report
	got := false
	select {
	case rep = <-reported:
		got = true
	case <-timeoutC:
		res.Reason, res.Err = ReasonTimeout, fmt.Errorf("testrun: %w after %v", ErrTimeout, timeout)
	case <-ctx.Done():
		res.Reason, res.Err = ReasonCancelled, context.Cause(ctx)
	}
	if !got {
		_, _ = ctlW.Write([]byte{'T'})
		select {
		case rep = <-reported:
		case <-time.After(grace + killWait + drainSlack):
			// A supervisor that does not answer in time: everything dies now.
			ctlW.Close()
			_ = cmd.Process.Kill()
			rep = <-reported
		}
		if rep.err == nil && !rep.st.Stopped {
			res.Reason, res.Err = ReasonExited, nil // it exited before the stop
		}
	}
	ctlW.Close()
	select {
	case <-waited:
	case <-time.After(killWait):
		_ = cmd.Process.Kill()
		<-waited
	}

	// Whatever the supervisor did, nothing of the job may run on: this also
	// covers a supervisor that was itself killed.
	if cg != "" {
		_ = cg.kill()
		waitGone(cg, killWait)
		cpu, peak := cg.usage()
		res.Usage = &Usage{CPU: cpu, PeakMemory: peak}
		if err := cg.remove(); err != nil {
			res.Err = errors.Join(res.Err, err)
		}
	} else if rep.err != nil {
		// The supervisor died before the job was over (killed by the job,
		// say): its orphans are ours now, found by the marker.
		if n, err := killMarked(marker); n > 0 || err != nil {
			res.Err = errors.Join(res.Err, fmt.Errorf("testrun: %d processes outlived the job supervisor", n), err)
		}
	} else {
		res.Usage = &Usage{CPU: rep.st.CPU, PeakMemory: -1}
	}

	select {
	case <-copied:
	case <-time.After(grace + drainSlack):
	}
	pr.Close()
	<-copied

	switch {
	case rep.err != nil:
		res.Err = errors.Join(res.Err, fmt.Errorf("testrun: the job supervisor ended without a report: %w", rep.err))
	case rep.st.StartError != "":
		return Outcome{ExitCode: -1, Reason: ReasonStartFailed, Err: fmt.Errorf("testrun: %s", rep.st.StartError), Usage: res.Usage}
	default:
		res.ExitCode = rep.st.ExitCode
		if rep.st.Unkillable {
			res.Err = errors.Join(res.Err, fmt.Errorf("testrun: job processes: %w", ErrUnkillable))
		}
	}
	if sink.err != nil && res.Err == nil {
		res.Err = fmt.Errorf("testrun: writing output: %w", sink.err)
	}
	return res
}

func (c *Containment) startFailed(cg cgroup, err error) Outcome {
	if cg != "" {
		_ = cg.remove()
	}
	return startFailed(fmt.Errorf("testrun: %w", err))
}
