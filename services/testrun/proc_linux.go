package testrun

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// isSubreaper records a successful BecomeSubreaper, after which orphans of
// a run are re-parented to this process and reap must wait for them.
var isSubreaper atomic.Bool

// BecomeSubreaper makes this process the child subreaper for its
// descendants, so that processes orphaned by a test command (a daemonised
// server, say) are re-parented to the runner instead of init. Run can then
// reap them after killing them; without it they are init's to reap, which
// inside a container may never happen. Call it once, early, from main.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("testrun: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	isSubreaper.Store(true)
	return nil
}

// scan lists the processes sel matches, skipping this one.
func scan(sel selector) ([]member, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	self, euid := os.Getpid(), uint32(os.Geteuid())
	var all []member
	var buf [512]byte
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		if m, ok := readStat(pid, buf[:]); ok {
			all = append(all, m)
		}
	}
	var desc map[int]bool
	if sel.root > 0 {
		desc = descendants(all, sel.root)
	}
	var out []member
	for _, m := range all {
		if m.pgid == sel.pgid || desc[m.pid] {
			out = append(out, m)
			continue
		}
		// A zombie's environment is already gone, so it cannot be matched.
		// The ones we care about were seen alive by an earlier scan.
		if sel.marker == "" || m.zombie || !ownedBy(m.pid, euid) || !hasEnv(m.pid, sel.marker, sel.prefix) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// descendants returns the pids below root in the parent links of procs.
func descendants(procs []member, root int) map[int]bool {
	children := make(map[int][]int)
	for _, m := range procs {
		children[m.ppid] = append(children[m.ppid], m.pid)
	}
	desc := make(map[int]bool)
	queue := children[root]
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if !desc[pid] {
			desc[pid] = true
			queue = append(queue, children[pid]...)
		}
	}
	return desc
}

// readStat parses /proc/<pid>/stat: "pid (comm) state ppid pgrp ...".
// comm may contain spaces and parentheses, hence the search for the last
// ')'. It is at most 16 bytes, so the fields we need fit in buf.
func readStat(pid int, buf []byte) (member, bool) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return member{}, false
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return member{}, false
	}
	b := buf[:n]
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return member{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return member{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgid, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return member{}, false
	}
	state := f[0][0]
	return member{pid: pid, ppid: ppid, pgid: pgid, zombie: state == 'Z' || state == 'X'}, true
}

// ownedBy checks the owner of /proc/<pid>, which is the process's
// effective uid. Checking first avoids reading other users' environments,
// which we could not signal anyway.
func ownedBy(pid int, uid uint32) bool {
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(pid), &st) == nil && st.Uid == uid
}

// hasEnv reports whether the initial environment of pid contains entry
// exactly (or, with prefix, an entry starting with it). A process could overwrite that memory to hide; the marker is
// protection against accidents (daemonising), not against malice.
func hasEnv(pid int, entry string, prefix bool) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for len(env) > 0 {
		var e []byte
		if i := bytes.IndexByte(env, 0); i >= 0 {
			e, env = env[:i], env[i+1:]
		} else {
			e, env = env, nil
		}
		if string(e) == entry || prefix && bytes.HasPrefix(e, []byte(entry)) {
			return true
		}
	}
	return false
}

// sysProcAttr puts the command in a process group of its own, and has the kernel
// SIGKILL it if the runner dies (even by SIGKILL): the job is being re-run
// elsewhere, and must not also go on here as an orphan.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
