package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSummaryReportValid(t *testing.T) {
	for _, s := range []Summary{
		{},                     // a runner before 9
		{Reported: new(false)}, // nothing recognised
		{Reported: new(true), Failed: 3, Unknown: []string{CountPassed, CountSkipped}, Failing: []string{"TestA", "TestB"},
			Failures: []Failure{{ID: "TestA", Message: "a_test.go:3: got 1, want 2", DurationMS: new(int64(12))}, {ID: "TestB"}}},
		{Reported: new(true), Unknown: []string{CountSkipped, CountErrors, CountFailed, CountPassed}},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
}

func TestSummaryReportInvalid(t *testing.T) {
	many := make([]Failure, MaxFailing+1)
	for i := range many {
		many[i] = Failure{ID: strings.Repeat("x", i+1)}
	}
	for _, tc := range []struct {
		name string
		s    Summary
		want string
	}{
		{"not reported with counts", Summary{Reported: new(false), Passed: 1}, "reported is false but a count is not 0"},
		{"not reported with failing", Summary{Reported: new(false), Failing: []string{"TestA"}}, "reported is false but unknown, failing"},
		{"not reported with unknown", Summary{Reported: new(false), Unknown: []string{CountPassed}}, "reported is false but unknown"},
		{"unknown count", Summary{Unknown: []string{"passed", "flaky"}}, `unknown[1] "flaky": want passed, failed, errors or skipped`},
		{"unknown twice", Summary{Unknown: []string{"passed", "passed"}}, `unknown[1] "passed" is listed twice`},
		{"too many failures", Summary{Failures: many}, "201 failures listed, at most 200"},
		{"empty id", Summary{Failures: []Failure{{ID: ""}}}, "failures[0]: id is empty"},
		{"id too long", Summary{Failures: []Failure{{ID: strings.Repeat("x", MaxTestName+1)}}}, "failures[0]: id is 513 bytes"},
		{"id with a newline", Summary{Failures: []Failure{{ID: "TestA\nStatus: passed"}}}, "has control characters"},
		{"id twice", Summary{Failures: []Failure{{ID: "TestA"}, {ID: "TestA"}}}, `failures[1]: id "TestA" is listed twice`},
		{"message with a newline", Summary{Failures: []Failure{{ID: "TestA", Message: "a\nFailing: forged"}}}, `failures[0] ("TestA"): message`},
		{"message too long", Summary{Failures: []Failure{{ID: "TestA", Message: strings.Repeat("m", MaxFailureMessage+1)}}}, "message is 513 bytes, at most 512"},
		{"message not UTF-8", Summary{Failures: []Failure{{ID: "TestA", Message: "\xff"}}}, "not valid UTF-8"},
		{"negative duration", Summary{Failures: []Failure{{ID: "TestA", DurationMS: new(int64(-1))}}}, "failures[0]: duration_ms -1"},
		{"huge duration", Summary{Failures: []Failure{{ID: "TestA", DurationMS: new(int64(MaxDurationMS + 1))}}}, "duration_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// What an older dispatcher or console sees: the four counts as before, the new
// members beside them (unknown members, skipped); reported is sent when false.
func TestSummaryReportJSON(t *testing.T) {
	b, err := json.Marshal(Summary{Reported: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"passed":0,"failed":0,"errors":0,"skipped":0,"reported":false}`; got != want {
		t.Errorf("not reported: %s, want %s", got, want)
	}
	b, _ = json.Marshal(Summary{})
	if strings.Contains(string(b), "reported") || strings.Contains(string(b), "unknown") || strings.Contains(string(b), "failures") {
		t.Errorf("a summary without the new members: %s", b)
	}
}
