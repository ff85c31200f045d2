package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSummaryTestsValid(t *testing.T) {
	s := Summary{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Tests: []TestOutcome{
		{"test_ok (m.T.test_ok)", OutcomePassed},
		{"test_fail (m.T.test_fail)", OutcomeFailed},
		{"test_error (m.T.test_error)", OutcomeError},
		{"test_skip (m.T.test_skip)", OutcomeSkipped},
		{"test_sub (m.T.test_sub) [é ... ü] (i=1)", OutcomeFailed},
	}}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if err := (&Summary{Tests: []TestOutcome{}}).Validate(); err != nil {
		t.Errorf("empty list: Validate() = %v", err)
	}

	// A full list: MaxTests entries whose names add up to MaxTestsBytes exactly.
	full := make([]TestOutcome, MaxTests)
	per, extra := MaxTestsBytes/MaxTests, MaxTestsBytes%MaxTests
	for i := range full {
		name := fmt.Sprintf("test_%d (m.T)", i)
		n := per
		if i < extra {
			n++
		}
		full[i] = TestOutcome{name + strings.Repeat("x", n-len(name)), OutcomePassed}
	}
	if err := (&Summary{Tests: full}).Validate(); err != nil {
		t.Errorf("full list: Validate() = %v", err)
	}
}

func TestSummaryTestsInvalid(t *testing.T) {
	ok := TestOutcome{"test_ok (m.T.test_ok)", OutcomePassed}
	many := make([]TestOutcome, MaxTests+1)
	for i := range many {
		many[i] = TestOutcome{fmt.Sprintf("test_%d", i), OutcomePassed}
	}
	// Names each within MaxTestName, together over MaxTestsBytes.
	big := make([]TestOutcome, MaxTestsBytes/MaxTestName+1)
	for i := range big {
		name := fmt.Sprintf("test_%d ", i)
		big[i] = TestOutcome{name + strings.Repeat("x", MaxTestName-len(name)), OutcomeSkipped}
	}
	for _, tc := range []struct {
		name  string
		tests []TestOutcome
		want  string // in the error
	}{
		{"too many", many, "5001 tests listed, at most 5000"},
		{"names too long together", big, fmt.Sprintf("tests[%d]: names total more than %d bytes", len(big)-1, MaxTestsBytes)},
		{"empty name", []TestOutcome{ok, {"", OutcomePassed}}, "tests[1]: name is empty"},
		{"name too long", []TestOutcome{ok, ok, {strings.Repeat("x", MaxTestName+1), OutcomeFailed}}[1:], "tests[1]: name is 513 bytes"},
		{"newline", []TestOutcome{ok, {"test_a\nStatus: passed", OutcomeFailed}}, `tests[1]: name "test_a\nStatus: passed" has control characters`},
		{"escape", []TestOutcome{{"test_\x1b[31mred", OutcomeFailed}}, "tests[0]: name"},
		{"C1 control", []TestOutcome{{"test_\u0085x", OutcomeFailed}}, "has control characters"},
		{"tab", []TestOutcome{{"test_\tx", OutcomeFailed}}, "has control characters"},
		{"invalid UTF-8", []TestOutcome{ok, {"test_\xff", OutcomeFailed}}, "tests[1]: name \"test_\\xff\" is not valid UTF-8"},
		{"unknown outcome", []TestOutcome{ok, ok, {"test_x (m.T.test_x)", "flaky"}}[1:],
			`tests[1] ("test_x (m.T.test_x)"): outcome "flaky": want passed, failed, error or skipped`},
		{"missing outcome", []TestOutcome{{"test_x", ""}}, `tests[0] ("test_x"): outcome ""`},
		{"outcome is case-sensitive", []TestOutcome{{"test_x", "PASSED"}}, `outcome "PASSED"`},
		{"job status is not an outcome", []TestOutcome{{"test_x", StatusCancelled}}, `outcome "cancelled"`},
		{"duplicate", []TestOutcome{ok, {"test_b", OutcomeFailed}, {ok.Name, OutcomeFailed}}, `tests[2]: name "test_ok (m.T.test_ok)" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Summary{Tests: tc.tests}
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			// The same error rejects the result that carries the summary.
			now := time.Now()
			r := &Result{JobID: "00112233445566aa", Attempt: 1, Status: StatusFailed, StartedAt: now, FinishedAt: now, Summary: *s}
			if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Result.Validate() = %v", err)
			}
		})
	}
}

// Tests is optional: omitted when empty, and a summary from a peer that does not
// know it (or one that does, read by such a peer) decodes as before.
func TestSummaryTestsCompatible(t *testing.T) {
	b, err := json.Marshal(Summary{Passed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"passed":2,"failed":0,"errors":0,"skipped":0}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}

	var old Summary
	if err := Decode(MethodJobResult, []byte(`{"passed":1,"failed":1,"errors":0,"skipped":0,"failing":["test_b (m.T)"]}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Tests != nil || old.Validate() != nil {
		t.Errorf("old summary = %+v", old)
	}

	s := Summary{Passed: 1, Failed: 1, Failing: []string{"test_b (m.T)"},
		Tests: []TestOutcome{{"test_a (m.T)", OutcomePassed}, {"test_b (m.T)", OutcomeFailed}}}
	b, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"tests":[{"name":"test_a (m.T)","outcome":"passed"},{"name":"test_b (m.T)","outcome":"failed"}]`) {
		t.Errorf("Marshal = %s", b)
	}
	// What a peer built before Tests existed decodes.
	var before struct {
		Passed, Failed, Errors, Skipped int
		Failing                         []string
	}
	if err := json.Unmarshal(b, &before); err != nil || before.Passed != 1 || len(before.Failing) != 1 {
		t.Errorf("old peer decodes %+v, %v", before, err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil || len(back.Tests) != 2 || back.Tests[1] != s.Tests[1] {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// A result with every list full, at realistic (ASCII, unescaped) names, fits in
// a frame.
func TestSummaryTestsFitInFrame(t *testing.T) {
	now := time.Now()
	r := &Result{JobID: "00112233445566aa", Attempt: 1, Status: StatusFailed, ExitCode: 1,
		Reason: strings.Repeat("r", MaxReasonLen), StartedAt: now, FinishedAt: now, OutputBytes: 1 << 40,
		Summary: Summary{Passed: 1e9, Failed: 1e9, Errors: 1e9, Skipped: 1e9}}
	for i := range MaxFailing {
		name := fmt.Sprintf("test_%d (tests.test_m.T.test_%d)", i, i)
		r.Summary.Failing = append(r.Summary.Failing, name+strings.Repeat("x", MaxTestName-len(name)))
	}
	per, extra := MaxTestsBytes/MaxTests, MaxTestsBytes%MaxTests
	for i := range MaxTests {
		name := fmt.Sprintf("test_%d (tests.test_m.T.test_%d)", i, i)
		n := per
		if i < extra {
			n++
		}
		r.Summary.Tests = append(r.Summary.Tests, TestOutcome{name + strings.Repeat("x", n-len(name)), OutcomeSkipped})
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	f, err := NewRequest(1<<53, MethodJobResult, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxFrameSize {
		t.Errorf("frame is %d bytes, over %d", len(b), MaxFrameSize)
	}
	t.Logf("frame is %d bytes", len(b))
}
