package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eventide-ci/eventide/services/testrun"
)

// Setup prepares the runner's data dir, once: it kills what an earlier
// runner on it left running (after a SIGKILL, say), removes the worktrees
// of its jobs, and settles how jobs are contained. It returns that, for the
// first log line. Run calls it too; an error means the runner cannot run
// jobs safely here (--containment=cgroup without a writable cgroup2).
func (r *Runner) Setup() (string, error) {
	r.setupOnce.Do(func() {
		if r.cfg.JobUser != "" {
			if r.setupErr = r.setupJobUser(); r.setupErr != nil {
				return
			}
		}
		mode, err := testrun.ParseMode(r.cfg.Containment)
		if err != nil {
			r.setupErr = err
			return
		}
		c, left, err := testrun.NewContainment(mode, r.cfg.WorkDir)
		if errors.Is(err, errors.ErrUnsupported) && mode == testrun.ModeAuto {
			r.contained = "none (" + err.Error() + ")"
			return
		}
		if err != nil {
			r.setupErr = err
			return
		}
		r.contain, r.contained, r.leftovers = c, c.String(), left
		// Leftovers are dead, so their worktrees can go. No job of ours
		// runs yet: every worktree there is stale. Their registrations in
		// the cached clones are pruned by the next removal.
		dir := filepath.Join(r.cfg.WorkDir, "worktrees")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				r.setupErr = fmt.Errorf("removing a stale worktree: %w", err)
				return
			}
		}
		r.staleWorktrees = len(ents)
	})
	return r.contained, r.setupErr
}

// logSetup tells what Setup cleaned up, after the first log line.
func (r *Runner) logSetup() {
	if left := r.leftovers; left.Processes > 0 || len(left.Cgroups) > 0 {
		r.log.Warn("killed what an earlier runner on this data dir left", "processes", left.Processes, "cgroups", left.Cgroups)
	}
	if r.staleWorktrees > 0 {
		r.log.Info("removed stale worktrees", "count", r.staleWorktrees, "dir", filepath.Join(r.cfg.WorkDir, "worktrees"))
	}
}

// usageLine says what a job consumed, for its output. The result carries the
// figures too (cpu_ms, peak_memory_bytes); the line stays because it says where
// they come from and why one is missing, which the result has no room for.
func usageLine(u *testrun.Usage, mode testrun.Mode) string {
	from := "the job's cgroup"
	peak := "not measured (the memory controller is not enabled for job cgroups)"
	if mode != testrun.ModeCgroup {
		from = "the processes the job supervisor reaped"
		peak = "not measured (jobs run in process groups, not cgroups)"
	}
	if u.PeakMemory >= 0 {
		peak = fmt.Sprintf("%.1f MiB", float64(u.PeakMemory)/(1<<20))
	}
	return fmt.Sprintf("eventide: CPU time %v (of %s), peak memory %s\n", u.CPU.Round(time.Millisecond), from, peak)
}
