//go:build unix

package testreport

import "syscall"

// cpuSeconds is the CPU time this process has used, user and system: on a
// shared machine it measures a benchmark's cost where wall time does not.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
