package tui

import (
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// A summary from protocol 9 says which counts were not reported and gives each
// failing test its message and duration; one with nothing recognised says so
// instead of zeros.
func TestDetailSummaryNotReported(t *testing.T) {
	snap := sample()
	for i := range snap.Jobs {
		switch snap.Jobs[i].ID {
		case idFailed:
			snap.Jobs[i].Summary = &wire.Summary{Failed: 1, Reported: new(true),
				Unknown:  []string{wire.CountPassed, wire.CountSkipped},
				Failing:  []string{"TestParseLimits"},
				Failures: []wire.Failure{{ID: "TestParseLimits", Message: "limits_test.go:12: got 3, want 4", DurationMS: new(int64(1500))}}}
		case idPassed:
			snap.Jobs[i].Summary = &wire.Summary{Reported: new(false)}
		}
	}
	b := newFake(snap)
	b.final[idFailed], b.final[idPassed] = true, true
	hs := newHarness(t, b, 120, 30)
	hs.selectJob(idFailed)
	hs.press("enter")
	hs.wantScreen("tests: not reported passed · 1 failed · 0 errors · not reported skipped",
		"failing: TestParseLimits (1.5s) — limits_test.go:12: got 3, want 4")
	hs.press("esc")
	hs.selectJob(idPassed)
	hs.press("enter")
	hs.wantScreen("tests: not reported; the exit status decides")
}
