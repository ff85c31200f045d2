package testrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// NewContainment sets up containment for the runner whose data dir is
// dataDir (created if missing) and first kills whatever a previous runner
// on it left: the job cgroups named by the data dir's id, where the data dir
// records they were made and where this runner would make them, and the
// processes carrying its marker. ModeAuto picks cgroups where this process
// can make them in the cgroup2 hierarchy, else process groups; ModeCgroup
// fails where it cannot.
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

	// Leftovers first, so that no new job shares the machine with them.
	own, ownErr := ownCgroupDir()
	for _, dir := range []string{readRecord(dataDir), own} {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		// Only cgroups with this data dir's id in their name: the record
		// is a file anyone with the data dir could edit.
		stale, _ := filepath.Glob(filepath.Join(dir, "eventide-"+id+"-*"))
		for _, cg := range stale {
			if slices.Contains(left.Cgroups, cg) {
				continue
			}
			if err := cgroup(cg).killAndRemove(stalePause); err != nil {
				return nil, left, fmt.Errorf("testrun: leftovers of an earlier runner on %s: %w", dataDir, err)
			}
			left.Cgroups = append(left.Cgroups, cg)
		}
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
		err = probeCgroups(filepath.Join(own, "eventide-"+id+"-probe"))
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
	c.mode, c.cgroups = ModeCgroup, own
	if err := os.WriteFile(filepath.Join(dataDir, cgroupRecord), []byte(own), 0o644); err != nil {
		return nil, left, fmt.Errorf("testrun: recording where job cgroups go: %w", err)
	}
	return c, left, nil
}

// probeCgroups checks, with a cgroup made and removed at dir, that job
// cgroups can be made beside it, filled and killed.
func probeCgroups(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cannot make a cgroup: %w", err)
	}
	cg := cgroup(dir)
	defer cg.remove()
	if _, err := os.Stat(cg.file("cgroup.kill")); err != nil {
		return errors.New("cgroup.kill is missing (Linux 5.14 or newer has it)")
	}
	if err := unix.Access(cg.file("cgroup.procs"), unix.W_OK); err != nil {
		return fmt.Errorf("cannot move processes into %s: %w", dir, err)
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
