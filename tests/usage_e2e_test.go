package tests

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// burnScript is a job that spends CPU time in the shell for about a second,
// well above what a cgroup or rusage rounds away.
const burnScript = `# burn
command: |
  i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo burnt $i
`

// A job's result (protocol version 7) says what it consumed: its result file has
// a CPU time above 0, from the job's cgroup or the supervisor's rusage, and its
// peak memory, or "not measured" where nothing measures it (process groups, or a
// cgroup2 tree without the memory controller: never 0); job.get carries the same
// figures. Both containment modes, where the cgroup one can run here.
func TestJobUsage(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil, "--max-attempts", "1")
	for _, mode := range []string{"cgroup", "pgroup"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "cgroup" {
				if ok, why := cgroupWritable(); !ok {
					t.Skipf("cgroup2 is not writable here (%s): only the pgroup fallback is tested", why)
				}
			}
			name := "usage-" + mode
			startRunner(t, d.addr, t.TempDir(), name, nil, "--containment", mode)
			d.waitLog(patience, "runner registered", "runner="+name)
			commit := repo.commit("burn "+mode, map[string]string{".eventide.yml": burnScript})
			job := submitCommit(t, d.addr, "", repo.dir, commit, "main")
			res := waitResult(t, d.resultsDir, commit, patience)
			if res.get("Status") != "passed" || !strings.Contains(res.output, "burnt 200000") {
				t.Fatalf("the job did not run to the end:\n%s", res.raw)
			}

			cpu := res.get("CPU time")
			secs, ok := strings.CutSuffix(cpu, " s")
			f, err := strconv.ParseFloat(secs, 64)
			if !ok || err != nil || f <= 0 {
				t.Errorf("CPU time %q, want seconds above 0\n%s", cpu, res.summary)
			}
			peak := res.get("Peak memory")
			measured := mode == "cgroup" && memoryControllerAvailable()
			switch {
			case !measured && peak != "not measured":
				t.Errorf("Peak memory %q where nothing measures it (%s, memory controller %v), want \"not measured\"",
					peak, mode, memoryControllerAvailable())
			case measured && (!strings.HasSuffix(peak, " MiB") || strings.HasPrefix(peak, "0.0 ")):
				t.Errorf("Peak memory %q with the memory controller enabled, want a figure in MiB", peak)
			}

			con, err := dialClient(context.Background(), d.addr, wire.RoleConsole, "usage-console-"+mode)
			if err != nil {
				t.Fatal(err)
			}
			defer con.close()
			var j wire.JobInfo
			if err := con.call(context.Background(), wire.MethodJobGet, &wire.JobID{JobID: job.JobID}, &j); err != nil {
				t.Fatal(err)
			}
			switch {
			case j.CPUMS == nil:
				t.Errorf("job.get has no cpu_ms")
			case strconv.FormatFloat(float64(*j.CPUMS)/1000, 'f', 2, 64) != secs:
				t.Errorf("job.get cpu_ms %d, the result file %q", *j.CPUMS, cpu)
			}
			if (j.PeakMemoryBytes != nil) != measured {
				t.Errorf("job.get peak_memory_bytes %v, want it only where measured (%v)", j.PeakMemoryBytes, measured)
			}
		})
	}
}
