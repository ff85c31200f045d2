package tests

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// testdata reads a fixture captured from a real test run
// (services/testreport/testdata, whose README names the tool and version).
func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "services", "testreport", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jobTests asks job.get for a job's records, the first limit in order.
func jobTests(t *testing.T, addr, jobID string, limit int) wire.JobInfo {
	t.Helper()
	con, err := dialClient(context.Background(), addr, wire.RoleConsole, "reports-console")
	if err != nil {
		t.Fatal(err)
	}
	defer con.close()
	var j wire.JobInfo
	if err := con.call(context.Background(), wire.MethodJobGet, &wire.JobGet{JobID: jobID, TestsLimit: limit}, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// Report files named by reports: win over the output: a real pytest
// --junitxml report and a real go test -json file, each copied into place by
// the job's command, give the result file's counts and Failing lines, and
// job.get their per-test records. The command's output has no test report at
// all. A symlink the command leaves pointing out of the worktree is refused,
// and the job's output says so.
func TestReportFiles(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := t.TempDir()
	d := startDispatcher(t, 0, resDir, nil, "--max-attempts", "1")
	startRunner(t, d.addr, t.TempDir(), "report-files-runner", nil)

	junitCommit := repo.commit("junit report", map[string]string{
		".eventide.yml": "command: mkdir -p build/test-results && cp fixtures/pytest.xml build/test-results/ && " +
			"ln -s /etc/hostname build/test-results/escape.xml && echo tests ran && exit 1\n" +
			"reports: ['build/test-results/*.xml']\n",
		"fixtures/pytest.xml": testdata(t, "pytest-junit.xml"),
	})
	junitJob := submitCommit(t, d.addr, "", repo.dir, junitCommit, "main")
	jsonCommit := repo.commit("go test -json file", map[string]string{
		".eventide.yml":    "command: cp fixtures/go.json report.json && echo tests ran && exit 1\nreports: ['**/report.json']\n",
		"fixtures/go.json": testdata(t, "go-json.txt"),
	})
	jsonJob := submitCommit(t, d.addr, "", repo.dir, jsonCommit, "main")

	r := waitResult(t, resDir, junitCommit, 2*patience)
	failing := []string{
		"test_fail — AssertionError: subtraction is off",
		"test_error — failed on setup with \"RuntimeError: fixture broke\"",
		"test_even[3] — assert ((3 % 2) == 0 or 3 == 1)",
		"test_in_class_fails — ValueError: bad value",
	}
	if r.get("Status") != "failed" || r.get("Tests") != "4 passed, 3 failed, 1 errors, 2 skipped" ||
		len(r.fields["Failing"]) != len(failing) {
		t.Errorf("junit: Status %q, Tests %q, Failing %q\n%s", r.get("Status"), r.get("Tests"), r.fields["Failing"], r.raw)
	}
	if want := "eventide: reports: build/test-results/escape.xml: refused: a symlink leads it outside the worktree; not followed\n"; !strings.Contains(r.output, want) {
		t.Errorf("junit: the output does not say %q\n%s", want, r.raw)
	}
	for i, f := range r.fields["Failing"] {
		if i < len(failing) && !strings.HasPrefix(f, failing[i]) {
			t.Errorf("Failing[%d] = %q, want it to start %q", i, f, failing[i])
		}
	}
	j := jobTests(t, d.addr, junitJob.JobID, 100)
	if j.TestsTotal != 10 || j.Tests == nil || len(j.Tests.Tests) != 10 {
		t.Fatalf("junit: job.get has %d tests, page %+v; want 10", j.TestsTotal, j.Tests)
	}
	i := slices.IndexFunc(j.Tests.Tests, func(r wire.TestRecord) bool { return r.ID == "test_fail" })
	if i < 0 || j.Tests.Tests[i].Outcome != wire.OutcomeFailed || j.Tests.Tests[i].DurationMS == nil ||
		!strings.HasPrefix(j.Tests.Tests[i].Message, "AssertionError: subtraction is off\n") {
		t.Errorf("junit: job.get's test_fail: %+v", j.Tests.Tests)
	}

	r = waitResult(t, resDir, jsonCommit, 2*patience)
	if r.get("Status") != "failed" || r.get("Tests") != "5 passed, 3 failed, 2 errors, 1 skipped" ||
		!slices.ContainsFunc(r.fields["Failing"], func(f string) bool {
			return strings.HasPrefix(f, "TestAddWrong — calc_test.go:")
		}) {
		t.Errorf("test2json: Status %q, Tests %q, Failing %q\n%s", r.get("Status"), r.get("Tests"), r.fields["Failing"], r.raw)
	}
	if j := jobTests(t, d.addr, jsonJob.JobID, 5); j.TestsTotal < 11 || j.Tests == nil || len(j.Tests.Tests) != 5 || j.Tests.Next != 5 {
		t.Errorf("test2json: job.get has %d tests, page %+v; want a first page of 5", j.TestsTotal, j.Tests)
	}
}

// flipReports are what the flaky job's command copies into place: the first
// attempt fails test_flip, the next passes it.
const (
	flipFails = `<testsuite name="flip"><testcase classname="flip" name="test_steady" time="0.01"/>` +
		`<testcase classname="flip" name="test_flip" time="0.02"><failure message="timing out">late</failure></testcase></testsuite>`
	flipPasses = `<testsuite name="flip"><testcase classname="flip" name="test_steady" time="0.01"/>` +
		`<testcase classname="flip" name="test_flip" time="0.02"/></testsuite>`
)

// retry_failed: 2 re-runs a failed job; a test that fails the first time and
// passes the second makes the job "passed · flaky", with a Flaky: line naming
// it, and job.get says so. The marker saying the test ran once lives outside
// the worktree (each attempt has a fresh one), named by a variable of the
// runner's environment that jobs inherit.
func TestRetryFailedFlaky(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := t.TempDir()
	mark := filepath.Join(t.TempDir(), "ran-once")
	d := startDispatcher(t, 0, resDir, nil, "--max-attempts", "1")
	startRunner(t, d.addr, t.TempDir(), "flaky-runner", childEnv("FLIP_MARK="+mark))

	commit := repo.commit("flaky", map[string]string{
		".eventide.yml": "command: |\n" +
			"  mkdir -p out\n" +
			"  if [ -e \"$FLIP_MARK\" ]; then cp passes.xml out/r.xml; exit 0; fi\n" +
			"  touch \"$FLIP_MARK\"; cp fails.xml out/r.xml; exit 1\n" +
			"reports: [out/r.xml]\n" +
			"retry_failed: 2\n",
		"fails.xml":  flipFails,
		"passes.xml": flipPasses,
	})
	job := submitCommit(t, d.addr, "", repo.dir, commit, "main")
	r := waitResult(t, resDir, commit, 2*patience)
	if r.get("Status") != "passed · flaky" || !slices.Equal(r.fields["Flaky"], []string{"test_flip"}) ||
		r.get("Tests") != "2 passed, 0 failed, 0 errors, 0 skipped" {
		t.Errorf("Status %q, Flaky %q, Tests %q; want passed · flaky naming test_flip\n%s",
			r.get("Status"), r.fields["Flaky"], r.get("Tests"), r.raw)
	}
	j := jobTests(t, d.addr, job.JobID, 10)
	if string(j.State) != wire.StatusPassed || !j.Flaky || !slices.Equal(j.FlakyTests, []string{"test_flip"}) ||
		len(j.Attempts) != 2 || j.Attempts[0].Rerun || !j.Attempts[1].Rerun {
		t.Errorf("job.get: state %q, flaky %v %q, attempts %+v; want passed, flaky test_flip, a re-run second attempt",
			j.State, j.Flaky, j.FlakyTests, j.Attempts)
	}
}
