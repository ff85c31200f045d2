package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/eventide-ci/eventide/services/testreport"
)

// writeFiles puts files (slash paths) under dir.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// counts is "passed failed errors skipped" of a report.
func counts(r *testreport.Report) string {
	c := r.Totals
	return strings.Join([]string{c.Passed.String(), c.Failed.String(), c.Errors.String(), c.Skipped.String()}, " ")
}

func collect(t *testing.T, wt string, globs ...string) (*testreport.Report, string) {
	t.Helper()
	var out strings.Builder
	rep := collectReports(wt, globs, &out)
	return rep, out.String()
}

// A JUnit report and a go test -json file, found by "**" and by a plain glob,
// are merged: their runs and their counts together. A file two globs match is
// read once.
func TestCollectReportsMerges(t *testing.T) {
	t.Parallel()
	wt := t.TempDir()
	writeFiles(t, wt, map[string][]byte{
		"build/test-results/py/junit.xml": fixture(t, "pytest-junit.xml"),
		"go-test.json":                    fixture(t, "go-json.txt"),
		"build/notes.txt":                 []byte("not a report, not matched"),
	})
	rep, out := collect(t, wt, "build/**/*.xml", "*.json", "build/test-results/py/junit.xml")
	if rep == nil {
		t.Fatalf("no report; output %q", out)
	}
	// pytest's 4 3 1 2 and go's 5 3 2 1.
	if got := counts(rep); got != "9 6 3 3" || len(rep.Runs) != 5 {
		t.Fatalf("counts %q in %d runs, want 9 6 3 3 in 5 (a run per Go package, one for the JUnit file); output %q", got, len(rep.Runs), out)
	}
	if out != "" {
		t.Errorf("output %q, want nothing said", out)
	}
}

// Symlinks that lead outside the worktree are refused and named, never
// followed: a file symlink, a directory symlink as the glob's base, and one
// met by "**". A symlink staying inside is followed.
func TestCollectReportsRefusesSymlinksOut(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := "<testsuite><testcase name=\"SECRET\"/></testsuite>"
	writeFiles(t, outside, map[string][]byte{"secret.xml": []byte(secret), "dir/secret.xml": []byte(secret)})
	wt := t.TempDir()
	writeFiles(t, wt, map[string][]byte{"reports/real.xml": fixture(t, "pytest-junit.xml")})
	symlink(t, filepath.Join(outside, "secret.xml"), filepath.Join(wt, "reports", "evil.xml"))
	symlink(t, "../../../../../../../../../.."+filepath.Join(outside, "secret.xml"), filepath.Join(wt, "reports", "relative.xml"))
	symlink(t, filepath.Join(outside, "dir"), filepath.Join(wt, "outdir"))
	symlink(t, filepath.Join(outside, "dir"), filepath.Join(wt, "deep", "linked"))
	symlink(t, "real.xml", filepath.Join(wt, "reports", "inside.xml"))

	rep, out := collect(t, wt, "reports/*.xml", "outdir/*.xml", "deep/**/*.xml")
	if rep == nil || strings.Contains(out, "SECRET") {
		t.Fatalf("report %v, output %q", rep, out)
	}
	for _, r := range rep.Runs {
		for _, rec := range r.Records {
			if rec.ID == "SECRET" {
				t.Fatalf("a file outside the worktree was read: %+v", rec)
			}
		}
	}
	// real.xml and inside.xml (the same file, through a symlink inside).
	if got := counts(rep); got != "8 6 2 4" {
		t.Errorf("counts %q, want real.xml's twice (8 6 2 4)", got)
	}
	for _, want := range []string{
		"eventide: reports: reports/evil.xml: refused: a symlink leads it outside the worktree; not followed\n",
		"eventide: reports: reports/relative.xml: refused: a symlink leads it outside the worktree; not followed\n",
		"eventide: reports: outdir: refused: a symlink leads it outside the worktree; not followed\n",
		"eventide: reports: deep/linked: refused: a symlink to a directory outside the worktree; not followed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

// Only regular files within the size caps are read, and each refusal names
// the file and says why; a glob matching nothing says so; a file that does
// not parse is named with the error. None parsing gives no report, so that
// the output's records stand.
func TestCollectReportsRefusals(t *testing.T) {
	t.Parallel()
	wt := t.TempDir()
	writeFiles(t, wt, map[string][]byte{
		"r/garbage.xml": []byte("<html><body>not junit</body></html>"),
		"r/text.xml":    []byte("just words"),
		"r/empty.xml":   nil,
		"r/dir.xml/x":   []byte("a directory the glob matches: passed over"),
	})
	if err := syscall.Mkfifo(filepath.Join(wt, "r", "fifo.xml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Sparse: the size is what is refused, before a byte is read.
	big, err := os.Create(filepath.Join(wt, "r", "big.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(maxReportFile + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()

	rep, out := collect(t, wt, "r/*.xml", "absent/**/*.xml", "nothing-*.json")
	if rep != nil || strings.Contains(out, "dir.xml") {
		t.Fatalf("a report %+v from files that are not reports; output %q", rep, out)
	}
	for _, want := range []string{
		"r/big.xml: refused: 67108865 bytes, over the limit of 67108864 per report file",
		"r/fifo.xml: refused: not a regular file (p",
		"r/garbage.xml: not parsed as JUnit XML: " + testreport.ErrJUnitNotJUnit.Error(),
		"r/text.xml: neither JUnit XML",
		"r/empty.xml: empty: not a report",
		`no file matches "absent/**/*.xml"`,
		`no file matches "nothing-*.json"`,
	} {
		if !strings.Contains(out, "eventide: reports: "+want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

// The total cap: files past it are refused, named, and not read.
func TestCollectReportsTotalCap(t *testing.T) {
	t.Parallel()
	wt := t.TempDir()
	n := maxReportTotal/maxReportFile + 1
	for i := range n {
		f, err := os.Create(filepath.Join(wt, "r"+string(rune('a'+i))+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		// A sparse file of NULs: refused at its first byte, but it counts.
		if err := f.Truncate(maxReportFile); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	_, out := collect(t, wt, "*.xml")
	last := "r" + string(rune('a'+n-1)) + ".xml"
	if want := "eventide: reports: " + last + ": refused: 67108864 bytes, over what is left (0) of the limit of 268435456 for all report files"; !strings.Contains(out, want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
}

// Past maxReportFiles matches, the first by name are read and the rest named.
func TestCollectReportsFileCap(t *testing.T) {
	t.Parallel()
	wt := t.TempDir()
	files := make(map[string][]byte)
	for i := range maxReportFiles + 5 {
		files[fmt.Sprintf("r/%04d.xml", i)] = fmt.Appendf(nil, `<testsuite><testcase name="t%d"/></testsuite>`, i)
	}
	writeFiles(t, wt, files)
	rep, out := collect(t, wt, "r/*.xml")
	if rep == nil || rep.Totals.Passed.N != maxReportFiles {
		t.Fatalf("report %+v, want %d tests; output %q", rep, maxReportFiles, out)
	}
	if want := "eventide: reports: 105 files match; reading the first 100 (by name), not r/0100.xml…\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}
