package testreport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump renders a report for failure messages and for TestDump.
func dump(r *Report) string {
	var b strings.Builder
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "run %s %q: passed %v failed %v errors %v skipped %v dropped %d\n", run.Format, run.Suite,
			run.Counts.Passed, run.Counts.Failed, run.Counts.Errors, run.Counts.Skipped, run.Dropped)
		for _, rec := range run.Records {
			fmt.Fprintf(&b, "  %-7s %q parent=%q suite=%q d=%v msg=%q\n", rec.Outcome, rec.ID, rec.Parent, rec.Suite, rec.Duration, rec.Message)
		}
	}
	return b.String()
}

// TestDump prints what each fixture parses to: go test -run TestDump -v -dump.
func TestDump(t *testing.T) {
	if os.Getenv("TESTREPORT_DUMP") == "" {
		t.Skip("set TESTREPORT_DUMP=file to print what it parses to")
	}
	f, err := os.Open(filepath.Join("testdata", os.Getenv("TESTREPORT_DUMP")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r *Report
	if strings.HasSuffix(f.Name(), ".xml") {
		r, err = ParseJUnit(f)
	} else {
		r, err = Parse(f)
	}
	t.Logf("err=%v\n%s", err, dump(r))
}
