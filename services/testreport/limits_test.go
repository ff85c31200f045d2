package testreport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, s string) *Report {
	t.Helper()
	r, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNothingRecognised(t *testing.T) {
	// Lines that look like TAP test points, with no plan or version to
	// confirm them, are a script's own log.
	r := mustParse(t, "building...\nok 1 - connected\nok 2 - ready\nnot ok 3 - cache cold\nall done\nok\n1 passed\n")
	if r.Recognised() || len(r.Runs) != 0 {
		t.Fatalf("recognised runs in plain text:\n%s", dump(r))
	}
}

// Every run in one output is counted: two unittest runs (a make target
// running two suites), two pytest sessions.
func TestSeveralRunsOfOneFormat(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want string
	}{
		{"unittest-v.txt", "unittest.txt", "8 4 4 4"},
		{"pytest-v.txt", "pytest-default.txt", "8 6 2 4"},
		{"node-tap.txt", "node-tap.txt", "8 10 0 4"},
		{"jest.txt", "jest-verbose.txt", "6 6 0 4"},
		{"cargo.txt", "cargo.txt", "6 4 0 2"},
	} {
		out := string(fixture(t, tc.a)) + string(fixture(t, tc.b))
		r := mustParse(t, out)
		if got := countsString(r.Totals); got != tc.want {
			t.Errorf("%s + %s: totals %s, want %s\n%s", tc.a, tc.b, got, tc.want, dump(r))
		}
	}
}

// A count one format cannot know makes the total a lower bound, not a 0.
func TestTotalsSayNotReported(t *testing.T) {
	r := parseFixture(t, "mixed-go-pytest.txt")
	if got := r.Totals.Passed.String(); got != "at least 4" {
		t.Errorf("passed %q, want \"at least 4\"", got)
	}
	if got := r.Totals.Failed.String(); got != "6" {
		t.Errorf("failed %q, want 6", got)
	}
	go1 := parseFixture(t, "go-plain.txt")
	if got := go1.Totals.Passed.String(); got != "not reported" {
		t.Errorf("plain go test: passed %q, want \"not reported\"", got)
	}
}

func TestCRLF(t *testing.T) {
	for _, name := range []string{"pytest-v.txt", "unittest-v.txt", "go-v.txt", "node-tap.txt"} {
		lf := parseFixture(t, name)
		crlf, err := Parse(bytes.NewReader(bytes.ReplaceAll(fixture(t, name), []byte("\n"), []byte("\r\n"))))
		if err != nil {
			t.Fatal(err)
		}
		if dump(lf) != dump(crlf) {
			t.Errorf("%s with CRLF:\n%s\nwant\n%s", name, dump(crlf), dump(lf))
		}
	}
}

// A failure message is the first lines, whatever the test printed.
func TestMessageBounded(t *testing.T) {
	for _, width := range []int{10, 300} { // the line bound, the byte bound
		var b strings.Builder
		b.WriteString("=== RUN   TestBig\n")
		for i := range 10000 {
			fmt.Fprintf(&b, "    big_test.go:%d: %s\n", i, strings.Repeat("x", width))
		}
		b.WriteString("--- FAIL: TestBig (0.00s)\nFAIL\nFAIL\tpkg\t0.01s\n")
		r := mustParse(t, b.String())
		f := r.Failing()
		if len(f) != 1 {
			t.Fatalf("failing %d, want 1\n%s", len(f), dump(r))
		}
		m := f[0].Message
		if len(m) > MaxMessageBytes || strings.Count(m, "\n")+1 > MaxMessageLines || !strings.HasPrefix(m, "big_test.go:0: ") {
			t.Errorf("message of %d bytes, %d lines, starting %.40q", len(m), strings.Count(m, "\n")+1, m)
		}
	}
}

// A line longer than MaxLine is skipped past, not kept.
func TestLongLine(t *testing.T) {
	out := "test_a (m.T.test_a) ... " + strings.Repeat("y", 3*MaxLine) + "\nok\n" +
		"test_b (m.T.test_b) ... FAIL\n\n" + strings.Repeat("-", 70) + "\nRan 2 tests in 0.001s\n\nFAILED (failures=1)\n"
	r := mustParse(t, out)
	if got := countsString(r.Totals); got != "1 1 0 0" {
		t.Errorf("totals %s, want 1 1 0 0\n%s", got, dump(r))
	}
}

// Past MaxRecords tests are still counted, and no more are kept.
func TestMaxRecords(t *testing.T) {
	n := MaxRecords + 500
	pr, pw := io.Pipe()
	defer pr.Close() // unblocks the writer if Parse stopped early
	go func() {
		fmt.Fprintf(pw, "TAP version 14\n1..%d\n", n)
		for i := 1; i <= n; i++ {
			if i%1000 == 0 {
				fmt.Fprintf(pw, "not ok %d - t%d\n", i, i)
			} else {
				fmt.Fprintf(pw, "ok %d - t%d\n", i, i)
			}
		}
		pw.Close()
	}()
	r, err := Parse(pr)
	if err != nil {
		t.Fatal(err)
	}
	run := r.Runs[0]
	if len(run.Records) != MaxRecords || run.Dropped != 500 {
		t.Errorf("%d records, %d dropped; want %d, 500", len(run.Records), run.Dropped, MaxRecords)
	}
	if want := fmt.Sprintf("%d %d 0 0", n-n/1000, n/1000); countsString(run.Counts) != want {
		t.Errorf("counts %s, want %s", countsString(run.Counts), want)
	}
}

// Names and messages from the output cannot carry terminal escapes or
// bidi overrides, and are valid UTF-8.
func TestCleaned(t *testing.T) {
	out := "--- FAIL: TestX\u202e\x07evil\xff (0.00s)\n    x_test.go:1: \x1b]0;title\x07bad \u202ething\nFAIL\tpkg\t0.01s\n"
	r := mustParse(t, out)
	for _, rec := range r.Failing() {
		for _, s := range []string{rec.ID, rec.Message} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x07\x1b\u202e") {
				t.Errorf("not cleaned: %q", s)
			}
		}
	}
	if len(r.Failing()) != 1 {
		t.Errorf("%s", dump(r))
	}
}

func TestJUnitLimits(t *testing.T) {
	small := JUnitLimits{MaxBytes: 1 << 10, MaxDepth: 8, MaxTokens: 100}
	for _, tc := range []struct {
		name, xml string
		lim       JUnitLimits
		want      error
	}{
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>`, DefaultJUnitLimits, ErrJUnitDoctype},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&e;"/></testsuite>`, DefaultJUnitLimits, ErrJUnitDoctype},
		{"too deep", "<testsuites>" + strings.Repeat("<testsuite>", 10) + strings.Repeat("</testsuite>", 10) + "</testsuites>", small, ErrJUnitTooDeep},
		{"too big", "<testsuite>" + strings.Repeat(`<testcase name="a"/>`, 100) + "</testsuite>", small, ErrJUnitTooBig},
		{"too many tokens", "<testsuite>" + strings.Repeat(`<a/>`, 60) + "</testsuite>", small, ErrJUnitTooBig},
		{"not junit", `<html><body/></html>`, DefaultJUnitLimits, ErrJUnitNotJUnit},
		{"empty", ``, DefaultJUnitLimits, ErrJUnitNotJUnit},
	} {
		r, err := ParseJUnitLimits(strings.NewReader(tc.xml), tc.lim)
		if !errors.Is(err, tc.want) || r != nil {
			t.Errorf("%s: %v, %v; want %v", tc.name, r, err, tc.want)
		}
	}
	// An undeclared entity is an error, not an expansion.
	if _, err := ParseJUnit(strings.NewReader(`<testsuite><testcase name="&e;"/></testsuite>`)); err == nil {
		t.Error("undeclared entity accepted")
	}
}

func TestJUnitLatin1(t *testing.T) {
	x := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite><testcase name=\"caf\xe9\"><failure message=\"na\xefve\"/></testcase></testsuite>"
	r, err := ParseJUnit(strings.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Failing(); len(f) != 1 || f[0].ID != "café" || f[0].Message != "naïve" {
		t.Errorf("%s", dump(r))
	}
	_, err = ParseJUnit(strings.NewReader(`<?xml version="1.0" encoding="EBCDIC"?><testsuite/>`))
	if err == nil || !strings.Contains(err.Error(), "EBCDIC") {
		t.Errorf("unknown encoding: %v", err)
	}
}

// Two suites of one JUnit file may hold tests of one name.
func TestJUnitSameNameInTwoSuites(t *testing.T) {
	x := `<testsuites><testsuite name="a"><testcase classname="pkg/a" name="TestMain"><failure message="a broke"/></testcase></testsuite>` +
		`<testsuite name="b"><testcase classname="pkg/b" name="TestMain"/></testsuite></testsuites>`
	r, err := ParseJUnit(strings.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	if got := countsString(r.Totals); got != "1 1 0 0" {
		t.Errorf("totals %s, want 1 1 0 0\n%s", got, dump(r))
	}
}

// Past MaxRuns runs are counted in the totals and not kept.
func TestMaxRuns(t *testing.T) {
	var b strings.Builder
	n := MaxRuns + 10
	for i := range n {
		fmt.Fprintf(&b, "--- FAIL: TestX (0.00s)\nFAIL\tpkg%d\t0.01s\n", i)
	}
	r := mustParse(t, b.String())
	if len(r.Runs) != MaxRuns || r.DroppedRuns != 10 || r.Totals.Failed.N != n {
		t.Errorf("%d runs, %d dropped, %d failed; want %d, 10, %d", len(r.Runs), r.DroppedRuns, r.Totals.Failed.N, MaxRuns, n)
	}
	kept := 0
	for _, run := range r.Runs {
		kept += len(run.Records)
	}
	if kept != MaxRuns {
		t.Errorf("%d records kept, want %d", kept, MaxRuns)
	}
}
