//go:build !unix

package testreport

// cpuSeconds is not measured here; the benchmarks then report wall time only.
func cpuSeconds() float64 { return 0 }
