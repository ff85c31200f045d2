package testrun

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ownCgroupDir returns the directory of this process's cgroup in the
// cgroup2 hierarchy, wherever that is mounted: /sys/fs/cgroup in the pure
// v2 layout, /sys/fs/cgroup/unified in the hybrid one.
func ownCgroupDir() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	path := ""
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", errors.New("no cgroup2 entry in /proc/self/cgroup")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, typ := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(typ) == 0 || typ[0] != "cgroup2" {
			continue
		}
		root, mnt := fields[3], fields[4]
		if rel, ok := strings.CutPrefix(path, root); ok && (root == "/" || rel == "" || rel[0] == '/') {
			return filepath.Join(mnt, rel), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("cgroup2 is not mounted")
}

// cgroup is the directory of one cgroup v2.
type cgroup string

func (c cgroup) file(name string) string { return filepath.Join(string(c), name) }

// populated reports whether a process lives in c or below. Exited processes
// leave their cgroup at once, so zombies do not count.
func (c cgroup) populated() bool {
	b, err := os.ReadFile(c.file("cgroup.events"))
	if err != nil {
		return false // gone, so empty
	}
	return bytes.Contains(b, []byte("populated 1"))
}

// procs lists the processes in c itself.
func (c cgroup) procs() []int {
	b, _ := os.ReadFile(c.file("cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// kill SIGKILLs every process in c and below at once: no fork or setsid
// gets away.
func (c cgroup) kill() error {
	err := os.WriteFile(c.file("cgroup.kill"), []byte("1"), 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// signal implements tracker: SIGKILL through cgroup.kill, other signals to
// each process, which is as good as kill(-pgid) since they can be caught.
func (c cgroup) signal(sig unix.Signal) bool {
	if sig == unix.SIGKILL {
		alive := c.populated()
		if alive {
			_ = c.kill()
		}
		return alive
	}
	pids := c.allProcs()
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	return len(pids) > 0
}

func (c cgroup) alive() bool { return c.populated() }

// allProcs lists the processes in c and every cgroup below it (a job may
// make cgroups of its own where it is allowed to).
func (c cgroup) allProcs() []int {
	var pids []int
	_ = filepath.WalkDir(string(c), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			pids = append(pids, cgroup(path).procs()...)
		}
		return nil
	})
	return pids
}

// killAndRemove kills everything in c, waits up to d for it to be empty and
// removes c with every cgroup below it.
func (c cgroup) killAndRemove(d time.Duration) error {
	if _, err := os.Stat(string(c)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := c.kill(); err != nil {
		return fmt.Errorf("killing cgroup %s: %w", c, err)
	}
	if !waitGone(c, d) {
		return fmt.Errorf("cgroup %s: %w", c, ErrUnkillable)
	}
	return c.remove()
}

// remove removes c and the cgroups below it, deepest first; they must be empty.
func (c cgroup) remove() error {
	ents, err := os.ReadDir(string(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := cgroup(c.file(e.Name())).remove(); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(string(c)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing cgroup %s: %w", c, err)
	}
	return nil
}

// usage returns the CPU time charged to c and its peak memory, or -1 when
// the memory controller is not enabled for it (memory.peak is then absent).
func (c cgroup) usage() (cpu time.Duration, peak int64) {
	peak = -1
	if b, err := os.ReadFile(c.file("cpu.stat")); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "usage_usec "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					cpu = time.Duration(n) * time.Microsecond
				}
			}
		}
	}
	if b, err := os.ReadFile(c.file("memory.peak")); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			peak = n
		}
	}
	return cpu, peak
}
