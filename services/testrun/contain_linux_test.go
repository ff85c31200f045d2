package testrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary is also the job supervisor, as eventide is: Run re-executes
// /proc/self/exe.
func init() { MaybeSupervise() }

// escaper starts, in the background, a process that leaves the group, clears
// its environment (and so the marker) and ignores SIGTERM, plus a plain
// child; each writes its pid to a file in dir. With exit it then exits;
// otherwise it waits.
func escaper(dir string, end string) Spec {
	script := `setsid env -i sh -c 'trap "" TERM; echo $$ > "$0"; sleep 600' "$D/escapee" &
sh -c 'echo $$ > "$D/child"; exec sleep 600' &
while [ ! -s "$D/escapee" ] || [ ! -s "$D/child" ]; do sleep 0.01; done
echo started
` + end
	return Spec{Command: []string{"sh", "-c", script}}
}

// pidsIn reads the pids the escaper wrote.
func pidsIn(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	for _, name := range []string{"escapee", "child"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the job did not start its %s: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s pid %q: %v", name, b, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// running reports whether pid is alive (a zombie counts as gone).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// containments returns both modes for a fresh data dir each, skipping the
// cgroup one only where this process cannot make cgroups.
func containments(t *testing.T) map[Mode]func(t *testing.T) *Containment {
	return map[Mode]func(t *testing.T) *Containment{
		ModePgroup: func(t *testing.T) *Containment { return newContainment(t, ModePgroup) },
		ModeCgroup: func(t *testing.T) *Containment { return newContainment(t, ModeCgroup) },
	}
}

func newContainment(t *testing.T, mode Mode) *Containment {
	t.Helper()
	c, _, err := NewContainment(mode, t.TempDir())
	if err != nil {
		if mode == ModeCgroup {
			t.Skipf("cgroup2 is not writable here: %v", err)
		}
		t.Fatal(err)
	}
	if c.Mode() != mode {
		t.Fatalf("containment %s, want %s", c, mode)
	}
	return c
}

// However a contained job ends, no process it started outlives Run.
func TestContainedJobLeavesNothing(t *testing.T) {
	for mode, mk := range containments(t) {
		for _, end := range []string{"exit", "fail", "timeout", "cancel"} {
			t.Run(string(mode)+"/"+end, func(t *testing.T) {
				c := mk(t)
				dir := t.TempDir()
				spec := escaper(dir, map[string]string{"exit": "exit 0", "fail": "exit 3"}[end]+"\nsleep 600")
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opts := Options{Dir: dir, Env: []string{"D=" + dir}, Grace: 200 * time.Millisecond, Contain: c}
				if end == "timeout" {
					opts.Timeout = setupTimeout // the escapees must start first: pidsIn needs them
				}
				var out bytes.Buffer
				if end == "cancel" {
					opts.Output = &notifyWriter{w: &out, on: "started", do: cancel}
				} else {
					opts.Output = &out
				}
				res := Run(ctx, spec, opts)
				pids := pidsIn(t, dir)
				for _, pid := range pids {
					if running(pid) {
						t.Errorf("pid %d outlived the job (%s, %s)", pid, mode, end)
					}
				}
				want := map[string]Reason{"exit": ReasonExited, "fail": ReasonExited, "timeout": ReasonTimeout, "cancel": ReasonCancelled}[end]
				if res.Reason != want {
					t.Errorf("reason %v, want %v (err %v)\n%s", res.Reason, want, res.Err, out.String())
				}
				if end == "fail" && res.ExitCode != 3 {
					t.Errorf("exit code %d, want 3", res.ExitCode)
				}
				if res.Usage == nil || res.Usage.CPU <= 0 {
					t.Errorf("usage %+v: want the job's CPU time", res.Usage)
				}
				if mode == ModeCgroup {
					if left, _ := filepath.Glob(c.jobCgroup("*")); len(left) > 0 {
						t.Errorf("job cgroups left: %v", left)
					}
				}
			})
		}
	}
}

// notifyWriter calls do once the output contains on.
type notifyWriter struct {
	w    *bytes.Buffer
	on   string
	do   func()
	done bool
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	n.w.Write(p)
	if !n.done && strings.Contains(n.w.String(), n.on) {
		n.done = true
		n.do()
	}
	return len(p), nil
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "cgroup": ModeCgroup, "pgroup": ModePgroup} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("Cgroup"); err == nil || !strings.Contains(err.Error(), "want auto, cgroup or pgroup") {
		t.Errorf("ParseMode(Cgroup): %v, want an error listing the modes", err)
	}
}
