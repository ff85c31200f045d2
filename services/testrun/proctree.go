//go:build unix

package testrun

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// member is one process found to belong to a run.
type member struct {
	pid    int
	ppid   int
	pgid   int
	zombie bool // dead but unreaped: it needs a wait, not a signal
}

// members lists the processes in group pgid, plus those owned by our
// effective uid whose environment contains the entry marker. Processes
// that vanish or deny access mid-scan are skipped: they are either gone
// or not ours. Pass pgid -1 to match on the marker alone.
func members(pgid int, marker string) ([]member, error) {
	return scan(selector{pgid: pgid, marker: marker, root: -1})
}

// selector says which processes a scan matches; any one criterion suffices.
type selector struct {
	pgid   int    // members of this process group; -1 for none
	marker string // processes whose environment holds this entry; "" for none
	prefix bool   // marker matches entries that start with it (a runner's leftovers)
	root   int    // descendants of this pid (not itself); -1 for none
}

// tracker finds the processes of one job and signals them.
type tracker interface {
	// signal sends sig to the job and reports whether any of it was alive.
	signal(sig unix.Signal) bool
	// alive reports whether any process of the job is still running.
	alive() bool
}

// procTree is the set of processes of one run: the command's process group
// plus every process carrying the run's environment marker, plus, under a
// job supervisor, every descendant of the supervisor.
type procTree struct {
	leader int    // the command's pid, which is also the group's id
	marker string // "EVENTIDE_RUN_TOKEN=<hex>"
	// root, when positive, is a child subreaper above the command (the job
	// supervisor): every orphan of the job is re-parented to it, so its
	// descendants are the job, whatever the job did to its group and
	// environment (setsid env -i ...).
	root int
	// seen collects every non-leader pid found in the tree so that reap
	// can collect the ones that were orphaned onto us. The leader belongs
	// to os/exec: reaping it here would make cmd.Wait fail.
	seen map[int]struct{}
}

func newProcTree(leader int, marker string) *procTree {
	return &procTree{leader: leader, marker: marker, root: -1, seen: make(map[int]struct{})}
}

// scan lists the tree's live processes, remembering every pid for reap.
// Without /proc (non-Linux) the group is all we can see and there is no
// per-process list; ok is then false.
func (t *procTree) scan() (live []member, ok bool) {
	ms, err := scan(selector{pgid: t.leader, marker: t.marker, root: t.root})
	if err != nil {
		return nil, false
	}
	for _, m := range ms {
		if m.pid != t.leader {
			t.seen[m.pid] = struct{}{}
		}
		if !m.zombie {
			live = append(live, m)
		}
	}
	return live, true
}

// signal sends sig to the tree and reports whether any of it was alive.
func (t *procTree) signal(sig unix.Signal) bool {
	live, ok := t.scan()
	if !ok {
		return unix.Kill(-t.leader, sig) == nil
	}
	// Only signal the group when the scan saw a member: once the group is
	// empty its id is free for reuse, and kill(-id) could then hit a
	// stranger. When it is signalled, the one atomic kill also reaches
	// children forked since the scan.
	signalled := false
	for _, m := range live {
		if m.pgid == t.leader && !signalled {
			_ = unix.Kill(-t.leader, sig)
			signalled = true
		}
	}
	// Escapees are signalled one by one. Group members are skipped: a
	// second SIGTERM is, for some programs, the request to skip cleanup.
	// The race between scan and kill is a pid being freed and reused
	// within microseconds, which pid allocation makes vanishingly rare.
	for _, m := range live {
		if m.pgid != t.leader {
			_ = unix.Kill(m.pid, sig)
		}
	}
	return len(live) > 0
}

// alive reports whether any process of the tree is still running. Zombies
// do not count: they are dead and only wait for their parent.
func (t *procTree) alive() bool {
	live, ok := t.scan()
	if !ok {
		return unix.Kill(-t.leader, 0) == nil
	}
	return len(live) > 0
}

// terminate sends SIGTERM, waits up to grace for the tree to exit, then
// SIGKILLs whatever is left, repeating for a bounded time to catch
// processes forked in between. It returns at once if nothing is running.
func (t *procTree) terminate(grace time.Duration) { terminate(t, grace) }

// terminate sends SIGTERM to the job t tracks, waits up to grace for it to
// exit, then SIGKILLs whatever is left, repeating for a bounded time to catch
// processes forked in between.
func terminate(t tracker, grace time.Duration) {
	if !t.signal(unix.SIGTERM) {
		return
	}
	if waitGone(t, grace) {
		return
	}
	deadline := time.Now().Add(killWait)
	for t.signal(unix.SIGKILL) {
		left := time.Until(deadline)
		if left <= 0 || waitGone(t, min(left, 100*time.Millisecond)) {
			return
		}
	}
}

// waitGone polls until the job is dead or d has passed. Polling is the
// only option: we cannot wait on processes that are not our children.
func waitGone(t tracker, d time.Duration) bool {
	deadline := time.Now().Add(d)
	interval := 2 * time.Millisecond
	for {
		if !t.alive() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, 50*time.Millisecond)
	}
}

// reap collects the exit status of tree members that were orphaned onto
// this process (a child subreaper adopts them), so that they do not stay
// zombies for the runner's lifetime. It waits for each pid individually:
// wait4(-1) would also reap children that os/exec is about to wait for.
// A pid that is not our child may still become one when its own parent
// dies, so it is polled until it disappears or the time is up.
func (t *procTree) reap(d time.Duration) {
	deadline := time.Now().Add(d)
	interval := time.Millisecond
	for len(t.seen) > 0 {
		for pid := range t.seen {
			if reaped(pid) {
				delete(t.seen, pid)
			}
		}
		left := time.Until(deadline)
		if len(t.seen) == 0 || left <= 0 {
			return
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, 50*time.Millisecond)
	}
}

// reaped tries to reap pid without blocking and reports whether it is gone.
func reaped(pid int) bool {
	var ws unix.WaitStatus
	for {
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			// Not our child, yet. As a subreaper we inherit it when its
			// parent, which is in the tree and dying too, is gone; so wait
			// while it exists (signal 0 succeeds on zombies). Otherwise
			// init inherits it and it is not ours to wait for.
			return !isSubreaper.Load() || unix.Kill(pid, 0) != nil
		case err != nil:
			return true // nothing sensible left to try
		}
		return wpid == pid // 0: our child, still running
	}
}
