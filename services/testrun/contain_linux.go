package testrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// NewContainment sets up containment for the runner whose data dir is
// dataDir (created if missing) and first kills whatever a previous runner
// on it left: its cgroup, named by the data dir's id and recorded in the
// data dir, and the processes carrying its marker. ModeAuto picks a cgroup
// where this process can make one in the cgroup2 hierarchy, else a process
// group; ModeCgroup fails where it cannot.
func NewContainment(mode Mode, dataDir string) (*Containment, Leftovers, error) {
	var left Leftovers
	mode, err := ParseMode(string(mode))
	if err != nil {
		return nil, left, fmt.Errorf("testrun: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, left, fmt.Errorf("testrun: data dir: %w", err)
	}
	id, err := dataDirID(dataDir)
	if err != nil {
		return nil, left, err
	}
	c := &Containment{id: id, exe: "/proc/self/exe", mode: ModePgroup}
	name := "eventide-" + id

	// Leftovers first, so that a new job never shares a cgroup with them.
	own, ownErr := ownCgroupDir()
	stale := []string{readRecord(dataDir)}
	if ownErr == nil {
		stale = append(stale, filepath.Join(own, name))
	}
	for _, dir := range stale {
		// Only a cgroup with this data dir's name: the record is a file
		// anyone with the data dir could edit.
		if filepath.Base(dir) != name || !filepath.IsAbs(dir) || slices.Contains(left.Cgroups, dir) {
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := cgroup(dir).killAndRemove(stalePause); err != nil {
			return nil, left, fmt.Errorf("testrun: leftovers of an earlier runner on %s: %w", dataDir, err)
		}
		left.Cgroups = append(left.Cgroups, dir)
	}
	n, err := killMarked(c.markerPrefix())
	left.Processes = n
	if err != nil {
		return nil, left, fmt.Errorf("testrun: leftovers of an earlier runner on %s: %w", dataDir, err)
	}
	_ = os.Remove(filepath.Join(dataDir, cgroupRecord))

	if mode == ModePgroup {
		return c, left, nil
	}
	if ownErr == nil {
		err = makeParent(filepath.Join(own, name))
	} else {
		err = ownErr
	}
	if err != nil {
		if mode == ModeCgroup {
			return nil, left, fmt.Errorf("testrun: --containment=cgroup: %w", err)
		}
		c.note = err.Error()
		return c, left, nil
	}
	c.mode, c.parent = ModeCgroup, filepath.Join(own, name)
	if err := os.WriteFile(filepath.Join(dataDir, cgroupRecord), []byte(c.parent), 0o644); err != nil {
		_ = cgroup(c.parent).remove()
		return nil, left, fmt.Errorf("testrun: recording the runner's cgroup: %w", err)
	}
	return c, left, nil
}

// makeParent makes the runner's cgroup, which holds one cgroup per job, and
// checks that jobs can be put there and killed.
func makeParent(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cannot make a cgroup: %w", err)
	}
	cg := cgroup(dir)
	if _, err := os.Stat(cg.file("cgroup.kill")); err != nil {
		_ = cg.remove()
		return errors.New("cgroup.kill is missing (Linux 5.14 or newer has it)")
	}
	if err := unix.Access(cg.file("cgroup.procs"), unix.W_OK); err != nil {
		_ = cg.remove()
		return fmt.Errorf("cannot move processes into %s: %w", dir, err)
	}
	// Peak memory is measured only where the memory controller is enabled
	// for the job cgroups. It can be handed down when the runner's own
	// cgroup has it; otherwise jobs go unmeasured, not unrun.
	if b, err := os.ReadFile(cg.file("cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(b)), "memory") {
		_ = os.WriteFile(cg.file("cgroup.subtree_control"), []byte("+memory"), 0)
	}
	return nil
}

// killMarked SIGKILLs every process of ours whose marker starts with prefix
// and waits for them to go. A marker cleared by the process (env -i) hides
// it: the cgroup, or the supervisor while the runner lived, covered those.
func killMarked(prefix string) (int, error) {
	ms, err := scan(selector{pgid: -1, marker: prefix, prefix: true, root: -1})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if !m.zombie && unix.Kill(m.pid, unix.SIGKILL) == nil {
			n++
		}
	}
	if n > 0 && !waitGone(markedSet(prefix), stalePause) {
		return n, fmt.Errorf("marked processes: %w", ErrUnkillable)
	}
	return n, nil
}

// markedSet is the tracker of every process carrying a marker prefix.
type markedSet string

func (p markedSet) signal(sig unix.Signal) bool {
	ms, _ := scan(selector{pgid: -1, marker: string(p), prefix: true, root: -1})
	alive := false
	for _, m := range ms {
		if !m.zombie {
			alive = true
			_ = unix.Kill(m.pid, sig)
		}
	}
	return alive
}

func (p markedSet) alive() bool {
	ms, _ := scan(selector{pgid: -1, marker: string(p), prefix: true, root: -1})
	for _, m := range ms {
		if !m.zombie {
			return true
		}
	}
	return false
}
