package testrun

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMeasureContainmentCost measures what containment costs a job: Run of
// `true` with no containment, in a process group under a supervisor, and in a
// cgroup under a supervisor. It runs only when asked:
//
//	EVENTIDE_MEASURE=30 go test ./services/testrun -run TestMeasureContainmentCost -v
//
// and reports the median and max of that many runs of each.
func TestMeasureContainmentCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVENTIDE_MEASURE"))
	if n <= 0 {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE=N to run it")
	}
	ways := []struct {
		name    string
		contain *Containment
	}{
		{"none", nil},
		{"pgroup", newContainment(t, ModePgroup)},
		{"cgroup", newContainment(t, ModeCgroup)},
	}
	took := make([][]time.Duration, len(ways))
	for range n { // interleaved, so that load on the machine hits each alike
		for i, w := range ways {
			res := Run(context.Background(), Spec{Command: []string{"true"}}, Options{Dir: t.TempDir(), Contain: w.contain})
			if res.Err != nil || res.ExitCode != 0 {
				t.Fatalf("%s: %+v", w.name, res)
			}
			took[i] = append(took[i], res.Duration)
		}
	}
	for i, w := range ways {
		slices.Sort(took[i])
		t.Logf("%-6s median %v, max %v over %d runs of `true`", w.name,
			took[i][n/2].Round(10*time.Microsecond), took[i][n-1].Round(10*time.Microsecond), n)
	}
}
