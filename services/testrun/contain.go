package testrun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Mode is how a runner contains its jobs' processes.
type Mode string

const (
	// ModeAuto uses a cgroup where the runner can make one, else a process group.
	ModeAuto Mode = "auto"
	// ModeCgroup puts each job in a cgroup v2 of its own, killed whole with
	// cgroup.kill: nothing a job does (setsid, a cleared environment,
	// double forks) takes a process out of it.
	ModeCgroup Mode = "cgroup"
	// ModePgroup tracks a job by its process group, an environment marker
	// and the descendants of its supervisor, which is their child subreaper.
	ModePgroup Mode = "pgroup"
)

// ParseMode checks a --containment value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeCgroup, ModePgroup:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("containment %q: want auto, cgroup or pgroup", s)
}

// Containment is how one runner contains its jobs: each job runs under a
// supervisor (this binary, re-executed; see MaybeSupervise) that is the
// child subreaper of the job's processes and kills them all when the job
// ends or when the runner dies, in the job's own cgroup or process group.
// Everything it leaves on the machine carries the id of the runner's data
// dir, so the next runner on that data dir finds and kills it.
type Containment struct {
	mode    Mode   // ModeCgroup or ModePgroup, never ModeAuto
	id      string // of the data dir: in cgroup names and run markers
	exe     string // re-executed as each job's supervisor
	cgroups string // ModeCgroup: where job cgroups go, eventide-<id>-<token> each
	note    string // why auto chose a process group
}

// Leftovers is what a previous runner on the same data dir left behind
// (after a SIGKILL, say), found and killed by NewContainment.
type Leftovers struct {
	Processes int      // marked processes killed
	Cgroups   []string // cgroups killed and removed
}

// Mode returns ModeCgroup or ModePgroup.
func (c *Containment) Mode() Mode { return c.mode }

// String says what is in use, for the runner's first log line.
func (c *Containment) String() string {
	switch {
	case c.mode == ModeCgroup:
		return fmt.Sprintf("cgroup %s", c.jobCgroup("*"))
	case c.note != "":
		return fmt.Sprintf("pgroup (no cgroup: %s)", c.note)
	}
	return "pgroup"
}

// jobCgroup is the cgroup of the job whose marker ends in token. Each is
// directly in the runner's own cgroup, so none outlives its job: there is
// no runner-wide cgroup that a killed runner would leave behind.
func (c *Containment) jobCgroup(token string) string {
	return filepath.Join(c.cgroups, "eventide-"+c.id+"-"+token)
}

// markerPrefix starts the marker of every run of this runner, so that its
// leftovers can be told from other runners' processes.
func (c *Containment) markerPrefix() string { return TokenEnv + "=" + c.id + "." }

// dataDirID names a data dir: the same directory gives the same id whatever
// path leads to it, two directories never share one in practice.
func dataDirID(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("testrun: data dir %s: %w", dir, err)
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6]), nil
}

// cgroupRecord is the file in the data dir naming the cgroup where the
// runner puts job cgroups, so that a runner started again in another cgroup
// still finds those of the old one.
const cgroupRecord = "cgroup"

// stalePause bounds how long a start waits for leftovers to die.
const stalePause = 5 * time.Second

func readRecord(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, cgroupRecord))
	if err != nil {
		return ""
	}
	return string(b)
}
