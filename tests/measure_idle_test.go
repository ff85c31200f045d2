package tests

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMeasureIdle starts a dispatcher (default 1 s heartbeat) and one connected
// runner, leaves them idle for EVENTIDE_MEASURE_IDLE seconds and reports each one's
// CPU (utime+stime from /proc) and RSS. It runs only when asked:
//
//	EVENTIDE_MEASURE_IDLE=20 EVENTIDE_E2E_RACE=0 go test ./tests -count=1 -run TestMeasureIdle -v
func TestMeasureIdle(t *testing.T) {
	secs := envInt(t, "EVENTIDE_MEASURE_IDLE", 0)
	if secs == 0 {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE_IDLE=SECONDS to run it")
	}
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil, "--heartbeat", "1s")
	r := startRunner(t, d.addr, t.TempDir(), "idle-runner", nil)
	d.waitLog(20*time.Second, "runner registered", "runner=idle-runner")
	time.Sleep(2 * time.Second) // let start-up settle: not counted as idle
	dpid, rpid := d.cmd.Process.Pid, r.cmd.Process.Pid
	d0, r0 := procCPU(t, dpid), procCPU(t, rpid)
	time.Sleep(time.Duration(secs) * time.Second) // the idle window being measured
	d1, r1 := procCPU(t, dpid), procCPU(t, rpid)
	for _, p := range []struct {
		name string
		pid  int
		cpu  float64
	}{{"dispatcher", dpid, d1 - d0}, {"runner", rpid, r1 - r0}} {
		t.Logf("%s idle %ds: CPU %.2fs (%.2f%% of a core), RSS %.1f MiB (peak %.1f MiB)", p.name, secs, p.cpu,
			100*p.cpu/float64(secs), procStatusMB(t, p.pid, "VmRSS"), procStatusMB(t, p.pid, "VmHWM"))
	}
	if os.Getenv("EVENTIDE_E2E_RACE") != "0" {
		t.Log("note: built with -race; set EVENTIDE_E2E_RACE=0 for the shipped figures")
	}
}
