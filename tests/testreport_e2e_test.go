package tests

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// goTests is a tiny Go module's test file: one test passes, one fails.
const goTests = `package sample

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) {
	t.Fatal("got 3, want 4")
}
`

// goEnv is what a job running go test needs from the test's own toolchain: its
// build cache (so that the standard library is not rebuilt for each job), no
// toolchain download and no module proxy.
func goEnv(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	env := []string{"GOTOOLCHAIN=local", "GOPROXY=off"}
	if c := strings.TrimSpace(string(out)); c != "" && c != "off" {
		env = append(env, "GOCACHE="+c)
	} else {
		env = append(env, "GOCACHE="+t.TempDir())
	}
	return env
}

// The result of any test runner's output (protocol 9): go test -json gives
// counts, the failing test and its message; plain go test cannot know what
// passed, which the result says instead of 0; output with no test report says
// so instead of "0 passed, 0 failed". The console's job.get carries the same.
func TestTestReports(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := t.TempDir()
	d := startDispatcher(t, 0, resDir, nil, "--max-attempts", "1")
	startRunner(t, d.addr, t.TempDir(), "reports-runner", childEnv(goEnv(t)...))

	module := map[string]string{"go.mod": "module example.com/sample\n\ngo 1.21\n", "sample_test.go": goTests}
	with := func(command string) map[string]string {
		files := map[string]string{".eventide.yml": "command: " + command + "\n"}
		for k, v := range module {
			files[k] = v
		}
		return files
	}
	jsonCommit := repo.commit("go test -json", with("go test -json ./..."))
	jsonJob := submitCommit(t, d.addr, "", repo.dir, jsonCommit, "main")
	plainCommit := repo.commit("go test", with("go test ./..."))
	plainJob := submitCommit(t, d.addr, "", repo.dir, plainCommit, "main")
	noneCommit := repo.commit("no report", with("echo building; echo all done"))
	submitCommit(t, d.addr, "", repo.dir, noneCommit, "main")

	failing := func(r *resultFile) {
		t.Helper()
		f := r.fields["Failing"]
		if len(f) != 1 || !strings.HasPrefix(f[0], "TestFails — ") || !strings.Contains(f[0], "got 3, want 4") {
			t.Errorf("Failing = %q, want TestFails with its message\n%s", f, r.raw)
		}
	}
	r := waitResult(t, resDir, jsonCommit, 2*patience)
	if r.get("Status") != "failed" || r.get("Tests") != "1 passed, 1 failed, 0 errors, 0 skipped" {
		t.Errorf("go test -json: Status %q, Tests %q\n%s", r.get("Status"), r.get("Tests"), r.raw)
	}
	failing(r)

	r = waitResult(t, resDir, plainCommit, 2*patience)
	if r.get("Status") != "failed" || r.get("Tests") != "not reported passed, 1 failed, 0 errors, not reported skipped" {
		t.Errorf("go test: Status %q, Tests %q\n%s", r.get("Status"), r.get("Tests"), r.raw)
	}
	failing(r)

	r = waitResult(t, resDir, noneCommit, 2*patience)
	if r.get("Status") != "passed" || r.get("Tests") != "not reported; the exit status decides" || len(r.fields["Failing"]) != 0 {
		t.Errorf("no report: Status %q, Tests %q\n%s", r.get("Status"), r.get("Tests"), r.raw)
	}

	con, err := dialClient(context.Background(), d.addr, wire.RoleConsole, "reports-console")
	if err != nil {
		t.Fatal(err)
	}
	defer con.close()
	for _, tc := range []struct {
		id      string
		unknown []string
	}{{jsonJob.JobID, nil}, {plainJob.JobID, []string{wire.CountPassed, wire.CountSkipped}}} {
		var j wire.JobInfo
		if err := con.call(context.Background(), wire.MethodJobGet, &wire.JobID{JobID: tc.id}, &j); err != nil {
			t.Fatal(err)
		}
		s := j.Summary
		if s == nil || s.NotReported() || !slices.Equal(s.Unknown, tc.unknown) || len(s.Failures) != 1 ||
			s.Failures[0].ID != "TestFails" || !strings.Contains(s.Failures[0].Message, "got 3, want 4") {
			t.Errorf("job.get %s: summary %+v, want unknown %q and TestFails' message", tc.id, s, tc.unknown)
		}
	}
}
