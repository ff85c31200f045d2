package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/eventide-ci/eventide/services/testreport"
)

// Limits on collecting report files. The worktree is the tested commit's to
// fill, so none of it is trusted: a glob may match a million files, a file
// may be huge, a FIFO, or a symlink to the runner's own secrets.
const (
	// maxReportFile is the largest report file read: JUnit's own limit
	// (testreport.DefaultJUnitLimits), over six times a 50,000-test report.
	maxReportFile = 64 << 20
	// maxReportTotal bounds the bytes read from all of a job's report files.
	maxReportTotal = 256 << 20
	// maxReportFiles bounds how many files are read; the rest are named in
	// the output and left.
	maxReportFiles = 100
	// maxWalk bounds the directory entries looked at while matching the
	// globs (a "**" over node_modules), all globs together.
	maxWalk = 200_000
)

// reportNote starts every line the collection writes to the job's output.
const reportNote = "eventide: reports: "

// collectReports finds the files the globs match in the worktree wt, reads
// and parses each, and returns their merged report, or nil when none parsed.
// What it refuses or cannot parse it says in out, a line each, naming the
// file and why.
//
// Matching: doublestar's syntax on slash paths relative to wt. Each glob's
// literal leading directories (doublestar.SplitPattern) are resolved first;
// below them the walk does not follow symlinked directories. A matched path
// must stay inside wt once every symlink in it is resolved, and be a regular
// file; it is opened through an os.Root at wt, which refuses again any path
// leading out of it (and absolute symlinks), should the worktree change in
// between.
func collectReports(wt string, globs []string, out io.Writer) *testreport.Report {
	if len(globs) == 0 {
		return nil
	}
	note := func(format string, args ...any) { fmt.Fprintf(out, reportNote+format+"\n", args...) }
	realWT, err := filepath.EvalSymlinks(wt)
	if err != nil {
		note("cannot resolve the worktree: %v", err)
		return nil
	}
	root, err := os.OpenRoot(realWT)
	if err != nil {
		note("cannot open the worktree: %v", err)
		return nil
	}
	defer root.Close()

	w := &walker{wt: realWT, note: note}
	var files []string
	for _, g := range globs {
		found := w.match(g)
		if len(found) == 0 && !w.full {
			note("no file matches %q", g)
		}
		files = append(files, found...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	if len(files) > maxReportFiles {
		note("%d files match; reading the first %d (by name), not %s…", len(files), maxReportFiles, files[maxReportFiles])
		files = files[:maxReportFiles]
	}

	var reports []*testreport.Report
	var total int64
	for _, name := range files {
		rep, n, err := readReport(root, realWT, name, maxReportTotal-total)
		total += n
		if err != nil {
			note("%s: %v", name, err)
			continue
		}
		reports = append(reports, rep)
	}
	if len(reports) == 0 {
		return nil
	}
	return testreport.Merge(reports...)
}

// walker matches globs in one worktree, bounding the work of all of them.
type walker struct {
	wt    string // symlinks resolved
	note  func(string, ...any)
	seen  int  // entries looked at
	full  bool // maxWalk reached
	noted map[string]bool
}

// match returns the slash paths, relative to the worktree, that glob matches:
// files, and symlinks for the opener to judge.
func (w *walker) match(glob string) []string {
	base, rest := doublestar.SplitPattern(glob)
	if base == "" {
		base = "."
	}
	realBase, err := filepath.EvalSymlinks(filepath.Join(w.wt, filepath.FromSlash(base)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		w.once(base, "cannot resolve it: %v", err)
		return nil
	case !inside(w.wt, realBase):
		w.once(base, "refused: a symlink leads it outside the worktree; not followed")
		return nil
	}
	// Without "**", the glob reaches a fixed depth below its base.
	depth := -1
	if !strings.Contains(rest, "**") {
		depth = strings.Count(rest, "/") + 1
	}
	var found []string
	walkErr := filepath.WalkDir(realBase, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != realBase {
				w.once(relTo(realBase, base, p), "cannot read it: %v", err)
			}
			return nil
		}
		if p == realBase {
			return nil
		}
		if w.seen++; w.seen > maxWalk {
			if !w.full {
				w.full = true
				w.note("stopped matching after %d files and directories; narrow the globs", maxWalk)
			}
			return fs.SkipAll
		}
		rel := relTo(realBase, base, p)
		level := strings.Count(rel, "/") - strings.Count(base, "/")
		if base == "." {
			level = strings.Count(rel, "/") + 1
		}
		if d.IsDir() {
			if d.Name() == ".git" || (depth >= 0 && level >= depth) {
				return fs.SkipDir
			}
			return nil
		}
		if doublestar.MatchUnvalidated(glob, rel) {
			found = append(found, rel)
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 && (depth < 0 || level < depth) {
			// A symlinked directory is not walked. One that leads out of the
			// worktree is said to be refused, since the glob might have
			// meant files in it.
			if target, err := filepath.EvalSymlinks(p); err == nil && !inside(w.wt, target) {
				if fi, err := os.Stat(target); err == nil && fi.IsDir() {
					w.once(rel, "refused: a symlink to a directory outside the worktree; not followed")
				}
			}
		}
		return nil
	})
	if walkErr != nil {
		w.once(base, "cannot walk it: %v", walkErr)
	}
	return found
}

// once notes something about a path once, however many globs meet it.
func (w *walker) once(name, format string, args ...any) {
	if w.noted == nil {
		w.noted = make(map[string]bool)
	}
	if !w.noted[name] {
		w.noted[name] = true
		w.note("%s: "+format, append([]any{name}, args...)...)
	}
}

// relTo turns p, under realBase, into a slash path under base.
func relTo(realBase, base, p string) string {
	r, err := filepath.Rel(realBase, p)
	if err != nil {
		return p
	}
	return path.Join(base, filepath.ToSlash(r))
}

// inside reports whether p is dir or below it; both have their symlinks
// resolved.
func inside(dir, p string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../") && !filepath.IsAbs(r)
}

// readReport opens name (a slash path under the worktree) safely and parses
// it as JUnit XML or test2json, by its first byte. A file larger than budget
// is refused; the size of a file opened counts against the budget, read or
// not, and is returned.
func readReport(root *os.Root, realWT, name string, budget int64) (*testreport.Report, int64, error) {
	target, err := filepath.EvalSymlinks(filepath.Join(realWT, filepath.FromSlash(name)))
	if err != nil {
		return nil, 0, fmt.Errorf("not read: %w", err)
	}
	if !inside(realWT, target) {
		return nil, 0, errors.New("refused: a symlink leads it outside the worktree; not followed")
	}
	// O_NONBLOCK: a FIFO put in place of the file must not block the open.
	f, err := root.OpenFile(filepath.FromSlash(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("refused: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("not read: %w", err)
	case !fi.Mode().IsRegular():
		return nil, 0, fmt.Errorf("refused: not a regular file (%v)", fi.Mode().Type())
	case fi.Size() > maxReportFile:
		return nil, 0, fmt.Errorf("refused: %d bytes, over the limit of %d per report file", fi.Size(), int64(maxReportFile))
	case fi.Size() > budget:
		return nil, 0, fmt.Errorf("refused: %d bytes, over what is left (%d) of the limit of %d for all report files",
			fi.Size(), max(budget, 0), int64(maxReportTotal))
	}
	// The file may grow after Stat: what is read stays within its size then.
	rep, err := parseReport(io.LimitReader(f, fi.Size()))
	return rep, fi.Size(), err
}

// parseReport reads a JUnit XML file (first byte '<') or a file of go test
// -json events (first byte '{'), after any byte-order mark and white space.
func parseReport(r io.Reader) (*testreport.Report, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(head) == 0:
		return nil, errors.New("empty: not a report")
	case head[0] == '<':
		rep, err := testreport.ParseJUnit(br)
		if err != nil {
			return nil, fmt.Errorf("not parsed as JUnit XML: %w", err)
		}
		return rep, nil
	case head[0] == '{':
		rep, err := testreport.ParseTest2JSON(br)
		if err != nil {
			return nil, fmt.Errorf("not parsed as go test -json output: %w", err)
		}
		if !rep.Recognised() {
			return nil, errors.New("no go test -json event in it")
		}
		return rep, nil
	}
	return nil, errors.New("neither JUnit XML (starts with '<') nor go test -json output (starts with '{')")
}
