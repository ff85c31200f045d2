package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// fixture is real captured output from testreport's test data.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testreport", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validSummary(t *testing.T, s wire.Summary) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate() = %v for %+v", err, s)
	}
}

func failureOf(s wire.Summary, id string) (wire.Failure, bool) {
	for _, f := range s.Failures {
		if f.ID == id {
			return f, true
		}
	}
	return wire.Failure{}, false
}

func TestTestSummaryNothingRecognised(t *testing.T) {
	t.Parallel()
	for _, out := range []string{"", "building...\nall good\n", "eventide: runner r1, commit abc, running \"make\"\n"} {
		s := testSummary([]byte(out))
		validSummary(t, s)
		if !s.NotReported() {
			t.Errorf("%q: summary %+v, want reported false", out, s)
		}
	}
}

func TestTestSummaryGoJSON(t *testing.T) {
	t.Parallel()
	s := testSummary(fixture(t, "go-json.txt"))
	validSummary(t, s)
	if s.NotReported() || len(s.Unknown) != 0 {
		t.Fatalf("reported %v, unknown %v: want every count known", s.Reported, s.Unknown)
	}
	if got := [4]int{s.Passed, s.Failed, s.Errors, s.Skipped}; got != [4]int{5, 3, 2, 1} {
		t.Errorf("counts %v, want 5 passed, 3 failed, 2 errors, 1 skipped", got)
	}
	want := []string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}
	if !reflect.DeepEqual(s.Failing, want) {
		t.Errorf("failing %q, want %q", s.Failing, want)
	}
	f, ok := failureOf(s, "TestParallel/b")
	if !ok || f.Message != "calc_test.go:47: b failed in parallel" || f.DurationMS == nil {
		t.Errorf("failure of TestParallel/b = %+v, %v", f, ok)
	}
	if len(s.Tests) == 0 {
		t.Errorf("no per-test outcomes")
	}
}

// Plain go test prints no passing test: passed and skipped are not reported,
// never 0, and only the first line of a message is kept.
func TestTestSummaryGoPlain(t *testing.T) {
	t.Parallel()
	s := testSummary(fixture(t, "go-plain.txt"))
	validSummary(t, s)
	if !reflect.DeepEqual(s.Unknown, []string{wire.CountPassed, wire.CountSkipped}) {
		t.Errorf("unknown %q, want passed and skipped", s.Unknown)
	}
	if s.Failed != 3 || s.Errors != 2 {
		t.Errorf("failed %d, errors %d, want 3 and 2", s.Failed, s.Errors)
	}
	if f, _ := failureOf(s, "TestTable/2+2"); f.Message != "calc_test.go:29: got 4, want 5" {
		t.Errorf("TestTable/2+2's message %q, want its first line", f.Message)
	}
}

// unittest counts a method once however many of its subtests fail (the old
// parser counted each failing subtest and came out short on passed).
func TestTestSummaryUnittestSubtests(t *testing.T) {
	t.Parallel()
	s := testSummary(fixture(t, "unittest.txt"))
	validSummary(t, s)
	if got := [4]int{s.Passed, s.Failed, s.Errors, s.Skipped}; got != [4]int{4, 2, 2, 2} {
		t.Errorf("counts %v, want 4 passed, 2 failed, 2 errors, 2 skipped", got)
	}
	if f, _ := failureOf(s, "test_even (tests.test_sample.Arithmetic.test_even) (i=3)"); f.Message != "AssertionError: 1 != 0" {
		t.Errorf("subtest message %q", f.Message)
	}
}

// Whatever the output holds, the summary is one the dispatcher accepts:
// failing tests capped, names and messages cut and on one line, a test
// reported by two runs listed once.
func TestTestSummaryBounds(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	long := strings.Repeat("é", wire.MaxTestName)
	for i := range wire.MaxFailing + 50 {
		fmt.Fprintf(&b, "--- FAIL: TestX%d%s (0.01s)\n    x_test.go:1: %s\u202e\n", i, long, strings.Repeat("m", 2*wire.MaxFailureMessage))
	}
	b.WriteString("FAIL\nFAIL\texample.com/a\t0.1s\n")
	b.WriteString("--- FAIL: TestX0" + long + " (0.01s)\nFAIL\nFAIL\texample.com/b\t0.1s\n")
	s := testSummary([]byte(b.String()))
	validSummary(t, s)
	if len(s.Failing) != wire.MaxFailing || len(s.Failures) != wire.MaxFailing {
		t.Errorf("%d failing, %d failures: want %d each", len(s.Failing), len(s.Failures), wire.MaxFailing)
	}
	if s.Failed != wire.MaxFailing+51 {
		t.Errorf("failed %d, want every failure counted (%d)", s.Failed, wire.MaxFailing+51)
	}
	if m := s.Failures[0].Message; len(m) > wire.MaxFailureMessage || strings.Contains(m, "\u202e") {
		t.Errorf("message %d bytes, %q", len(m), m[:20])
	}
}

func TestFirstLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                       "",
		"\n  \nfirst\nsecond":    "first",
		"  a\tb  ":               "a b",
		"x\x1b[31m":              "x [31m",
		strings.Repeat("é", 400): strings.Repeat("é", wire.MaxFailureMessage/2),
	} {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}
