package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigJUnit is a JUnit report of n tests shaped like pytest's: parametrised
// ids in classes of modules, a duration each, one in a hundred failing with a
// three-line message.
func bigJUnit(n int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<testsuites><testsuite name=\"pytest\" tests=\"" + strconv.Itoa(n) + "\">\n")
	for i := range n {
		fmt.Fprintf(&b, `<testcase classname="tests.test_module_%03d.TestGroup%02d" name="test_case_%05d[param-%d]" time="0.%03d">`,
			i/500, i/50%10, i, i%7, i%1000)
		if i%100 == 7 {
			fmt.Fprintf(&b, `<failure message="AssertionError: expected %d, got %d&#10;assert %d == %d">`+
				"tests/test_module_%03d.py:%d: AssertionError\n    assert result == expected</failure>", i, i+1, i+1, i, i/500, 10+i%90)
		}
		b.WriteString("</testcase>\n")
	}
	b.WriteString("</testsuite></testsuites>\n")
	return b.String()
}

// logDuration reads a duration attribute from a text log line.
func logDuration(t *testing.T, line, key string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`\b` + key + `=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s in %q", key, line)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("%s in %q: %v", key, line, err)
	}
	return d
}

// TestMeasureReports50k measures what a 50,000-test JUnit report costs, end to
// end through the binary: a job whose command leaves the report is run
// EVENTIDE_MEASURE_REPORTS times (each a new commit), after a small job that
// warms both processes up. It reports, per job, the runner's time to read and
// parse the report and pack the records (its "tests read" log), to send them
// (job end to the last job.tests acknowledgement) and the dispatcher's time to
// store them with the result (the result's acknowledgement after the last
// chunk's: one transaction); and each process's peak RSS (VmHWM) before the
// first big job and after the last. It runs only when asked:
//
//	EVENTIDE_MEASURE_REPORTS=5 EVENTIDE_E2E_RACE=0 go test ./tests -count=1 -run TestMeasureReports50k -v
func TestMeasureReports50k(t *testing.T) {
	n := envInt(t, "EVENTIDE_MEASURE_REPORTS", 0)
	if n <= 0 {
		t.Skip("a measurement, not a test: set EVENTIDE_MEASURE_REPORTS=N to run it")
	}
	const tests = 50_000
	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	r := startRunner(t, d.addr, t.TempDir(), "measure-reports-runner", nil)
	report := bigJUnit(tests)
	config := "command: mkdir -p out && cp report.xml out/\nreports: [out/report.xml]\n"

	warm := repo.commit("warm up", map[string]string{".eventide.yml": config,
		"report.xml": `<testsuite><testcase name="warm"/></testsuite>`})
	submitCommit(t, d.addr, "", repo.dir, warm, "main")
	waitResult(t, resDir, warm, 2*patience)
	dpid, rpid := d.cmd.Process.Pid, r.cmd.Process.Pid
	dBefore, rBefore := procStatusMB(t, dpid, "VmHWM"), procStatusMB(t, rpid, "VmHWM")
	t.Logf("report: %d tests, %.1f MiB; load before: %s", tests, float64(len(report))/(1<<20), loadAvg())

	for i := range n {
		c := repo.commit(fmt.Sprint("big ", i), map[string]string{".eventide.yml": config,
			"report.xml": report + fmt.Sprintf("<!-- %d -->\n", i)})
		job := submitCommit(t, d.addr, "", repo.dir, c, "main")
		res := waitResult(t, resDir, c, 4*patience)
		if got := res.get("Tests"); got != "49500 passed, 500 failed, 0 errors, 0 skipped" {
			t.Fatalf("Tests %q\n%.3000s", got, res.raw)
		}
		read := r.waitLog(patience, `msg="tests read"`, "job="+job.JobID)
		done := r.waitLog(patience, `msg="result delivered"`, "job="+job.JobID)
		parse := logDuration(t, read.text, "took")
		since, stored := logDuration(t, done.text, "since_finished"), logDuration(t, done.text, "after_test_chunks")
		t.Logf("job %d: runner parse+pack %v, send %v, dispatcher store %v (job end to result stored %v); load %s",
			i+1, parse, since-stored, stored, since, loadAvg())
	}
	t.Logf("peak RSS (VmHWM): runner %.1f → %.1f MiB, dispatcher %.1f → %.1f MiB",
		rBefore, procStatusMB(t, rpid, "VmHWM"), dBefore, procStatusMB(t, dpid, "VmHWM"))
	if os.Getenv("EVENTIDE_E2E_RACE") != "0" {
		t.Log("note: built with -race; set EVENTIDE_E2E_RACE=0 for the shipped figures")
	}
}
