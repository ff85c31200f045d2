package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// reportSample is the sample with what protocol 10 adds: the failed job's
// failures with messages and durations, its flaky test and its per-test
// records; the passed job passed after a failure of its commit.
func reportSample() *fakeBackend {
	snap := sample()
	for i := range snap.Jobs {
		j := &snap.Jobs[i]
		switch j.ID {
		case idFailed:
			j.Summary.Failures = []wire.Failure{
				{ID: "TestParseLimits", Message: "limits_test.go:12: got 3, want 4", DurationMS: new(int64(1500))},
				{ID: "TestDefaults/zero", Message: "defaults_test.go:40: zero limit accepted", DurationMS: new(int64(12))},
			}
			j.FlakyTests = []string{"TestDefaults/zero"}
			j.TestsTotal = 43
		case idPassed:
			j.Attempt, j.Flaky, j.FlakyTests = 2, true, []string{"TestRetryBackoff"}
		}
	}
	b := newFake(snap)
	b.final[idFailed], b.final[idPassed] = true, true
	b.tests[idFailed] = records(450)
	b.flaky["/src/app"] = []wire.FlakyTest{
		{ID: "TestRetryBackoff", Suite: "app/net", Flips: 3, LastSeen: t0.Add(-4 * time.Minute), LastJob: idPassed, LastCommit: "4444444dddddddd"},
		{ID: "TestDefaults/zero", Suite: "app/config", Flips: 1, LastSeen: t0.Add(-2 * time.Hour), LastJob: idFailed, LastCommit: "3333333cccccccc"},
	}
	return b
}

// records makes n tests in reported order; test i takes i*7 % n ms, the
// failing ones have a message of three lines, and every tenth has no duration.
func records(n int) []wire.TestRecord {
	out := make([]wire.TestRecord, n)
	for i := range out {
		r := wire.TestRecord{ID: fmt.Sprintf("TestCase%03d", i), Suite: "app/pkg", Outcome: wire.OutcomePassed}
		if i%10 != 9 {
			r.DurationMS = new(int64(i * 7 % n))
		}
		if i%50 == 1 {
			r.Outcome, r.Message = wire.OutcomeFailed, fmt.Sprintf("case_test.go:%d: got %d\nwant %d\nthird line\nfourth line", i, i, i+1)
		}
		out[i] = r
	}
	return out
}

// slowest is what the tests view shows first: test i's duration is i*7 % 450,
// largest for the i that makes it 449.
func slowestID(recs []wire.TestRecord) string {
	best := recs[0]
	for _, r := range recs {
		if r.DurationMS != nil && (best.DurationMS == nil || *r.DurationMS > *best.DurationMS) {
			best = r
		}
	}
	return best.ID
}

// slowestFailing is the place of the slowest failing test in the slowest
// first order.
func slowestFailing(recs []wire.TestRecord) int {
	best := int64(-1)
	for _, r := range recs {
		if r.Outcome == wire.OutcomeFailed && *r.DurationMS > best {
			best = *r.DurationMS
		}
	}
	at := 0
	for _, r := range recs {
		if r.DurationMS != nil && *r.DurationMS > best {
			at++
		}
	}
	return at
}

func (hs *harness) openJob(id string) {
	hs.t.Helper()
	hs.selectJob(id)
	hs.press("enter")
	hs.waitFor("the job's attempts", func() bool { return hs.m.detail != nil && len(hs.m.detail.attempts) > 0 })
}

func (hs *harness) countCalls(prefix string) int {
	n := 0
	for _, c := range hs.b.allCalls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// The detail pane lists every failing test with its duration and the first
// line of its message, marks the flaky ones, and lists the job's flaky tests.
func TestDetailFailingAndFlaky(t *testing.T) {
	b := reportSample()
	b.mu.Lock()
	j := b.jobs[idFailed]
	j.Summary.Failures[0].Message = "first line only" // a summary's message is one line; a record's is not
	b.jobs[idFailed] = j
	b.mu.Unlock()
	hs := newHarness(t, b, 120, 30)
	hs.openJob(idFailed)
	hs.wantScreen(
		"failed · flaky · attempt 2",
		"tests: 40 passed · 2 failed · 0 errors · 1 skipped · t: all 43 by time",
		"failing: TestParseLimits (1.5s) — first line only",
		"TestDefaults/zero (flaky) (12ms) — defaults_test.go:40: zero limit accepted",
		"flaky:   TestDefaults/zero",
	)
	hs.press("esc")
	hs.openJob(idPassed)
	hs.wantScreen("passed · flaky · attempt 2", "flaky:   TestRetryBackoff")
	hs.noScreen("failing:")
}

// A failing list longer than the room says how many more there are and where
// to see them.
func TestDetailFailingOverflow(t *testing.T) {
	b := reportSample()
	b.mu.Lock()
	j := b.jobs[idFailed]
	j.Summary.Failing = nil
	for i := range 30 {
		j.Summary.Failing = append(j.Summary.Failing, fmt.Sprintf("TestMany%02d", i))
	}
	j.Summary.Failed = 30
	b.jobs[idFailed] = j
	b.mu.Unlock()
	hs := newHarness(t, b, 120, 30)
	hs.openJob(idFailed)
	hs.wantScreen("failing: TestMany00", "more · t: all tests")
	hs.noScreen("TestMany29")
}

// A job whose tests flipped is marked in the jobs list; "passed · flaky" is
// a pass for the state filter; the filter text "flaky" finds marked jobs; the
// state column is only widened while a marked job is in view.
func TestJobsFlakyMarker(t *testing.T) {
	hs := newHarness(t, reportSample(), 100, 30)
	hs.wantScreen("passed · flaky", "failed · flaky")
	for hs.m.jobs.state != 4 { // passed
		hs.press("s")
	}
	if ids := shownIDs(hs); !slices.Equal(ids, []string{idPassed}) {
		t.Fatalf("passed filter shows %v, want the flaky pass %s", ids, idPassed)
	}
	hs.press("esc", "/")
	for _, r := range "flaky" {
		hs.press(string(r))
	}
	hs.press("enter")
	// The error job is on branch fix/flaky.
	if ids := shownIDs(hs); !slices.Equal(ids, []string{idFailed, idPassed, idError}) {
		t.Fatalf("filter flaky shows %v, want %s, %s and %s", ids, idFailed, idPassed, idError)
	}
	hs.press("esc", "/", "f", "r", "a", "m", "e", "enter")
	hs.wantScreen("Bump the frame limit", "failed    runner-1")
	if hs.m.jobs.flaky {
		t.Fatalf("the state column is wide with no flaky job in view")
	}
	// A running job's flaky tests (of earlier attempts) do not mark it.
	j := hs.m.c.mirror.jobs[idRunning].info
	j.FlakyTests = []string{"TestX"}
	if stateText(&j) != string(wire.StateRunning) {
		t.Fatalf("running job shown as %q", stateText(&j))
	}
}

func shownIDs(hs *harness) []string {
	var ids []string
	for _, e := range hs.m.jobs.shown {
		ids = append(ids, e.info.ID)
	}
	return ids
}

// t in the detail opens the attempt's tests, slowest first, a page at a time:
// the next page is asked for as the cursor nears the end of what is loaded,
// for the same attempt; the selected test's message shows below; esc goes back
// to the job.
func TestTestsViewPages(t *testing.T) {
	b := reportSample()
	hs := newHarness(t, b, 100, 30)
	hs.openJob(idFailed)
	hs.press("t")
	if hs.m.focus != paneTests {
		t.Fatalf("t in the detail: focus %d, want the tests", hs.m.focus)
	}
	hs.waitFor("the first page", func() bool { return len(hs.m.tests.tests) > 0 })
	tv := hs.m.tests
	if len(tv.tests) != testsPageSize || tv.total != 450 || tv.attempt != 2 {
		t.Fatalf("first page: %d tests of %d, attempt %d; want %d of 450, attempt 2", len(tv.tests), tv.total, tv.attempt, testsPageSize)
	}
	if hs.countCalls("tests ") != 1 {
		t.Fatalf("opening asked for %d pages, want 1: %v", hs.countCalls("tests "), hs.b.allCalls())
	}
	slow := slowestID(b.tests[idFailed])
	hs.wantScreen("Tests of 3333333 · attempt 2 · slowest first · 200 of 450 loaded", "1/450",
		"> passed    449ms  "+slow+" · app/pkg", "OUTCOME")
	// Slowest first: each duration at most the one above it.
	for i := 1; i < len(tv.tests); i++ {
		if *tv.tests[i].DurationMS > *tv.tests[i-1].DurationMS {
			t.Fatalf("test %d (%dms) is slower than test %d (%dms)", i, *tv.tests[i].DurationMS, i-1, *tv.tests[i-1].DurationMS)
		}
	}
	// To the end of what is loaded: the next pages come, and the tests
	// without a duration are last.
	hs.press("G")
	hs.waitFor("the second page", func() bool { return len(tv.tests) >= 2*testsPageSize })
	hs.press("G")
	hs.waitFor("every page", func() bool { return tv.done })
	if len(tv.tests) != 450 || tv.tests[449].DurationMS != nil {
		t.Fatalf("after every page: %d tests, last has duration %v", len(tv.tests), tv.tests[449].DurationMS)
	}
	// The first page is of the current attempt, the others of the one it was.
	var pages []string
	for _, c := range hs.b.allCalls() {
		if strings.HasPrefix(c, "tests ") {
			pages = append(pages, c)
		}
	}
	want := []string{"tests " + idFailed + "@0 attempt 0", "tests " + idFailed + "@200 attempt 2", "tests " + idFailed + "@400 attempt 2"}
	if !slices.Equal(pages, want) {
		t.Fatalf("pages asked for: %q, want %q", pages, want)
	}
	hs.press("G")
	hs.wantScreen("450/450")
	hs.noScreen("loaded")

	// A failing test's message, its first lines, shows below the list.
	for i := range tv.tests {
		if tv.tests[i].ID == "TestCase051" {
			for tv.cursor != i {
				hs.press("k")
			}
		}
	}
	hs.wantScreen("> failed", "TestCase051", "─ Message ─", " case_test.go:51: got 51", " want 52", " third line …")
	hs.noScreen("fourth line")

	hs.press("esc")
	if hs.m.focus != paneDetail || hs.m.tests != nil {
		t.Fatalf("esc in the tests: focus %d, tests open %v; want the job", hs.m.focus, hs.m.tests != nil)
	}
	hs.wantScreen("Job " + idFailed)
}

// A failed page says why, and t asks again; a job without records says why
// the list is empty.
func TestTestsViewErrorsAndEmpty(t *testing.T) {
	b := reportSample()
	b.testsErr = errors.New("dispatcher busy")
	hs := newHarness(t, b, 100, 30)
	hs.openJob(idFailed)
	hs.press("t")
	hs.waitFor("the error", func() bool { return hs.m.tests.err != nil })
	hs.wantScreen("tests: dispatcher busy · t to ask again")
	b.mu.Lock()
	b.testsErr = nil
	b.mu.Unlock()
	hs.press("t")
	hs.waitFor("the first page", func() bool { return len(hs.m.tests.tests) > 0 })
	hs.noScreen("dispatcher busy")

	hs.press("esc", "esc")
	hs.openJob(idFailed2)
	hs.press("t")
	hs.waitFor("the empty reply", func() bool { return hs.m.tests.done })
	hs.wantScreen("no per-test records for this attempt")
	hs.press("esc", "esc")
	hs.openJob(idRunning)
	hs.press("t")
	hs.waitFor("the empty reply", func() bool { return hs.m.tests.done })
	hs.wantScreen("no per-test records yet: they come with the attempt's result")
}

// An attempt that re-runs a failure because of retry_failed says so.
func TestDetailRerunAttempt(t *testing.T) {
	b := reportSample()
	j := b.jobs[idPassed]
	j.Attempts = []wire.AttemptInfo{
		{N: 1, Runner: "runner-2", Outcome: wire.StatusFailed, Assigned: t0.Add(-290 * time.Second), Ended: t0.Add(-285 * time.Second)},
		{N: 2, Runner: "runner-2", Outcome: wire.StatusPassed, Assigned: t0.Add(-285 * time.Second), Ended: t0.Add(-280 * time.Second), Rerun: true},
	}
	b.jobs[idPassed] = j
	hs := newHarness(t, b, 120, 30)
	hs.openJob(idPassed)
	hs.wantScreen("#1 runner-2 failed after 5.0s", "#2 runner-2 passed after 5.0s · re-run of a failure (retry_failed)")
}

// A page for a tests view since closed is dropped: it does not end up in a
// later opening's list, nor does a flaky list asked for before.
func TestViewsDropStaleReplies(t *testing.T) {
	hs := newHarness(t, reportSample(), 100, 30)
	hs.openJob(idFailed)
	hs.press("t")
	old := hs.m.tests.gen
	hs.press("esc", "t")
	tv := hs.m.tests
	hs.waitFor("the second opening's page", func() bool { return len(tv.tests) > 0 && !tv.loading })
	hs.update(testsMsg{gen: old, page: &wire.TestPage{Attempt: 2, Total: 5, Tests: records(5)}})
	if len(tv.tests) != testsPageSize || tv.total != 450 {
		t.Fatalf("%d tests of %d after a stale page, want %d of 450", len(tv.tests), tv.total, testsPageSize)
	}

	hs.press("F")
	fv := hs.m.flaky
	hs.waitFor("the list", func() bool { return fv.loaded })
	stale := fv.gen
	hs.press("F")
	hs.update(flakyMsg{gen: stale, list: wire.FlakyList{Tests: []wire.FlakyTest{{ID: "TestStale", Flips: 1}}}})
	hs.waitFor("the new list", func() bool { return hs.m.flaky.loaded })
	hs.noScreen("TestStale")
}

// F opens the selected job's repository's flaky tests, from the jobs or the
// detail; enter opens the job a test last flipped in; esc goes back.
func TestFlakyView(t *testing.T) {
	b := reportSample()
	hs := newHarness(t, b, 100, 30)
	hs.selectJob(idFailed)
	hs.press("F")
	if hs.m.focus != paneFlaky {
		t.Fatalf("F in the jobs: focus %d, want the flaky tests", hs.m.focus)
	}
	hs.waitFor("the list", func() bool { return hs.m.flaky.loaded })
	hs.wantScreen("Flaky tests of /src/app (2)", "FLIPS SEEN COMMIT  TEST",
		">     3   4m 4444444 TestRetryBackoff · app/net", "    1   2h 3333333 TestDefaults/zero · app/config")
	if !slices.Contains(b.allCalls(), "flaky /src/app") {
		t.Fatalf("calls %v, want flaky /src/app", b.allCalls())
	}
	hs.press("esc")
	if hs.m.focus != paneJobs || hs.m.flaky != nil {
		t.Fatalf("esc in the flaky tests: focus %d, want the jobs", hs.m.focus)
	}
	// From the detail, esc goes back to it; enter opens the test's last job.
	hs.openJob(idFailed)
	hs.press("F")
	hs.waitFor("the list", func() bool { return hs.m.flaky.loaded })
	hs.press("esc")
	if hs.m.focus != paneDetail {
		t.Fatalf("esc in the flaky tests opened from the detail: focus %d", hs.m.focus)
	}
	hs.press("F")
	hs.waitFor("the list", func() bool { return hs.m.flaky.loaded })
	hs.press("enter")
	if hs.m.focus != paneDetail || hs.m.detail.id != idPassed || hs.m.flaky != nil {
		t.Fatalf("enter on a flaky test: focus %d, job %s; want the detail of %s", hs.m.focus, hs.m.detail.id, idPassed)
	}

	// An empty list and an error say so.
	b.mu.Lock()
	b.flaky["/src/app"] = nil
	b.mu.Unlock()
	hs.press("F")
	hs.waitFor("the list", func() bool { return hs.m.flaky.loaded })
	hs.wantScreen("no flaky tests: no test of this repository failed and passed on one commit")
	b.mu.Lock()
	b.flakyErr = errors.New("the dispatcher is older than this request")
	b.mu.Unlock()
	hs.press("F")
	hs.waitFor("the error", func() bool { return hs.m.flaky.err != nil })
	hs.wantScreen("flaky tests: the dispatcher is older than this request · F to ask again")
}

// The keys are in the help of the panes they work in.
func TestReportKeysInHelp(t *testing.T) {
	hs := newHarness(t, reportSample(), 120, 40)
	hs.press("?")
	hs.wantScreen("F   flaky")
	hs.press("?")
	hs.openJob(idFailed)
	hs.wantScreen("t tests • F flaky")
	hs.press("t")
	hs.waitFor("the first page", func() bool { return len(hs.m.tests.tests) > 0 })
	hs.press("?")
	hs.wantScreen("esc back", "F   flaky", "C-u ½ page up")
}

// The dispatcher says a pass is flaky in a later event, once the result is
// stored: the list and the open job follow it.
func TestFlakyFlagByLaterEvent(t *testing.T) {
	b := newFake(sample())
	hs := newHarness(t, b, 100, 30)
	hs.openJob(idPassed)
	hs.noScreen("· flaky", "flaky:")
	j := hs.m.c.mirror.jobs[idPassed].info
	j.Flaky, j.FlakyTests = true, []string{"TestRetryBackoff"}
	b.push(wire.Event{Kind: wire.EventJob, Job: &j})
	hs.waitFor("the flaky flag", func() bool { return hs.m.c.mirror.jobs[idPassed].info.Flaky })
	hs.wantScreen("passed · flaky · attempt 1", "flaky:   TestRetryBackoff")
	hs.press("esc")
	hs.wantScreen("passed · flaky runner-2")
}

// A page shorter than asked (the dispatcher cuts pages to fit a frame) is
// followed by the next from where it ended: every test once, in order.
func TestTestsViewShortPages(t *testing.T) {
	b := reportSample()
	b.pageCap = 70
	hs := newHarness(t, b, 100, 30)
	hs.openJob(idFailed)
	hs.press("t")
	tv := hs.m.tests
	for !tv.done {
		n := len(tv.tests)
		hs.press("G")
		hs.waitFor("the next page", func() bool { return len(tv.tests) > n || tv.done })
	}
	seen := map[string]bool{}
	for i, r := range tv.tests {
		if seen[r.ID] {
			t.Fatalf("test %s twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && r.DurationMS != nil && (tv.tests[i-1].DurationMS == nil || *r.DurationMS > *tv.tests[i-1].DurationMS) {
			t.Fatalf("test %d out of order", i)
		}
	}
	if len(seen) != 450 {
		t.Fatalf("%d tests, want 450", len(seen))
	}
}
