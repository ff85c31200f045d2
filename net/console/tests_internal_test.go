package console

import (
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// A reply's page of tests is checked against what was asked: a page that
// does not move on, is of another attempt or carries a bad record is refused.
func TestCheckPage(t *testing.T) {
	rec := wire.TestRecord{ID: "TestA", Outcome: wire.OutcomePassed}
	q := wire.JobGet{JobID: "0123456789abcdef", Attempt: 2, TestsOffset: 10, TestsLimit: 2}
	for _, c := range []struct {
		name string
		page wire.TestPage
		want string
	}{
		{"good", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Next: 12, Tests: []wire.TestRecord{rec, rec}}, ""},
		{"last", wire.TestPage{Attempt: 2, Total: 11, Offset: 10, Tests: []wire.TestRecord{rec}}, ""},
		{"too many", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Next: 13, Tests: []wire.TestRecord{rec, rec, rec}}, "3 records on a page of at most 2"},
		{"other offset", wire.TestPage{Attempt: 2, Total: 30, Offset: 0, Next: 2}, "offset 0, asked for 10"},
		{"next stands still", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Next: 10}, "next 10"},
		{"next past the end", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Next: 31}, "next 31"},
		{"other attempt", wire.TestPage{Attempt: 1, Total: 30, Offset: 10}, "attempt 1, asked for 2"},
		{"negative total", wire.TestPage{Attempt: 2, Total: -1, Offset: 10}, "total -1"},
		{"bad record", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Tests: []wire.TestRecord{{ID: "TestB", Outcome: "flaky"}}}, `tests[0] ("TestB") outcome "flaky"`},
		{"escape in a message", wire.TestPage{Attempt: 2, Total: 30, Offset: 10, Tests: []wire.TestRecord{{ID: "TestB", Outcome: wire.OutcomeFailed, Message: "a\x1b[2J"}}}, "control characters"},
	} {
		err := checkPage(&q, &c.page)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := checkPage(&q, nil); err != nil {
		t.Errorf("no page: %v", err)
	}
}

func TestCheckFlaky(t *testing.T) {
	for _, c := range []struct {
		name string
		test wire.FlakyTest
		want string
	}{
		{"good", wire.FlakyTest{ID: "TestA", Flips: 2, LastJob: "0123456789abcdef"}, ""},
		{"no id", wire.FlakyTest{Flips: 1}, "id is empty"},
		{"id with a line break", wire.FlakyTest{ID: "TestA\nFlaky: forged", Flips: 1}, "control characters"},
		{"negative flips", wire.FlakyTest{ID: "TestA", Flips: -1}, "flips -1"},
		{"bad job", wire.FlakyTest{ID: "TestA", LastJob: "../x"}, `last_job "../x"`},
	} {
		err := checkFlaky(&wire.FlakyList{Tests: []wire.FlakyTest{c.test}})
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := checkFlaky(&wire.FlakyList{Tests: make([]wire.FlakyTest, wire.MaxFlakyList+1)}); err == nil {
		t.Error("a list over MaxFlakyList passed")
	}
}
