package testreport

import (
	"strconv"
	"time"
)

// Outcome is how one test ended. The strings are the wire's.
type Outcome string

// The outcomes. An expected failure (unittest, pytest's xfail, a TAP TODO)
// is Skipped: it neither passed nor broke the run. An unexpected success
// is Failed where the tool fails the run for it (unittest) and Passed
// where it does not (pytest's non-strict xpass).
const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
	Error   Outcome = "error"
	Skipped Outcome = "skipped"
)

// severity orders outcomes for a test reported more than once: the worst
// one stands.
func (o Outcome) severity() int {
	switch o {
	case Skipped:
		return 1
	case Passed:
		return 2
	case Failed:
		return 3
	case Error:
		return 4
	}
	return 0
}

// NoDuration is Record.Duration when the format gave none.
const NoDuration time.Duration = -1

// Record is one test's result.
type Record struct {
	// ID names the test as its tool prints it, parameters included
	// ("test_even (mod.T.test_even) (i=1)", "test_x.py::test_p[2]",
	// "TestTable/2+2", "math suite > divides wrongly"). Two records of one
	// run never share an ID.
	ID string
	// Suite is the package, module, class, file or target the test
	// belongs to, when the format says.
	Suite string
	// Parent is the ID of the test this one is a subtest of, "" for a
	// top-level test. Only top-level tests are counted where the tool's
	// own counts are not used (a unittest method counts once, whatever
	// its subtests did).
	Parent   string
	Outcome  Outcome
	Duration time.Duration // NoDuration if not reported
	// Message holds the first lines of the failure, error or skip
	// message, at most MaxMessageLines lines of at most MaxMessageBytes
	// together; "" if none was found.
	Message string
}

// Count is a number of tests. Incomplete says the format could not report
// all of them (plain "go test" prints no line for a passing test): N is
// then a lower bound, and "not reported" when it is 0.
type Count struct {
	N          int
	Incomplete bool
}

// NotReported is the Count of a format that cannot know it.
var NotReported = Count{Incomplete: true}

func (c Count) add(d Count) Count {
	return Count{N: c.N + d.N, Incomplete: c.Incomplete || d.Incomplete}
}

// String is "3", "at least 3" or "not reported".
func (c Count) String() string {
	switch {
	case !c.Incomplete:
		return strconv.Itoa(c.N)
	case c.N == 0:
		return "not reported"
	}
	return "at least " + strconv.Itoa(c.N)
}

// Counts are the tests of a run or a report by outcome.
type Counts struct {
	Passed, Failed, Errors, Skipped Count
}

func (c Counts) add(d Counts) Counts {
	return Counts{
		Passed:  c.Passed.add(d.Passed),
		Failed:  c.Failed.add(d.Failed),
		Errors:  c.Errors.add(d.Errors),
		Skipped: c.Skipped.add(d.Skipped),
	}
}

// Total is the sum of the four counts.
func (c Counts) Total() Count {
	return c.Passed.add(c.Failed).add(c.Errors).add(c.Skipped)
}

// tally counts one record in c.
func (c *Counts) tally(o Outcome, delta int) {
	switch o {
	case Passed:
		c.Passed.N += delta
	case Failed:
		c.Failed.N += delta
	case Error:
		c.Errors.N += delta
	case Skipped:
		c.Skipped.N += delta
	}
}

// Format names the parser that recognised a run.
type Format string

// The formats.
const (
	FormatUnittest  Format = "unittest"
	FormatPytest    Format = "pytest"
	FormatGoTest    Format = "go test"
	FormatGoJSON    Format = "go test -json"
	FormatTAP       Format = "tap"
	FormatProve     Format = "prove"
	FormatNodeSpec  Format = "node spec"
	FormatJest      Format = "jest"
	FormatVitest    Format = "vitest"
	FormatCargo     Format = "cargo test"
	FormatPlain     Format = "plain"
	FormatJUnit     Format = "junit"
	FormatTest2JSON Format = "test2json"
)

// Run is one test run found in the output: a unittest or pytest session,
// one package of go test, one TAP stream, one cargo test binary.
type Run struct {
	Format Format
	// Suite names what ran, where the format says (a Go package, a cargo
	// target, a JUnit file's suite); "" otherwise.
	Suite string
	// Counts are the tool's own closing counts where it prints them and
	// they count what a person would (pytest, node, jest, vitest, cargo,
	// TAP's node trailer), else counted from the top-level records.
	Counts Counts
	// Records holds every test found, subtests included, in the order
	// reported. Formats with only a closing line (the plain one, jest
	// without --verbose for passing tests) have fewer records than
	// counts.
	Records []Record
	// Dropped is how many records were left out because the report
	// already held MaxRecords; they are in Counts.
	Dropped int
}

// Report is what one output, or one report file, says about its tests.
type Report struct {
	Runs   []Run
	Totals Counts // the sum of the runs' counts, dropped ones included
	// DroppedRuns is how many runs past MaxRuns were counted in Totals
	// but not kept (an output of a million "ok pkg" lines).
	DroppedRuns int
}

// Recognised reports whether any run was found. When none was, the
// summary should say so ("Tests: not reported") rather than show zeros.
func (r *Report) Recognised() bool { return len(r.Runs) > 0 }

// Failing returns the failed and erroring records of every run, subtests
// included, in order.
func (r *Report) Failing() []Record {
	var out []Record
	for _, run := range r.Runs {
		for _, rec := range run.Records {
			if rec.Outcome == Failed || rec.Outcome == Error {
				out = append(out, rec)
			}
		}
	}
	return out
}

// Merge is one report of several (the report files of one job): their
// runs in order, their totals added.
func Merge(reports ...*Report) *Report {
	m := &Report{}
	for _, r := range reports {
		m.Runs = append(m.Runs, r.Runs...)
		m.Totals = m.Totals.add(r.Totals)
		m.DroppedRuns += r.DroppedRuns
	}
	return m
}
