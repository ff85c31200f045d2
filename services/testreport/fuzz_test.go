package testreport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkReport holds what every report must satisfy, whatever the input.
func checkReport(t *testing.T, r *Report) {
	t.Helper()
	if r == nil {
		return
	}
	var sum Counts
	kept := 0
	for _, run := range r.Runs {
		for _, n := range []Count{run.Counts.Passed, run.Counts.Failed, run.Counts.Errors, run.Counts.Skipped} {
			if n.N < 0 {
				t.Fatalf("negative count in %+v", run.Counts)
			}
		}
		sum = sum.add(run.Counts)
		kept += len(run.Records)
		for _, rec := range run.Records {
			switch rec.Outcome {
			case Passed, Failed, Error, Skipped:
			default:
				t.Fatalf("outcome %q", rec.Outcome)
			}
			for _, s := range []string{rec.ID, rec.Suite, rec.Parent} {
				if len(s) > MaxIDBytes || !utf8.ValidString(s) {
					t.Fatalf("name of %d bytes or not UTF-8: %q", len(s), s)
				}
			}
			if rec.ID == "" {
				t.Fatal("record without an ID")
			}
			if len(rec.Message) > MaxMessageBytes || strings.Count(rec.Message, "\n") >= MaxMessageLines || !utf8.ValidString(rec.Message) {
				t.Fatalf("message of %d bytes, %d lines", len(rec.Message), strings.Count(rec.Message, "\n")+1)
			}
		}
	}
	if kept > MaxRecords {
		t.Fatalf("%d records kept", kept)
	}
	if len(r.Runs) > MaxRuns {
		t.Fatalf("%d runs kept", len(r.Runs))
	}
	if r.DroppedRuns == 0 && sum != r.Totals {
		t.Fatalf("totals %+v, runs add up to %+v", r.Totals, sum)
	}
}

// seed adds every fixture whose name matches to the corpus: the seeds run
// as ordinary tests in CI.
func seed(f *testing.F, pattern string) {
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures for %s: %v", pattern, err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParse(f *testing.F) {
	seed(f, "*.txt")
	f.Add([]byte("TAP version 14\n1..2\nok 1 - a\n    # Subtest: b\n    not ok 1 - c\n  ---\n  error: |-\n    x\n  ...\n"))
	f.Add([]byte("=== RUN   TestA\n--- FAIL: TestA (0.00s)\npanic: boom\nFAIL\tp\t0.1s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r)
	})
}

func FuzzParseTest2JSON(f *testing.F) {
	seed(f, "go-json.txt")
	f.Add([]byte(`{"Action":"fail","Package":"p","Test":"T/x","Elapsed":1e300}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseTest2JSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r)
	})
}

func FuzzParseJUnit(f *testing.F) {
	seed(f, "*.xml")
	f.Add([]byte(`<testsuites><testsuite name="s"><testsuite name="n"><testcase name="t"><error/><failure message="m">x</failure></testcase></testsuite></testsuite></testsuites>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := JUnitLimits{MaxBytes: 1 << 20, MaxDepth: 16, MaxTokens: 1 << 14}
		r, err := ParseJUnitLimits(bytes.NewReader(b), lim)
		if err != nil && r != nil {
			t.Fatal("a report with an error")
		}
		checkReport(t, r)
	})
}
