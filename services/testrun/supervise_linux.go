package testrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supervisorEnv carries a job supervisor's configuration from the runner
// (see Containment.run), and tells MaybeSupervise that this process is one.
const supervisorEnv = "EVENTIDE_JOB_SUPERVISOR"

// The runner talks to its supervisor over two pipes, passed as these fds.
// Control, runner to supervisor: a byte asks it to stop the job (SIGTERM,
// grace, SIGKILL); end of file means the runner is gone, however it died,
// and the job is SIGKILLed at once. Status, supervisor to runner: one JSON
// supervisorStatus once the job is over, then end of file.
const (
	controlFD = 3
	statusFD  = 4
)

type supervisorConfig struct {
	Grace  time.Duration `json:"grace"`
	Cgroup string        `json:"cgroup,omitempty"` // the job's cgroup; "" for a process group
	User   *User         `json:"user,omitempty"`   // who the command runs as; nil: as the supervisor
}

type supervisorStatus struct {
	StartError string        `json:"start_error,omitempty"`
	ExitCode   int           `json:"exit_code"`         // -1 when killed by a signal
	Stopped    bool          `json:"stopped,omitempty"` // still running when asked to stop
	Unkillable bool          `json:"unkillable,omitempty"`
	CPU        time.Duration `json:"cpu"` // of every process the supervisor reaped
}

// MaybeSupervise makes this process a job supervisor, and exits when the
// job is over, if the runner started it as one; otherwise it returns at
// once. Call it first in main, before anything else runs.
func MaybeSupervise() {
	cfg, ok := os.LookupEnv(supervisorEnv)
	if !ok {
		return
	}
	// The job must not see it: a nested eventide would think it is a supervisor.
	os.Unsetenv(supervisorEnv)
	code := supervise(cfg, os.Args[1:])
	// Not os.Exit: under the race detector it waits a second before exiting
	// status 0, and the runner waits for the supervisor. There is nothing to
	// flush.
	unix.Exit(code)
}

// supervise runs the job argv and returns once it and every process it
// started are gone. Being the child subreaper of the job, it adopts every
// orphan, so the job is exactly its descendants (in pgroup mode) or its
// cgroup, and it reaps them all. It writes nothing to the job's output
// except when it cannot work at all.
func supervise(rawCfg string, argv []string) int {
	// Inherited without close-on-exec: the command must not hold them, or
	// the runner would wait for the status pipe's end as long as it runs.
	unix.CloseOnExec(controlFD)
	unix.CloseOnExec(statusFD)
	ctl, status := os.NewFile(controlFD, "control"), os.NewFile(statusFD, "status")
	var cfg supervisorConfig
	if err := json.Unmarshal([]byte(rawCfg), &cfg); err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "eventide job supervisor: bad configuration %q for %q (%v)\n", rawCfg, argv, err)
		return 2
	}
	report := func(st supervisorStatus) int {
		if err := json.NewEncoder(status).Encode(st); err != nil {
			return 1 // the runner is gone; nothing left to tell
		}
		return 0
	}
	// Terminal signals are the runner's to act on: it says when the job
	// stops. They are caught rather than ignored because an ignored signal
	// stays ignored in the command.
	signal.Notify(make(chan os.Signal, 1), unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return report(supervisorStatus{ExitCode: -1, StartError: fmt.Sprintf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)})
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A group of its own: the job's leader can be signalled as a whole, and
	// a job killing its own group (kill 0) does not take the supervisor.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cfg.User != nil {
		// Only the command drops to the job's user: the supervisor keeps the
		// runner's, which it needs to kill, reap and remove the cgroup, and
		// which the job's processes, another user's, cannot signal or trace.
		cmd.SysProcAttr.Credential = cfg.User.credential()
	}
	if cfg.Cgroup != "" {
		// Born in the cgroup (clone3 CLONE_INTO_CGROUP): there is no moment
		// at which the command could fork outside it.
		fd, err := unix.Open(cfg.Cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return report(supervisorStatus{ExitCode: -1, StartError: fmt.Sprintf("opening the job's cgroup: %v", err)})
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	if err := cmd.Start(); err != nil {
		return report(supervisorStatus{ExitCode: -1, StartError: fmt.Sprintf("starting %q: %v", argv[0], err)})
	}
	leader := cmd.Process.Pid
	newTracker := func() tracker {
		if cfg.Cgroup != "" {
			return cgroup(cfg.Cgroup)
		}
		// Every orphan of the job is re-parented to us, so our descendants
		// are the whole job: the marker, costly to scan for, adds nothing.
		t := newProcTree(leader, "")
		t.root = os.Getpid()
		return t
	}

	stopReq, runnerGone := make(chan struct{}, 1), make(chan struct{})
	go func() {
		var b [64]byte
		for {
			n, err := ctl.Read(b[:])
			if n > 0 {
				select {
				case stopReq <- struct{}{}:
				default:
				}
			}
			if err != nil {
				close(runnerGone)
				return
			}
		}
	}()

	// The command is reaped here, not by os/exec: wait4(-1) also reaps the
	// orphans the job leaves, which are all ours.
	st := supervisorStatus{ExitCode: -1}
	exited := false
	reap := func() {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				return
			}
			if pid == leader {
				exited = true
				if ws.Exited() {
					st.ExitCode = ws.ExitStatus()
				}
			}
		}
	}
	var terminated chan struct{} // nil until terminate starts, closed when it is done
	startTerminate := func() {
		if terminated == nil {
			terminated = make(chan struct{})
			go func() {
				defer close(terminated)
				terminate(newTracker(), cfg.Grace)
			}()
		}
	}
	reap()
	for done := false; !done; {
		if exited {
			// Whatever the command left running goes too, the same way.
			startTerminate()
		}
		select {
		case <-sigchld:
			reap()
		case <-stopReq:
			st.Stopped = st.Stopped || !exited
			startTerminate()
		case <-runnerGone:
			killNow(newTracker())
			reap()
			if cfg.Cgroup != "" {
				_ = cgroup(cfg.Cgroup).remove()
			}
			return 1
		case <-terminated: // a nil channel until then
			done = true
		}
	}
	// Everything was SIGKILLed at worst; the command's status is near.
	for deadline := time.After(killWait); !exited; {
		select {
		case <-sigchld:
			reap()
		case <-deadline:
			st.Unkillable = true
			return report(st)
		}
	}
	reap()
	st.Unkillable = newTracker().alive()
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) == nil {
		st.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return report(st)
}

// killNow SIGKILLs the job until nothing of it runs, for a bounded time:
// the runner is gone and nobody will wait for a grace period.
func killNow(t tracker) {
	deadline := time.Now().Add(killWait)
	for t.signal(unix.SIGKILL) && time.Now().Before(deadline) {
		waitGone(t, 50*time.Millisecond)
	}
}
