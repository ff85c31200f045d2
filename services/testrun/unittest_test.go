package testrun

import (
	"bytes"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/wire"
)

// runPython runs the default spec (unittest discovery) on a checkout whose
// tests/test_sample.py is source, returning the combined output.
func runPython(t *testing.T, source string) (Outcome, []byte) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not available")
	}
	dir := checkout(t, map[string]string{"tests/test_sample.py": source})
	spec, err := LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	got := Run(t.Context(), spec, Options{
		Dir:     dir,
		Env:     []string{"PYTHONDONTWRITEBYTECODE=1"},
		Output:  &out, // written only by Run's copier, read after it returns
		Timeout: 30 * time.Second,
	})
	if got.Reason != ReasonExited {
		t.Fatalf("python run: %v (%v)\n%s", got.Reason, got.Err, out.Bytes())
	}
	return got, out.Bytes()
}

func TestParseUnittestRealOutput(t *testing.T) {
	t.Parallel()
	got, out := runPython(t, `import unittest

class T(unittest.TestCase):
    def test_ok(self):
        pass

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise RuntimeError("boom")

    @unittest.skip("not today")
    def test_skip(self):
        pass
`)
	if got.ExitCode != 1 {
		t.Errorf("exit code %d, want 1", got.ExitCode)
	}
	s := ParseUnittest(out)
	failing, tests := s.Failing, s.Tests
	s.Failing, s.Tests = nil, nil
	want := Summary{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Total: 4, Parsed: true, Format: FormatUnittest}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("ParseUnittest = %+v, want %+v\noutput:\n%s", s, want, out)
	}
	// Discovery runs them in name order.
	var outcomes []string
	for _, tc := range tests {
		outcomes = append(outcomes, tc.Outcome)
	}
	if len(tests) != 4 || !strings.HasPrefix(tests[0].Name, "test_error (test_sample.T") ||
		!reflect.DeepEqual(outcomes, []string{OutcomeError, OutcomeFailed, OutcomePassed, OutcomeSkipped}) {
		t.Errorf("Tests = %q", tests)
	}
	// unittest lists errors before failures. The part in parentheses is
	// "test_sample.T.test_fail" since Python 3.11, "test_sample.T" before.
	if len(failing) != 2 ||
		!strings.HasPrefix(failing[0], "test_error (test_sample.T") ||
		!strings.HasPrefix(failing[1], "test_fail (test_sample.T") {
		t.Errorf("Failing = %q", failing)
	}
}

func TestParseUnittestRealOutputDocstringsAndExpectations(t *testing.T) {
	t.Parallel()
	got, out := runPython(t, `import unittest

class T(unittest.TestCase):
    def test_ok(self):
        """Passes, and has a docstring."""

    def test_doc_fail(self):
        """Fails, and has a docstring."""
        print("stdout noise ... ok")
        self.fail("x")

    @unittest.expectedFailure
    def test_xfail(self):
        self.fail()

    @unittest.expectedFailure
    def test_xpass(self):
        pass

    def test_plain(self):
        pass
`)
	if got.ExitCode != 1 {
		t.Errorf("exit code %d, want 1", got.ExitCode)
	}
	s := ParseUnittest(out)
	want := Summary{
		Passed: 2, Failed: 1, ExpectedFailures: 1, UnexpectedSuccesses: 1, Total: 5,
		Parsed: true, Format: FormatUnittest,
	}
	failing, tests := s.Failing, s.Tests
	s.Failing, s.Tests = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("ParseUnittest = %+v, want %+v\noutput:\n%s", s, want, out)
	}
	if len(failing) != 1 || !strings.HasPrefix(failing[0], "test_doc_fail (") {
		t.Errorf("Failing = %q", failing)
	}
	if len(tests) != 5 || !strings.HasPrefix(tests[0].Name, "test_doc_fail (") || tests[0].Outcome != OutcomeFailed {
		t.Errorf("Tests = %q", tests)
	}
}

// realOutcomes is a test file with every kind of result unittest prints,
// and tests that write to stdout and stderr between " ... " and their
// result.
const realOutcomes = `import sys
import unittest


class Setup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("no setup")

    def test_never(self):
        pass


class T(unittest.TestCase):
    def test_ok(self):
        pass

    def test_doc(self):
        """Has a docstring ... with dots."""

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise RuntimeError("boom")

    @unittest.skip("not ... today")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_xfail(self):
        self.fail()

    @unittest.expectedFailure
    def test_xpass(self):
        pass

    def test_sub(self):
        for i in range(4):
            with self.subTest(i=i):
                if i == 2:
                    self.skipTest("two")
                self.assertNotEqual(i % 2, 1)

    def test_sub_doc(self):
        """Subtests with a docstring."""
        with self.subTest("msg ... x", i=1):
            raise ValueError("x")

    def test_sub_pass(self):
        for i in range(3):
            with self.subTest(i=i):
                pass

    def test_print(self):
        print("hello from stdout", flush=True)
        print("loading ... ok", flush=True)

    def test_print_doc(self):
        """Prints, and has a docstring."""
        print("hello", flush=True)
        sys.stderr.write("skipped\n")

    def test_print_fail(self):
        print("out", flush=True)
        sys.stderr.write("ok\n")  # looks like this test's result
        self.fail("x")

    def test_print_long(self):
        print("x" * 10000, flush=True)

    def test_print_buffered(self):
        print("written at exit ... ok")

    def test_teardown(self):
        self.fail("a")

    def tearDown(self):
        if self._testMethodName == "test_teardown":
            raise OSError("in tearDown")
`

func TestParseUnittestRealOutputTests(t *testing.T) {
	t.Parallel()
	got, out := runPython(t, realOutcomes)
	if got.ExitCode != 1 {
		t.Errorf("exit code %d, want 1", got.ExitCode)
	}
	if !bytes.Contains(out, []byte("(test_sample.T.test_ok)")) || !bytes.Contains(out, []byte("(i=1) ... FAIL")) {
		t.Skipf("python3 is older than 3.11, whose output this test expects:\n%s", out)
	}
	s := ParseUnittest(out)
	n := func(method string) string { return method + " (test_sample.T." + method + ")" }
	want := []TestOutcome{
		{"setUpClass (test_sample.Setup)", OutcomeError},
		{n("test_doc"), OutcomePassed},
		{n("test_error"), OutcomeError},
		{n("test_fail"), OutcomeFailed},
		{n("test_ok"), OutcomePassed},
		{n("test_print"), OutcomePassed},
		{n("test_print_buffered"), OutcomePassed},
		{n("test_print_doc"), OutcomePassed},  // it wrote "skipped", then passed
		{n("test_print_fail"), OutcomeFailed}, // it wrote "ok", then failed
		{n("test_print_long"), OutcomePassed},
		{n("test_skip"), OutcomeSkipped},
		{n("test_sub"), OutcomeFailed},
		{n("test_sub") + " (i=1)", OutcomeFailed},
		{n("test_sub") + " (i=2)", OutcomeSkipped},
		{n("test_sub") + " (i=3)", OutcomeFailed},
		{n("test_sub_doc"), OutcomeError},
		{n("test_sub_doc") + " [msg ... x] (i=1)", OutcomeError},
		{n("test_sub_pass"), OutcomePassed},
		{n("test_teardown"), OutcomeError}, // FAIL, then ERROR from tearDown
		{n("test_xfail"), OutcomeSkipped},
		{n("test_xpass"), OutcomeFailed},
	}
	if !reflect.DeepEqual(s.Tests, want) {
		t.Errorf("Tests:\n%s\nwant:\n%s\noutput:\n%s", fmtTests(s.Tests), fmtTests(want), out)
	}
	// The counts and Failing come from the closing line and the headers,
	// as before.
	if s.Format != FormatUnittest || s.Total != 16 || s.Failed != 5 || s.Errors != 4 || s.Skipped != 2 ||
		s.ExpectedFailures != 1 || s.UnexpectedSuccesses != 1 {
		t.Errorf("counts: %+v", s)
	}
	// What the runner sends passes the dispatcher's checks.
	ws := wire.Summary{Passed: s.Passed, Failed: s.Failed, Errors: s.Errors, Skipped: s.Skipped, Failing: s.Failing}
	for _, o := range s.Tests {
		ws.Tests = append(ws.Tests, wire.TestOutcome(o))
	}
	if err := ws.Validate(); err != nil {
		t.Errorf("wire.Summary.Validate() = %v", err)
	}
	wantFailing := []string{
		"setUpClass (test_sample.Setup)", n("test_error"), n("test_sub_doc") + " [msg ... x] (i=1)", n("test_teardown"),
		n("test_fail"), n("test_print_fail"), n("test_sub") + " (i=1)", n("test_sub") + " (i=3)",
	}
	if !reflect.DeepEqual(s.Failing, wantFailing) {
		t.Errorf("Failing = %q, want %q", s.Failing, wantFailing)
	}
}

// Summary.Tests is converted to the wire's field by field: the types,
// outcomes and limits must stay in step.
func TestTestsMatchWire(t *testing.T) {
	t.Parallel()
	if got := wire.TestOutcome(TestOutcome{"n (m.T)", OutcomeError}); got != (wire.TestOutcome{Name: "n (m.T)", Outcome: wire.OutcomeError}) {
		t.Errorf("converted: %+v", got)
	}
	if OutcomePassed != wire.OutcomePassed || OutcomeFailed != wire.OutcomeFailed ||
		OutcomeError != wire.OutcomeError || OutcomeSkipped != wire.OutcomeSkipped {
		t.Error("outcomes differ from the wire's")
	}
	if MaxTests != wire.MaxTests || MaxTestsBytes != wire.MaxTestsBytes || MaxFailingName != wire.MaxTestName {
		t.Error("limits differ from the wire's")
	}
}

func fmtTests(tests []TestOutcome) string {
	var b strings.Builder
	for _, tc := range tests {
		b.WriteString("  " + tc.Outcome + "\t" + tc.Name + "\n")
	}
	return b.String()
}

// A run cut short (killed, timed out) keeps the outcomes it printed. For a
// test whose result is not on its " ... " line, the last line that looked
// like one counts.
func TestParseUnittestRealOutputTruncated(t *testing.T) {
	t.Parallel()
	_, out := runPython(t, realOutcomes)
	i := bytes.Index(out, []byte("test_print_fail ("))
	if i < 0 || !bytes.Contains(out, []byte("(test_sample.T.test_ok)")) {
		t.Skipf("python3 is older than 3.11, whose output this test expects:\n%s", out)
	}
	j := bytes.Index(out[i:], []byte("\nFAIL\n"))
	if j < 0 {
		t.Fatalf("no FAIL line after test_print_fail:\n%s", out)
	}
	const name = "test_print_fail (test_sample.T.test_print_fail)"
	for _, tc := range []struct {
		end  int
		want string
	}{
		{i + j + 1, OutcomePassed},               // it wrote "ok"; its FAIL is cut off
		{i + j + len("\nFAIL\n"), OutcomeFailed}, // the FAIL line is the last
		{i, ""},                                  // not started
	} {
		s := ParseUnittest(out[:tc.end])
		if s.Format != FormatPartial {
			t.Fatalf("ParseUnittest = %+v", s)
		}
		var got string
		for _, o := range s.Tests {
			if o.Name == name {
				got = o.Outcome
			}
		}
		if got != tc.want || len(s.Tests) < 8 || s.Tests[7].Name != "test_print_doc (test_sample.T.test_print_doc)" {
			t.Errorf("cut at %d: %s is %q, want %q; Tests:\n%s", tc.end, name, got, tc.want, fmtTests(s.Tests))
		}
	}
}

const sep = "======================================================================\n"

func TestParseUnittest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want Summary
	}{
		{"empty", "", Summary{}},
		{"garbage", "hello\nworld\n", Summary{}},
		{
			"all ok",
			"test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... ok\n\n" +
				"----------------------------------------------------------------------\nRan 2 tests in 0.001s\n\nOK\n",
			Summary{Passed: 2, Total: 2, Parsed: true, Format: FormatUnittest,
				Tests: []TestOutcome{{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomePassed}}},
		},
		{
			"singular and skipped",
			"Ran 1 test in 0.000s\n\nOK (skipped=1)\n",
			Summary{Skipped: 1, Total: 1, Parsed: true, Format: FormatUnittest},
		},
		{
			"final line is authoritative over per-test lines",
			"test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... ok\n" +
				"Ran 6 tests in 1.5s\n\nFAILED (failures=1, errors=2, skipped=1)\n",
			Summary{Passed: 2, Failed: 1, Errors: 2, Skipped: 1, Total: 6, Parsed: true, Format: FormatUnittest,
				Tests: []TestOutcome{{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomePassed}}},
		},
		{
			"expected failures are not passes",
			"Ran 5 tests in 0.1s\n\nFAILED (failures=1, expected failures=2, unexpected successes=1)\n",
			Summary{Passed: 1, Failed: 1, ExpectedFailures: 2, UnexpectedSuccesses: 1, Total: 5, Parsed: true, Format: FormatUnittest},
		},
		{
			// Each failing subTest is a failure, so failures can exceed
			// the number of tests; Passed must not go negative.
			"subtests",
			"Ran 1 test in 0.1s\n\nFAILED (failures=3)\n",
			Summary{Failed: 3, Total: 1, Parsed: true, Format: FormatUnittest},
		},
		{
			"no tests",
			"\n----------------------------------------------------------------------\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n",
			Summary{Parsed: true, Format: FormatUnittest},
		},
		{
			"windows line endings and unknown keys",
			"Ran 3 tests in 0.1s\r\n\r\nFAILED (errors=1, flakes=7)\r\n",
			Summary{Passed: 2, Errors: 1, Total: 3, Parsed: true, Format: FormatUnittest},
		},
		{
			"last run wins",
			"Ran 9 tests in 0.1s\n\nFAILED (failures=9)\nRan 2 tests in 0.1s\n\nOK\n",
			Summary{Passed: 2, Total: 2, Parsed: true, Format: FormatUnittest},
		},
		{
			"truncated after Ran falls back to per-test lines",
			"test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... FAIL\ntest_c (m.T.test_c) ... skipped 'x ... y'\nRan 3 tests in 0.1s\n",
			Summary{Passed: 1, Failed: 1, Skipped: 1, Total: 3, Parsed: true, Format: FormatUnittest,
				Tests: []TestOutcome{
					{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomeFailed}, {"test_c (m.T.test_c)", OutcomeSkipped},
				}},
		},
		{
			"killed mid-run",
			"test_a (m.T.test_a)\nDocstring of a. ... ok\ntest_b (m.T.test_b) ... ERROR\n" +
				"test_c (m.T.test_c) ... expected failure\ntest_d (m.T.test_d) ... unexpected success\n" +
				"test_e (m.T.test_e) ... skipped\ntest_f (m.T.test_f) ... ",
			Summary{Passed: 1, Errors: 1, Skipped: 1, ExpectedFailures: 1, UnexpectedSuccesses: 1, Total: 5, Format: FormatPartial,
				Tests: []TestOutcome{
					{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomeError},
					{"test_c (m.T.test_c)", OutcomeSkipped}, {"test_d (m.T.test_d)", OutcomeFailed},
					{"test_e (m.T.test_e)", OutcomeSkipped}, // test_f has no result yet
				}},
		},
		{
			"plain fallback",
			"building...\n12 passed, 3 failed\n",
			Summary{Passed: 12, Failed: 3, Total: 15, Format: FormatPlain},
		},
		{
			"plain fallback with skipped, last line wins",
			"1 passed, 0 failed\n  7 passed, 0 failed, 2 skipped.\n",
			Summary{Passed: 7, Skipped: 2, Total: 9, Format: FormatPlain},
		},
		{
			"plain line inside unittest output is ignored",
			"3 passed, 1 failed\nRan 1 test in 0.1s\n\nOK\n",
			Summary{Passed: 1, Total: 1, Parsed: true, Format: FormatUnittest},
		},
		{
			"failing names",
			sep + "ERROR: test_e (m.T.test_e)\n----\n" +
				sep + "FAIL: test_f (m.T.test_f)\nDocstring line.\n----\n" +
				sep + "FAIL: test_s (m.T.test_s) (i=1)\n" +
				sep + "FAIL: test_f (m.T.test_f)\n" + // tearDown error and failure: listed once
				"FAIL: not after a separator (x.y)\n" +
				"ERROR: logged by a test\n" +
				sep + "UNEXPECTED SUCCESS: test_x (m.T.test_x)\n" +
				"Ran 4 tests in 0.1s\n\nFAILED (failures=3, errors=1)\n",
			Summary{
				Failed: 3, Errors: 1, Total: 4, Parsed: true, Format: FormatUnittest,
				Failing: []string{"test_e (m.T.test_e)", "test_f (m.T.test_f)", "test_s (m.T.test_s) (i=1)"},
				// From the headers alone, as with Python before 3.11,
				// which printed no per-test line for a failing subtest.
				Tests: []TestOutcome{
					{"test_e (m.T.test_e)", OutcomeError}, {"test_f (m.T.test_f)", OutcomeFailed},
					{"test_s (m.T.test_s)", OutcomeFailed}, {"test_s (m.T.test_s) (i=1)", OutcomeFailed},
				},
			},
		},
		{
			"failing names are sanitised",
			sep + "FAIL: test_\x1b[31mred\x1b[0m (m.T) \u202eevil\u202c\n" + sep + "ERROR: \xff\xfebad (m.T)\n" + sep + "FAIL:    \n",
			Summary{Failing: []string{"test_[31mred[0m (m.T) evil", "\ufffdbad (m.T)"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ParseUnittest([]byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseUnittest =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

// Per-test outcomes from output shapes the real-output tests do not all
// produce: other Python versions, garbled and hostile output.
func TestParseUnittestTests(t *testing.T) {
	t.Parallel()
	type o = TestOutcome
	for _, tc := range []struct {
		name string
		in   string
		want []TestOutcome
	}{
		{"empty", "", nil},
		{
			"docstring, then output, then the result alone on a line",
			"test_a (m.T.test_a)\nDoc. ... hello\nworld\nFAIL\ntest_b (m.T.test_b) ... ok\nRan 2 tests in 0s\n",
			[]o{{"test_a (m.T.test_a)", OutcomeFailed}, {"test_b (m.T.test_b)", OutcomePassed}},
		},
		{
			"output that looks like results names no test",
			"test_a (m.T.test_a) ... \nLoading ... ok\nDone ... FAIL\nFAIL: x\nok\nRan 1 test in 0s\n",
			[]o{{"test_a (m.T.test_a)", OutcomePassed}},
		},
		{
			"the last result-like line before the next test wins",
			"test_a (m.T.test_a) ... out\nFAIL\nERROR\nok\ntest_b (m.T.test_b) ... x ... skipped\nFAIL\nRan 2 tests in 0s\n",
			[]o{{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomeFailed}},
		},
		{
			"output with a result-like end and no result after it",
			"test_a (m.T.test_a) ... x ... ok\ntest_b (m.T.test_b) ... ok\n",
			[]o{{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomePassed}},
		},
		{
			"a result glued to output is lost, unless a header names it",
			"test_a (m.T.test_a) ... helloFAIL\ntest_b (m.T.test_b) ... byeERROR\ntest_c (m.T.test_c) ... ok\n" +
				sep + "ERROR: test_b (m.T.test_b)\nRan 3 tests in 0s\n",
			[]o{{"test_c (m.T.test_c)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomeError}},
		},
		{
			// Before 3.11 the class had no method name, a failing
			// subtest printed nothing and the next test followed on
			// the same line.
			"python 3.10",
			"test_a (m.T) ... ok\ntest_s (m.T) ... test_z (m.T) ... ok\n" +
				sep + "FAIL: test_s (m.T) (i=1)\n" + sep + "FAIL: test_s (m.T) (i=3)\nRan 3 tests in 0s\n",
			[]o{
				{"test_a (m.T)", OutcomePassed}, {"test_z (m.T)", OutcomePassed},
				{"test_s (m.T)", OutcomeFailed}, {"test_s (m.T) (i=1)", OutcomeFailed}, {"test_s (m.T) (i=3)", OutcomeFailed},
			},
		},
		{
			"subtests: messages, parameters with ' ... ', an error after a failure",
			"test_s (m.T.test_s) ... \n  test_s (m.T.test_s) [a ... b] ... FAIL\n" +
				"  test_s (m.T.test_s) (x='y ... ok') ... ERROR\n  test_s (m.T.test_s) [c] (i=2) ... skipped 'no ... way'\n" +
				"test_t (m.T.test_t) ... \n  test_t (m.T.test_t) (i=1) ... skipped 'x'\ntest_t (m.T.test_t) ... FAIL\n",
			[]o{
				{"test_s (m.T.test_s)", OutcomeError}, {"test_s (m.T.test_s) [a ... b]", OutcomeFailed},
				{"test_s (m.T.test_s) (x='y ... ok')", OutcomeError}, {"test_s (m.T.test_s) [c] (i=2)", OutcomeSkipped},
				{"test_t (m.T.test_t) (i=1)", OutcomeSkipped}, {"test_t (m.T.test_t)", OutcomeFailed},
			},
		},
		{
			"reported twice keeps the worst, in first-seen order",
			"test_b (m.T.test_b) ... FAIL\ntest_a (m.T.test_a) ... ERROR\ntest_b (m.T.test_b) ... ERROR\n" +
				"test_a (m.T.test_a) ... FAIL\ntest_c (m.T.test_c) ... ok\ntest_c (m.T.test_c) ... ok\n",
			[]o{{"test_b (m.T.test_b)", OutcomeError}, {"test_a (m.T.test_a)", OutcomeError}, {"test_c (m.T.test_c)", OutcomePassed}},
		},
		{
			"expectations",
			"test_x (m.T.test_x) ... expected failure\ntest_u (m.T.test_u) ... unexpected success\n" +
				"test_v (m.T.test_v) ... out\nunexpected success\n",
			[]o{{"test_x (m.T.test_x)", OutcomeSkipped}, {"test_u (m.T.test_u)", OutcomeFailed}, {"test_v (m.T.test_v)", OutcomeFailed}},
		},
		{
			"class and module fixtures, function and doctest cases",
			"setUpClass (m.T) ... ERROR\ntearDownModule (m) ... ERROR\nunittest.case.FunctionTestCase (check) ... ok\n" +
				"f (m.mod) ... ok\n",
			[]o{
				{"setUpClass (m.T)", OutcomeError}, {"tearDownModule (m)", OutcomeError},
				{"unittest.case.FunctionTestCase (check)", OutcomePassed}, {"f (m.mod)", OutcomePassed},
			},
		},
		{
			"windows line endings, control and format characters, invalid UTF-8",
			"test_a (m.T.test_a) ... ok\r\n  test_b (m.T.test_b) (s='\x1b[0m\u202e') ... FAIL\r\ntest_\xff (m.T.test_\xff) ... ok\r\n",
			[]o{
				{"test_a (m.T.test_a)", OutcomePassed}, {"test_b (m.T.test_b)", OutcomeFailed},
				{"test_b (m.T.test_b) (s='[0m')", OutcomeFailed}, {"test_\ufffd (m.T.test_\ufffd)", OutcomePassed},
			},
		},
		{
			"not test names",
			"Traceback (most recent call last): ... ok\nfoo bar (m.T) ... ok\nfoo (m T) ... ok\nfoo (m.T) trailing ... ok\n" +
				"(m.T) ... ok\nfoo () ... ok\nfoo ((m.T)) ... ok\n",
			nil,
		},
		{
			"a run inside a test is recorded too, the outer run's counts win",
			"test_outer (m.T.test_outer) ... test_inner (n.U.test_inner) ... ok\nRan 1 test in 0s\n\nOK\nok\n" +
				"Ran 1 test in 0s\n\nOK\n",
			[]o{{"test_inner (n.U.test_inner)", OutcomePassed}, {"test_outer (m.T.test_outer)", OutcomePassed}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ParseUnittest([]byte(tc.in)).Tests; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tests =\n%swant\n%s", fmtTests(got), fmtTests(tc.want))
			}
		})
	}
}

// The plain "N passed, N failed" format names no tests: Tests stays empty
// even when unittest-like lines came before it.
func TestParseUnittestPlainHasNoTests(t *testing.T) {
	t.Parallel()
	s := ParseUnittest([]byte("test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... FAIL\n12 passed, 3 failed\n"))
	if s.Format != FormatPlain || s.Passed != 12 || s.Failed != 3 || s.Tests != nil {
		t.Errorf("ParseUnittest = %+v", s)
	}
	// Nor do headers alone, without per-test or Ran lines.
	s = ParseUnittest([]byte(sep + "FAIL: test_f (m.T.test_f)\n"))
	if s.Format != "" || len(s.Failing) != 1 || s.Tests != nil {
		t.Errorf("ParseUnittest = %+v", s)
	}
}

func TestParseUnittestBoundsTests(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range MaxTests + 100 {
		fmt.Fprintf(&b, "test_%d (m.T.test_%d) ... ok\n", i, i)
		b.WriteString("test_0 (m.T.test_0) ... ok\n") // repeats take no room
	}
	b.WriteString(sep + "FAIL: test_7 (m.T.test_7)\n") // a full list is still updated
	b.WriteString(sep + "FAIL: test_99999 (m.T.test_99999)\n")
	b.WriteString("Ran 5100 tests in 1s\n")
	s := ParseUnittest([]byte(b.String()))
	if len(s.Tests) != MaxTests {
		t.Fatalf("%d tests, want %d", len(s.Tests), MaxTests)
	}
	if last := s.Tests[MaxTests-1]; last.Name != fmt.Sprintf("test_%d (m.T.test_%d)", MaxTests-1, MaxTests-1) {
		t.Errorf("last test is %q", last.Name)
	}
	if s.Tests[7].Outcome != OutcomeFailed || s.Tests[8].Outcome != OutcomePassed {
		t.Errorf("Tests[7:9] = %q", s.Tests[7:9])
	}

	// Long names: each is cut like Failing's, and together they stop at
	// MaxTestsBytes.
	b.Reset()
	pad := strings.Repeat("é", MaxFailingName)
	for i := range MaxTestsBytes/MaxFailingName + 10 {
		fmt.Fprintf(&b, "test_%d (m.T.test_%d) (p='%s') ... FAIL\n", i, i, pad)
	}
	s = ParseUnittest([]byte(b.String()))
	total := 0
	for _, tc := range s.Tests {
		if len(tc.Name) > MaxFailingName || !utf8.ValidString(tc.Name) {
			t.Fatalf("name of %d bytes: %q", len(tc.Name), tc.Name)
		}
		total += len(tc.Name)
	}
	if total > MaxTestsBytes || total < MaxTestsBytes-2*MaxFailingName {
		t.Errorf("names total %d bytes, want at most %d and close to it", total, MaxTestsBytes)
	}
}

func TestParseUnittestBoundsFailing(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(sep + "FAIL: " + strings.Repeat("é", MaxFailingName) + "\n")
	for i := range 2 * MaxFailing {
		b.WriteString(sep + "FAIL: test_" + strings.Repeat("x", i) + " (m.T)\n")
	}
	s := ParseUnittest([]byte(b.String()))
	if len(s.Failing) != MaxFailing {
		t.Fatalf("%d failing names, want %d", len(s.Failing), MaxFailing)
	}
	long := s.Failing[0]
	if len(long) > MaxFailingName || len(long) < MaxFailingName-1 || strings.ContainsRune(long, '\ufffd') {
		t.Errorf("long name is %d bytes or was cut inside a character", len(long))
	}
}

// A huge output, including one line far longer than anything parsed,
// is scanned without trouble and the summary at the end still found.
func TestParseUnittestHugeOutput(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.Write(bytes.Repeat([]byte("x"), 8<<20))
	b.WriteString(" ... ok\n")
	for range 100_000 {
		b.WriteString("test_a (m.T.test_a) ... ok\nsome log output from the test\n")
	}
	b.WriteString("Ran 100000 tests in 9.9s\n\nOK\n")
	s := ParseUnittest(b.Bytes())
	if s.Total != 100_000 || s.Passed != 100_000 || !s.Parsed {
		t.Fatalf("ParseUnittest = %+v", s)
	}
}

func BenchmarkParseUnittest(b *testing.B) {
	var buf bytes.Buffer
	for range 10_000 {
		buf.WriteString("test_a (m.T.test_a) ... ok\nsome log output from the test\n")
	}
	buf.WriteString("Ran 10000 tests in 9.9s\n\nOK\n")
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		ParseUnittest(buf.Bytes())
	}
}
