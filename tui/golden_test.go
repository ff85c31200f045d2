package tui

import (
	"bytes"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/eventide-ci/eventide/internal/testkit"
)

// The golden tests run the console as a real program (teatest) on an ASCII
// terminal of a fixed size, wait for the screen to show what is expected, then
// compare the final screen, as text, with testdata/<test>.golden. Run
// `go test ./tui/ -run Golden -update` to rewrite the files after a deliberate
// change, and read the diff.

// waitScreen waits until the program has drawn all of subs.
func waitScreen(t *testing.T, tm *teatest.TestModel, subs ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(out []byte) bool {
		for _, s := range subs {
			if !bytes.Contains(out, []byte(s)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(testkit.Patience), teatest.WithCheckInterval(5*time.Millisecond))
}

func startProgram(t *testing.T, b Backend, w, h int) *teatest.TestModel {
	t.Helper()
	m := New(b, Options{Now: fixedNow, Address: "127.0.0.1:7700", Hosted: true})
	return teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
}

// finalScreen quits the program and returns its last screen as plain text.
func finalScreen(t *testing.T, tm *teatest.TestModel) []byte {
	t.Helper()
	tm.Send(keyMsg("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(testkit.Patience)).(*Model)
	if fm.color {
		t.Fatalf("colour on an ASCII terminal")
	}
	return []byte(stripANSI(fm.render()) + "\n")
}

// goldenSizes are the terminals the golden screens are drawn on: a roomy one
// and the smallest the console is designed for.
var goldenSizes = []struct {
	name string
	w, h int
}{{"100x30", 100, 30}, {"80x24", 80, 24}}

// openFailed opens the third job of the sample, the failed one with two
// attempts, and waits for its attempts and subs (a wait reads the output it
// looks at, so that what it saw is not seen again by the next one).
func openFailed(t *testing.T, tm *teatest.TestModel, subs ...string) {
	t.Helper()
	waitScreen(t, tm, "Bump")
	tm.Send(keyMsg("j"))
	tm.Send(keyMsg("j"))
	tm.Send(keyMsg("enter"))
	waitScreen(t, tm, append([]string{"#2 runner-2"}, subs...)...)
}

func TestGoldenLists(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(sz.name, func(t *testing.T) {
			tm := startProgram(t, newFake(sample()), sz.w, sz.h)
			waitScreen(t, tm, "Bump", "runner-old")
			golden.RequireEqual(t, finalScreen(t, tm))
		})
	}
}

func TestGoldenDetail(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(sz.name, func(t *testing.T) {
			b := newFake(sample())
			b.logs[idFailed] = "=== RUN   TestParseLimits\n    limits_test.go:12: got 3, want 4\n--- FAIL: TestParseLimits (0.00s)\n" +
				"=== RUN   TestDefaults/zero\n    defaults_test.go:40: zero limit accepted\n--- FAIL: TestDefaults/zero (0.00s)\nFAIL\nexit status 1\n"
			b.final[idFailed] = true
			tm := startProgram(t, b, sz.w, sz.h)
			openFailed(t, tm, "exit status 1")
			golden.RequireEqual(t, finalScreen(t, tm))
		})
	}
}

func TestGoldenFilterAndHelp(t *testing.T) {
	tm := startProgram(t, newFake(sample()), 80, 24)
	waitScreen(t, tm, "Bump")
	tm.Type("/main")
	tm.Send(keyMsg("enter"))
	tm.Send(keyMsg("?"))
	waitScreen(t, tm, "4 of 7", "close the help")
	golden.RequireEqual(t, finalScreen(t, tm))
}

func TestGoldenConnectionLost(t *testing.T) {
	b := newFake(sample())
	tm := startProgram(t, b, 100, 30)
	waitScreen(t, tm, "Bump")
	// The reconnection hangs until the program ends, so the screen stays put.
	b.mu.Lock()
	b.subGate = make(chan struct{})
	b.mu.Unlock()
	b.drop()
	waitScreen(t, tm, "reconnecting")
	golden.RequireEqual(t, finalScreen(t, tm))
}

// The lists and the detail of jobs whose tests flipped, with failures that
// have messages and durations.
func TestGoldenFlakyJobs(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run("lists-"+sz.name, func(t *testing.T) {
			tm := startProgram(t, reportSample(), sz.w, sz.h)
			waitScreen(t, tm, "Bump", "· flaky")
			golden.RequireEqual(t, finalScreen(t, tm))
		})
		t.Run("detail-"+sz.name, func(t *testing.T) {
			b := reportSample()
			b.logs[idFailed] = "--- FAIL: TestParseLimits (1.50s)\n--- FAIL: TestDefaults/zero (0.01s)\nFAIL\nexit status 1\n"
			tm := startProgram(t, b, sz.w, sz.h)
			openFailed(t, tm, "exit status 1")
			golden.RequireEqual(t, finalScreen(t, tm))
		})
	}
}

// The tests of an attempt, slowest first, with a failing one selected.
func TestGoldenTests(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(sz.name, func(t *testing.T) {
			b := reportSample()
			tm := startProgram(t, b, sz.w, sz.h)
			openFailed(t, tm)
			tm.Send(keyMsg("t"))
			waitScreen(t, tm, "TestCase257")
			// Down to the slowest failing test.
			for range slowestFailing(b.tests[idFailed]) {
				tm.Send(keyMsg("j"))
			}
			waitScreen(t, tm, "case_test.go:251")
			golden.RequireEqual(t, finalScreen(t, tm))
		})
	}
}

// A repository's flaky tests.
func TestGoldenFlaky(t *testing.T) {
	tm := startProgram(t, reportSample(), 80, 24)
	waitScreen(t, tm, "Bump")
	tm.Send(keyMsg("F"))
	waitScreen(t, tm, "TestDefaults/zero")
	golden.RequireEqual(t, finalScreen(t, tm))
}
