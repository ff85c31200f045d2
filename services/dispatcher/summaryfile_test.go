package dispatcher

import (
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// The Tests: line keeps its four counts in order, split by ", ", each ending in
// its word, whatever is known; "not reported" replaces a count never a 0.
func TestTestsLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    store.Summary
		want string
	}{
		{store.Summary{Passed: 4, Failed: 2, Skipped: 1}, "4 passed, 2 failed, 0 errors, 1 skipped"},
		{store.Summary{Passed: 4, Failed: 2, Skipped: 1, Reported: new(true)}, "4 passed, 2 failed, 0 errors, 1 skipped"},
		{store.Summary{Reported: new(false)}, "not reported; the exit status decides"},
		{store.Summary{Failed: 3, Reported: new(true), Unknown: []string{wire.CountPassed, wire.CountSkipped}},
			"not reported passed, 3 failed, 0 errors, not reported skipped"},
		{store.Summary{Passed: 2, Failed: 1, Reported: new(true), Unknown: []string{wire.CountPassed}},
			"at least 2 passed, 1 failed, 0 errors, 0 skipped"},
	} {
		got := testsLine(&tc.s)
		if got != tc.want {
			t.Errorf("testsLine(%+v) = %q, want %q", tc.s, got, tc.want)
		}
		if parts := strings.Split(got, ", "); tc.s.Reported == nil || *tc.s.Reported {
			for i, p := range parts {
				if len(parts) != 4 || !strings.HasSuffix(p, " "+wire.Counts[i]) {
					t.Errorf("%q: part %d %q does not end in %q", got, i, p, wire.Counts[i])
				}
			}
		}
	}
}

func TestFailingLines(t *testing.T) {
	t.Parallel()
	s := store.Summary{Failing: []string{"TestA", "TestB", "TestC", "TestD"}, Failures: []store.Failure{
		{ID: "TestA", Message: "a_test.go:3: got 1, want 2", DurationMS: new(int64(1500))},
		{ID: "TestB", Message: "panic: boom"},
		{ID: "TestC", DurationMS: new(int64(0))},
	}}
	want := []string{"TestA — a_test.go:3: got 1, want 2 (1.5s)", "TestB — panic: boom", "TestC — (0s)", "TestD"}
	if got := failingLines(&s); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("failingLines = %q, want %q", got, want)
	}
}

// The head of a result file: the Tests: and Failing: lines as scripts read them.
func TestResultFileTests(t *testing.T) {
	t.Parallel()
	now := time.Now()
	j := &Job{ID: "0123456789abcdef", Commit: commit(1), State: wire.StatusFailed, Attempt: 1}
	res := &store.Result{Attempt: 1, Status: wire.StatusFailed, ExitCode: 1, StartedAt: now, FinishedAt: now,
		Summary: store.Summary{Failed: 1, Reported: new(true), Unknown: []string{wire.CountPassed, wire.CountSkipped},
			Failing: []string{"TestB"}, Failures: []store.Failure{{ID: "TestB", Message: "b_test.go:7: wrong"}}}}
	head := summary(j, res)
	for _, want := range []string{"\nTests:     not reported passed, 1 failed, 0 errors, not reported skipped\n",
		"\nFailing:   TestB — b_test.go:7: wrong\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("result file head lacks %q:\n%s", want, head)
		}
	}
}
