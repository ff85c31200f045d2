package testrun

import (
	"bytes"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
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
	failing := s.Failing
	s.Failing = nil
	want := Summary{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Total: 4, Parsed: true, Format: FormatUnittest}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("ParseUnittest = %+v, want %+v\noutput:\n%s", s, want, out)
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
	failing := s.Failing
	s.Failing = nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("ParseUnittest = %+v, want %+v\noutput:\n%s", s, want, out)
	}
	if len(failing) != 1 || !strings.HasPrefix(failing[0], "test_doc_fail (") {
		t.Errorf("Failing = %q", failing)
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
			Summary{Passed: 2, Total: 2, Parsed: true, Format: FormatUnittest},
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
			Summary{Passed: 2, Failed: 1, Errors: 2, Skipped: 1, Total: 6, Parsed: true, Format: FormatUnittest},
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
			Summary{Passed: 1, Failed: 1, Skipped: 1, Total: 3, Parsed: true, Format: FormatUnittest},
		},
		{
			"killed mid-run",
			"test_a (m.T.test_a)\nDocstring of a. ... ok\ntest_b (m.T.test_b) ... ERROR\n" +
				"test_c (m.T.test_c) ... expected failure\ntest_d (m.T.test_d) ... unexpected success\n" +
				"test_e (m.T.test_e) ... skipped\ntest_f (m.T.test_f) ... ",
			Summary{Passed: 1, Errors: 1, Skipped: 1, ExpectedFailures: 1, UnexpectedSuccesses: 1, Total: 5, Format: FormatPartial},
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
