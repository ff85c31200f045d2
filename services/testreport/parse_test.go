package testreport

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wantRun is a run as a table test expects it: its format and suite, and
// its counts as "passed failed errors skipped", "-" for not reported.
type wantRun struct {
	format Format
	suite  string
	counts string
}

func countsString(c Counts) string {
	f := func(n Count) string {
		switch {
		case n.Incomplete && n.N == 0:
			return "-"
		case n.Incomplete:
			return ">=" + n.String()[len("at least "):]
		}
		return n.String()
	}
	return strings.Join([]string{f(c.Passed), f(c.Failed), f(c.Errors), f(c.Skipped)}, " ")
}

func parseFixture(t testing.TB, name string) *Report {
	t.Helper()
	test2json := strings.HasPrefix(name, "test2json:")
	name = strings.TrimPrefix(name, "test2json:")
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r *Report
	switch {
	case strings.HasSuffix(name, ".xml"):
		r, err = ParseJUnit(f)
	case test2json:
		r, err = ParseTest2JSON(f)
	default:
		r, err = Parse(f)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// The fixtures are output captured from real runs (testdata/README.md);
// each case says what a person reading that output counts.
var fixtureCases = []struct {
	file    string
	runs    []wantRun
	failing []string // IDs of failed and erroring records, in order
}{
	{"unittest-v.txt", []wantRun{{FormatUnittest, "", "4 2 2 2"}}, []string{
		"test_even (tests.test_sample.Arithmetic.test_even)",
		"test_even (tests.test_sample.Arithmetic.test_even) (i=1)",
		"test_even (tests.test_sample.Arithmetic.test_even) (i=3)",
		"test_raises (tests.test_sample.Arithmetic.test_raises)",
		"test_sub_wrong (tests.test_sample.Arithmetic.test_sub_wrong)",
		"test_needs_setup (tests.test_sample.Setup.test_needs_setup)",
	}},
	{"unittest.txt", []wantRun{{FormatUnittest, "", "4 2 2 2"}}, []string{
		"test_raises (tests.test_sample.Arithmetic.test_raises)",
		"test_needs_setup (tests.test_sample.Setup.test_needs_setup)",
		"test_even (tests.test_sample.Arithmetic.test_even)",
		"test_even (tests.test_sample.Arithmetic.test_even) (i=1)",
		"test_even (tests.test_sample.Arithmetic.test_even) (i=3)",
		"test_sub_wrong (tests.test_sample.Arithmetic.test_sub_wrong)",
	}},
	{"pytest-default.txt", []wantRun{{FormatPytest, "", "4 3 1 2"}}, pytestFailing},
	{"pytest-q.txt", []wantRun{{FormatPytest, "", "4 3 1 2"}}, pytestFailing},
	{"pytest-rA.txt", []wantRun{{FormatPytest, "", "4 3 1 2"}}, []string{
		"test_pyt.py::test_error", "test_pyt.py::test_fail", "test_pyt.py::test_even[3]",
		"test_pyt.py::TestGroup::test_in_class_fails",
	}},
	{"pytest-v.txt", []wantRun{{FormatPytest, "", "4 3 1 2"}}, []string{
		"test_pyt.py::test_fail", "test_pyt.py::test_error", "test_pyt.py::test_even[3]",
		"test_pyt.py::TestGroup::test_in_class_fails",
	}},
	{"go-plain.txt", []wantRun{
		{FormatGoTest, "example.com/sample/allpass", "- 0 0 -"},
		{FormatGoTest, "example.com/sample/broken", "0 0 1 0"},
		{FormatGoTest, "example.com/sample/calc", "- 3 0 -"},
		{FormatGoTest, "example.com/sample/panics", "- 0 1 -"},
	}, []string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}},
	{"go-v.txt", []wantRun{
		{FormatGoTest, "example.com/sample/allpass", "2 0 0 0"},
		{FormatGoTest, "example.com/sample/broken", "0 0 1 0"},
		{FormatGoTest, "example.com/sample/calc", "2 3 0 1"},
		{FormatGoTest, "example.com/sample/panics", "1 0 1 0"},
	}, []string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}},
	{"go-json.txt", []wantRun{
		{FormatGoJSON, "example.com/sample/allpass", "2 0 0 0"},
		{FormatGoJSON, "example.com/sample/broken", "0 0 1 0"},
		{FormatGoJSON, "example.com/sample/calc", "2 3 0 1"},
		{FormatGoJSON, "example.com/sample/panics", "1 0 1 0"},
	}, []string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}},
	{"test2json:go-json.txt", []wantRun{
		{FormatTest2JSON, "example.com/sample/allpass", "2 0 0 0"},
		{FormatTest2JSON, "example.com/sample/broken", "0 0 1 0"},
		{FormatTest2JSON, "example.com/sample/calc", "2 3 0 1"},
		{FormatTest2JSON, "example.com/sample/panics", "1 0 1 0"},
	}, []string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}},
	{"node-tap.txt", []wantRun{{FormatTAP, "", "4 5 0 2"}}, nodeFailing},
	{"node-spec.txt", []wantRun{{FormatNodeSpec, "", "4 5 0 2"}}, nodeFailing},
	{"tap-perl.txt", []wantRun{{FormatTAP, "", "1 1 0 2"}}, []string{"second fails"}},
	{"prove-v.txt", []wantRun{{FormatTAP, "", "1 1 0 2"}, {FormatTAP, "", "1 0 0 0"}}, []string{"second fails"}},
	{"prove.txt", []wantRun{{FormatProve, "", "4 1 0 -"}}, []string{"t/basic.t #2"}},
	{"prove-dies.txt", []wantRun{{FormatProve, "", "5 1 1 -"}}, []string{"t/basic.t #2", "t/dies.t"}},
	{"jest.txt", []wantRun{{FormatJest, "", "3 3 0 2"}}, jestFailing},
	{"jest-verbose.txt", []wantRun{{FormatJest, "", "3 3 0 2"}}, []string{"param 2", "math › subtracts wrongly", "math › nested › deep fails"}},
	{"jest-broken.txt", []wantRun{{FormatJest, "", "1 0 1 0"}}, []string{"t/broken.test.js"}},
	{"vitest-broken.txt", []wantRun{{FormatVitest, "", "1 0 1 0"}}, []string{"t/broken.test.js"}},
	{"vitest.txt", []wantRun{{FormatVitest, "", "3 3 0 2"}}, vitestFailing},
	{"vitest-color.txt", []wantRun{{FormatVitest, "", "3 3 0 2"}}, vitestFailing},
	{"cargo.txt", []wantRun{
		{FormatCargo, "unittests src/lib.rs", "2 1 0 1"},
		{FormatCargo, "tests/integration.rs", "1 1 0 0"},
		{FormatCargo, "sample", "0 0 0 0"},
	}, []string{"tests::adds_wrong", "integration_fails"}},
	{"plain.txt", []wantRun{{FormatPlain, "", "7 1 0 2"}}, nil},
	{"mixed-go-pytest.txt", []wantRun{
		{FormatGoTest, "example.com/sample/allpass", "- 0 0 -"},
		{FormatGoTest, "example.com/sample/broken", "0 0 1 0"},
		{FormatGoTest, "example.com/sample/calc", "- 3 0 -"},
		{FormatGoTest, "example.com/sample/panics", "- 0 1 -"},
		{FormatPytest, "", "4 3 1 2"},
	}, append([]string{"example.com/sample/broken", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}, pytestFailing...)},
	{"pytest-junit.xml", []wantRun{{FormatJUnit, "", "4 3 1 2"}}, []string{"test_fail", "test_error", "test_even[3]", "test_in_class_fails"}},
	{"node-junit.xml", []wantRun{{FormatJUnit, "", "4 4 0 2"}}, []string{"subtracts wrongly", "throws", "divides wrongly", "sub fails"}},
	{"jest-junit.xml", []wantRun{{FormatJUnit, "", "4 3 0 1"}}, []string{"math subtracts wrongly", "math nested deep fails", "param 2"}},
	{"go-junit-report.xml", []wantRun{{FormatJUnit, "", "10 6 1 2"}}, []string{"[build failed]", "TestAddWrong", "TestTable", "TestTable/2+2", "TestParallel", "TestParallel/b", "TestPanics"}},
	{"surefire.xml", []wantRun{{FormatJUnit, "", "2 1 1 1"}}, []string{"subtractsWrongly", "divides"}},
	{"gradle.xml", []wantRun{{FormatJUnit, "", "2 1 0 1"}}, []string{"[2] input=b"}},
}

var (
	pytestFailing = []string{"test_pyt.py::test_fail", "test_pyt.py::test_even[3]", "test_pyt.py::TestGroup::test_in_class_fails", "test_pyt.py::test_error"}
	nodeFailing   = []string{"subtracts wrongly", "throws", "math suite", "math suite > divides wrongly", "with subtests", "with subtests > sub fails"}
	jestFailing   = []string{"math › subtracts wrongly", "math › nested › deep fails", "param 2"}
	vitestFailing = []string{"math > subtracts wrongly", "math > nested > deep fails", "param 2"}
)

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			r := parseFixture(t, tc.file)
			var got []wantRun
			for _, run := range r.Runs {
				got = append(got, wantRun{run.Format, run.Suite, countsString(run.Counts)})
			}
			if !reflect.DeepEqual(got, tc.runs) {
				t.Errorf("runs:\n got %v\nwant %v\n%s", got, tc.runs, dump(r))
			}
			var failing []string
			for _, rec := range r.Failing() {
				failing = append(failing, rec.ID)
			}
			if !reflect.DeepEqual(failing, tc.failing) {
				t.Errorf("failing:\n got %q\nwant %q", failing, tc.failing)
			}
			for _, run := range r.Runs {
				for _, rec := range run.Records {
					if (rec.Outcome == Failed || rec.Outcome == Error) && rec.Message == "" && !hasFailingChild(run, rec) && run.Format != FormatJUnit && run.Format != FormatProve && tc.file != "prove-v.txt" {
						// (prove prints a test's stderr before its TAP or
						// its summary.)
						t.Errorf("%s: %q failed with no message", run.Format, rec.ID)
					}
				}
			}
		})
	}
}

// hasFailingChild reports whether rec failed through its subtests, which
// carry the message.
func hasFailingChild(run Run, rec Record) bool {
	for _, r := range run.Records {
		if r.Parent == rec.ID && (r.Outcome == Failed || r.Outcome == Error) {
			return true
		}
	}
	return false
}

// The message of a failure is its first lines: the assertion, not the
// traceback or the stack.
func TestMessages(t *testing.T) {
	for _, tc := range []struct{ file, id, want string }{
		{"unittest-v.txt", "test_sub_wrong (tests.test_sample.Arithmetic.test_sub_wrong)", "AssertionError: 2 != 1 : subtraction is off"},
		{"unittest.txt", "test_even (tests.test_sample.Arithmetic.test_even) (i=3)", "AssertionError: 1 != 0"},
		{"pytest-default.txt", "test_pyt.py::TestGroup::test_in_class_fails", "ValueError: bad value\nsecond line"},
		{"pytest-q.txt", "test_pyt.py::test_error", "RuntimeError: fixture broke"},
		{"go-plain.txt", "TestTable/2+2", "calc_test.go:29: got 4, want 5\nsecond line of the message"},
		{"go-v.txt", "TestAddWrong", "calc_test.go:15: checking a sum that is wrong on purpose\ncalc_test.go:17: Add(2, 2) = 4, want 5"},
		{"go-v.txt", "TestPanics", "panic: assignment to entry in nil map [recovered, repanicked]"},
		{"go-json.txt", "example.com/sample/broken", "broken/broken.go:3:23: undefined: undefinedThing"},
		{"go-json.txt", "TestParallel/b", "calc_test.go:47: b failed in parallel"},
		{"node-tap.txt", "math suite > divides wrongly", "Expected values to be strictly equal:\n\n2 !== 3"},
		{"node-spec.txt", "throws", "Error: boom in the test"},
		{"tap-perl.txt", "second fails", "Failed test 'second fails'\nat t/basic.t line 3."},
		{"jest.txt", "math › nested › deep fails", "boom deep"},
		{"vitest.txt", "math > nested > deep fails", "Error: boom deep"},
		{"cargo.txt", "integration_fails", "thread 'integration_fails' (14348) panicked at tests/integration.rs:5:26:\nintegration broke"},
		{"prove-dies.txt", "t/dies.t", "Non-zero exit status: 255\nParse errors: Bad plan.  You planned 2 tests but ran 1."},
		{"pytest-junit.xml", "test_fail", "AssertionError: subtraction is off\nassert (3 - 1) == 1"},
		{"go-junit-report.xml", "[build failed]", "broken/broken.go:3:23: undefined: undefinedThing"},
		{"surefire.xml", "subtractsWrongly", "expected: <1> but was: <2>"},
		{"jest-junit.xml", "math nested deep fails", "Error: boom deep"},
	} {
		r := parseFixture(t, tc.file)
		found := false
		for _, rec := range r.Failing() {
			if rec.ID == tc.id {
				found = true
				if rec.Message != tc.want {
					t.Errorf("%s %q: message %q, want %q", tc.file, tc.id, rec.Message, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no failing %q", tc.file, tc.id)
		}
	}
}
