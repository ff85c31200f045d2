package testrun

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxFailing and MaxFailingName bound Summary.Failing, which ends up in
	// logs and UIs and is built from output the test suite controls.
	MaxFailing     = 200
	MaxFailingName = 512

	// MaxTests and MaxTestsBytes bound Summary.Tests: at most MaxTests names
	// (each cleaned like Failing's, so at most MaxFailingName bytes) of at
	// most MaxTestsBytes together. They match wire.MaxTests and
	// wire.MaxTestsBytes.
	MaxTests      = 5000
	MaxTestsBytes = 512 << 10

	// maxLine is the longest line that can hold anything we parse. Longer
	// lines are test output; skipping them keeps the scan cheap.
	maxLine = 8 << 10
)

// Summary values for Summary.Format.
const (
	FormatUnittest = "unittest"         // a "Ran N tests" line was found
	FormatPartial  = "unittest-partial" // only per-test lines: the run was cut short
	FormatPlain    = "plain"            // a closing "N passed, N failed" line
)

// Outcomes of one test in Summary.Tests, the same strings as the wire's.
const (
	OutcomePassed  = "passed"
	OutcomeFailed  = "failed"
	OutcomeError   = "error"
	OutcomeSkipped = "skipped"
)

// TestOutcome is how one test ended. Its fields match wire.TestOutcome, so
// wire.TestOutcome(t) converts one.
type TestOutcome struct {
	Name    string
	Outcome string // one of the Outcome constants
}

// Summary is what a test run reported about itself.
type Summary struct {
	Passed, Failed, Errors, Skipped int
	// ExpectedFailures and UnexpectedSuccesses are unittest's
	// @expectedFailure outcomes. They are in Total but in none of the
	// four counts above.
	ExpectedFailures, UnexpectedSuccesses int
	// Failing holds the test names from FAIL:/ERROR: headers as unittest
	// prints them, deduplicated in order, at most MaxFailing names of at
	// most MaxFailingName bytes, with control characters removed.
	Failing []string
	// Tests holds each test's outcome from unittest's verbose per-test
	// lines (and FAIL:/ERROR: headers), in the order reported, each name
	// once, at most MaxTests names cleaned like Failing's. It is empty
	// unless Format is FormatUnittest or FormatPartial. Names are as in
	// Failing ("test_x (mod.Class.test_x)", with a subtest's parameters
	// after it); "expected failure" is OutcomeSkipped and "unexpected
	// success" OutcomeFailed; a test reported twice (a failure, then an
	// error in tearDown) keeps its worst outcome; a failing subtest also
	// marks the test it belongs to. It need not agree with the counts.
	Tests  []TestOutcome
	Total  int
	Parsed bool   // true when a unittest "Ran N tests" line was found
	Format string // which of the Format constants applied; "" if none
}

// ParseUnittest extracts counts, failing tests and each test's outcome
// (Summary.Tests) from the output of "python3 -m unittest -v", falling
// back to a closing "N passed, N failed" line, counts only, for other
// commands.
//
// For unittest the closing "OK"/"FAILED (...)" line is authoritative, as
// the per-test lines can be split or garbled by tests writing to stderr.
// Failed and Errors are unittest's counts, which count each failing
// subTest separately, so Passed = Ran - failures - errors - skipped -
// expected failures - unexpected successes (never below zero) is exact
// without subtests and a lower bound with them.
//
// The output is scanned once, line by line, with no copy of it kept.
func ParseUnittest(output []byte) Summary {
	var p unittestParser
	for len(output) > 0 {
		line := output
		if i := bytes.IndexByte(output, '\n'); i >= 0 {
			line, output = output[:i], output[i+1:]
		} else {
			output = nil
		}
		p.line(bytes.TrimSuffix(line, []byte("\r")))
	}
	return p.summary()
}

// counts is one tally of test outcomes.
type counts struct {
	ok, failures, errors, skipped, xfail, xpass int
}

func (c counts) notPassed() int {
	return c.failures + c.errors + c.skipped + c.xfail + c.xpass
}

type unittestParser struct {
	ran         int
	sawRan      bool
	status      counts // from the closing OK/FAILED line
	sawStatus   bool
	awaitStatus bool   // after "Ran N tests", until the next non-blank line
	perTest     counts // from " ... ok" style lines
	sawPerTest  bool

	plain    counts
	sawPlain bool

	afterSeparator bool // the previous line was unittest's "=====" rule
	failing        []string
	failingSeen    map[string]struct{}

	tests      []TestOutcome
	testIndex  map[string]int // name -> index in tests
	testsBytes int            // the names' total length
	// pending is the test whose " ... " line had no result on it (or one
	// that may be its output's): its result follows its own output, alone
	// on a line. guess is the last result seen for it so far.
	pending, guess string
	// described is the previous line when it was a bare test name: with a
	// docstring, unittest prints "name\nFirst docstring line ... ok".
	described string
}

func (p *unittestParser) line(l []byte) {
	wasSeparator := p.afterSeparator
	p.afterSeparator = false
	described := p.described
	p.described = ""
	if len(l) > maxLine {
		// A test's output, which may follow its "name ... ".
		if i := bytes.Index(l[:maxLine], resultSep); i >= 0 {
			if name, ok := p.testName(l[:i]); ok {
				p.flushPending()
				p.pending = name
			} else if described != "" {
				p.flushPending()
				p.pending = described
			}
		}
		return
	}
	if p.awaitStatus && len(bytes.TrimSpace(l)) > 0 {
		p.awaitStatus = false
		if c, ok := parseStatus(l); ok {
			p.status, p.sawStatus = c, true
			return
		}
	}
	switch {
	case isSeparator(l):
		p.afterSeparator = true
	case wasSeparator && bytes.HasPrefix(l, []byte("FAIL: ")):
		p.flushPending()
		p.addTest(p.addFailing(l[len("FAIL: "):]), OutcomeFailed)
	case wasSeparator && bytes.HasPrefix(l, []byte("ERROR: ")):
		p.flushPending()
		p.addTest(p.addFailing(l[len("ERROR: "):]), OutcomeError)
	case bytes.HasPrefix(l, []byte("Ran ")):
		// With several runs in the output (a test that runs unittest
		// itself), the last one is the outer run.
		if n, ok := parseRan(l); ok {
			p.ran, p.sawRan = n, true
			p.status, p.sawStatus = counts{}, false
			p.awaitStatus = true
			if p.guess != "" {
				p.flushPending() // else a test running tests may be waiting
			}
		}
	default:
		// Per-test lines hold " ... ": find the first and the last.
		first, last := -1, bytes.LastIndex(l, resultSep)
		if last >= 0 {
			first = bytes.Index(l, resultSep)
		}
		p.trackTest(l, first, last, described)
		if p.countPerTest(l, first, last) {
			p.sawPerTest = true
		} else if c, ok := parsePlain(l); ok {
			p.plain, p.sawPlain = c, true
		}
	}
}

// countPerTest tallies a verbose result line such as
// "test_ok (mod.T.test_ok) ... ok". With a docstring, Python 3.11 prints
// the name on one line and "First docstring line ... ok" on the next; it is
// the latter that matches, once per test, which is what we count.
//
// The result normally follows the last " ... ", but a skip reason may
// contain one too, so the first is tried as well.
func (p *unittestParser) countPerTest(l []byte, first, last int) bool {
	if last < 0 {
		return false
	}
	return p.countResult(string(l[last+len(resultSep):])) ||
		p.countResult(string(l[first+len(resultSep):]))
}

// resultSep stands between a test's name and its result.
var resultSep = []byte(" ... ")

func (p *unittestParser) countResult(r string) bool {
	switch parseVerdict(r) {
	case verdictOK:
		p.perTest.ok++
	case verdictFail:
		p.perTest.failures++
	case verdictError:
		p.perTest.errors++
	case verdictXFail:
		p.perTest.xfail++
	case verdictXPass:
		p.perTest.xpass++
	case verdictSkip:
		p.perTest.skipped++
	default:
		return false
	}
	return true
}

// verdict is a result unittest prints after " ... ".
type verdict int

const (
	verdictNone verdict = iota
	verdictOK
	verdictFail
	verdictError
	verdictXFail
	verdictXPass
	verdictSkip
)

func parseVerdict(r string) verdict {
	switch {
	case r == "ok":
		return verdictOK
	case r == "FAIL":
		return verdictFail
	case r == "ERROR":
		return verdictError
	case r == "expected failure":
		return verdictXFail
	case r == "unexpected success":
		return verdictXPass
	case r == "skipped" || strings.HasPrefix(r, "skipped "):
		return verdictSkip
	}
	return verdictNone
}

// outcome maps a verdict to a TestOutcome's. An expected failure is neither
// a pass nor a failure, so it is reported as skipped (as JUnit reports of
// pytest's xfail are); an unexpected success fails the run, so it is a
// failure.
func (v verdict) outcome() string {
	switch v {
	case verdictOK:
		return OutcomePassed
	case verdictFail, verdictXPass:
		return OutcomeFailed
	case verdictError:
		return OutcomeError
	case verdictXFail, verdictSkip:
		return OutcomeSkipped
	}
	return ""
}

// trackTest follows the per-test lines to fill Summary.Tests. unittest
// writes "name ... " when a test starts and its result when it ends, so
// the line is either "name ... result", or "name ... " followed by the
// test's own output and then the result, alone at the start of a line.
// With a docstring, "name" is a line of its own and the docstring's first
// line stands before " ... ". A failing subtest gets a whole line,
// "  name (params) ... FAIL", the parameters possibly holding " ... ".
//
// A test's own output can look like a result too, so for a test whose
// result is not on its "name ... " line the last line that looks like one
// before the next test starts is taken. Lines that look like results but
// name no test are ignored. A result glued to output that does not end in
// a newline is lost, but a failure is still found from its FAIL:/ERROR:
// header at the end.
//
// first and last are the positions of the first and last " ... " in l, -1
// if none.
func (p *unittestParser) trackTest(l []byte, first, last int, described string) {
	sep := resultSep
	if last < 0 {
		if v := parseVerdict(string(l)); v != verdictNone {
			if p.pending != "" {
				p.guess = v.outcome()
			}
		} else if name, ok := p.testName(l); ok {
			p.described = name
		}
		return
	}
	head, v := l[:last], parseVerdict(string(l[last+len(sep):]))
	if v == verdictNone {
		// A skip reason may hold " ... " too.
		head, v = l[:first], parseVerdict(string(l[first+len(sep):]))
	}
	if v == verdictNone {
		if name, ok := p.testName(l); ok {
			// A subtest's name with " ... " in its parameters, before
			// its docstring line.
			p.described = name
			return
		}
		head = l[:first]
	}

	// Whether the result on this line is surely this test's: not when
	// output with " ... " in it may stand between them.
	sure := true
	name, ok := p.testName(head)
	glued := "" // a test that printed no result before name's line
	if !ok {
		i := bytes.LastIndex(head, sep)
		if i >= 0 {
			// "test ... name ... ok": Python before 3.11 printed no
			// line for a failing subtest, so the next test followed on
			// the same line; or a test ran tests of its own.
			if name, ok = p.testName(head[i+len(sep):]); ok {
				glued, _ = p.testName(l[:first])
			}
		}
		if !ok && i >= 0 {
			name, ok = p.testName(l[:first]) // "name ... output ... ok"
			sure = false
		}
		if !ok {
			name, sure = described, i < 0 // the docstring's line
		}
	}
	if name == "" {
		return // a test's output, such as "Loading ... ok"
	}
	if v == verdictNone || !sure {
		p.flushPending()
		p.pending = name
		if v != verdictNone {
			p.guess = v.outcome()
		}
		return
	}
	if p.pending != "" {
		if test, _ := splitTestName(name); test == name || test != p.pending {
			p.flushPending() // but a subtest's result leaves its test waiting
		}
	}
	p.addTest(name, v.outcome())
	if glued != "" {
		p.flushPending()
		p.pending = glued
	}
}

// flushPending records the waiting test's result, if any was seen.
func (p *unittestParser) flushPending() {
	if p.pending != "" && p.guess != "" {
		p.addTest(p.pending, p.guess)
	}
	p.pending, p.guess = "", ""
}

// testName returns raw as a test name, cleaned like Failing's, and whether
// it has the form of one. It is called for most lines, so it rejects
// others and finds names already recorded without allocating.
func (p *unittestParser) testName(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 4 || (raw[len(raw)-1] != ')' && raw[len(raw)-1] != ']') || !bytes.Contains(raw, []byte(" (")) {
		return "", false
	}
	if i, ok := p.testIndex[string(raw)]; ok {
		return p.tests[i].Name, true
	}
	name := cleanName(raw)
	return name, isTestName(name)
}

// isTestName reports whether s has the form of a unittest test
// description: "name (module.Class.name)", "name (module.Class)" before
// Python 3.11, or either followed by a subtest's " [msg]" and " (params)".
func isTestName(s string) bool {
	_, ok := splitTestName(s)
	return ok
}

// splitTestName returns the test a subtest belongs to (its name without
// " [msg] (params)"), or s itself when s is not a subtest. ok is false when
// s is not a test description.
func splitTestName(s string) (test string, ok bool) {
	i := strings.Index(s, " (")
	if i <= 0 || hasSpace(s[:i]) {
		return "", false
	}
	j := strings.IndexByte(s[i+2:], ')')
	if j <= 0 {
		return "", false
	}
	j += i + 2
	if strings.IndexByte(s[i+2:j], '(') >= 0 || hasSpace(s[i+2:j]) {
		return "", false
	}
	rest := s[j+1:]
	if rest != "" && !strings.HasPrefix(rest, " [") && !strings.HasPrefix(rest, " (") {
		return "", false
	}
	return s[:j+1], true
}

func hasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			return strings.ContainsFunc(s[i:], unicode.IsSpace)
		} else if c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' {
			return true
		}
	}
	return false
}

// severity orders outcomes for a test reported more than once.
func severity(outcome string) int {
	switch outcome {
	case OutcomeSkipped:
		return 1
	case OutcomePassed:
		return 2
	case OutcomeFailed:
		return 3
	case OutcomeError:
		return 4
	}
	return 0
}

// addTest records a test's outcome, keeping the worst one for a test
// already recorded. A failing subtest also marks its test, first.
func (p *unittestParser) addTest(name, outcome string) {
	test, ok := splitTestName(name)
	if !ok {
		return
	}
	if test != name && severity(outcome) >= severity(OutcomeFailed) {
		p.addTest(test, outcome)
	}
	if i, seen := p.testIndex[name]; seen {
		if severity(outcome) > severity(p.tests[i].Outcome) {
			p.tests[i].Outcome = outcome
		}
		return
	}
	if len(p.tests) >= MaxTests || p.testsBytes+len(name) > MaxTestsBytes {
		return
	}
	if p.testIndex == nil {
		p.testIndex = make(map[string]int)
	}
	p.testIndex[name] = len(p.tests)
	p.tests = append(p.tests, TestOutcome{Name: name, Outcome: outcome})
	p.testsBytes += len(name)
}

// addFailing records a name from a FAIL:/ERROR: header and returns it
// cleaned, also when Failing is full.
func (p *unittestParser) addFailing(raw []byte) string {
	name := cleanName(raw)
	if name == "" || len(p.failing) >= MaxFailing {
		return name
	}
	if _, dup := p.failingSeen[name]; dup {
		return name
	}
	if p.failingSeen == nil {
		p.failingSeen = make(map[string]struct{})
	}
	p.failingSeen[name] = struct{}{}
	p.failing = append(p.failing, name)
	return name
}

func (p *unittestParser) summary() Summary {
	p.flushPending() // a run cut short
	s := Summary{Failing: p.failing}
	var c counts
	switch {
	case p.sawRan:
		s.Parsed, s.Format, s.Total = true, FormatUnittest, p.ran
		s.Tests = p.tests
		c = p.perTest // a truncated run may lack the closing line
		if p.sawStatus {
			c = p.status
		}
		c.ok = max(0, p.ran-c.notPassed())
	case p.sawPlain:
		s.Format, c = FormatPlain, p.plain
		s.Total = c.ok + c.notPassed()
	case p.sawPerTest:
		s.Format, c = FormatPartial, p.perTest
		s.Tests = p.tests
		s.Total = c.ok + c.notPassed()
	default:
		return s
	}
	s.Passed, s.Failed, s.Errors, s.Skipped = c.ok, c.failures, c.errors, c.skipped
	s.ExpectedFailures, s.UnexpectedSuccesses = c.xfail, c.xpass
	return s
}

// isSeparator matches unittest's separator1, a row of 70 '='. Requiring it
// before "FAIL: " keeps a test's own "ERROR: ..." log lines out of Failing.
func isSeparator(l []byte) bool {
	return len(l) >= 20 && len(bytes.Trim(l, "=")) == 0
}

var (
	ranRE    = regexp.MustCompile(`^Ran (\d{1,9}) tests? in \S+$`)
	statusRE = regexp.MustCompile(`^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?$`)
	plainRE  = regexp.MustCompile(`^(\d{1,9}) passed, (\d{1,9}) failed(?:, (\d{1,9}) skipped)?\.?$`)
)

func parseRan(l []byte) (int, bool) {
	m := ranRE.FindSubmatch(l)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

// parseStatus reads "OK", "OK (skipped=1)" or
// "FAILED (failures=1, errors=2, skipped=1, expected failures=1,
// unexpected successes=1)". Unknown keys from future Pythons are ignored.
func parseStatus(l []byte) (counts, bool) {
	m := statusRE.FindSubmatch(bytes.TrimSpace(l))
	if m == nil {
		return counts{}, false
	}
	var c counts
	for kv := range strings.SplitSeq(string(m[2]), ", ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			continue
		}
		switch k {
		case "failures":
			c.failures = n
		case "errors":
			c.errors = n
		case "skipped":
			c.skipped = n
		case "expected failures":
			c.xfail = n
		case "unexpected successes":
			c.xpass = n
		}
	}
	return c, true
}

func parsePlain(l []byte) (counts, bool) {
	if !bytes.Contains(l, []byte(" passed, ")) {
		return counts{}, false // cheap filter before the regexp
	}
	m := plainRE.FindSubmatch(bytes.TrimSpace(l))
	if m == nil {
		return counts{}, false
	}
	var c counts
	c.ok, _ = strconv.Atoi(string(m[1]))
	c.failures, _ = strconv.Atoi(string(m[2]))
	if len(m[3]) > 0 {
		c.skipped, _ = strconv.Atoi(string(m[3]))
	}
	return c, true
}

// cleanName makes a test name safe to show: valid UTF-8, no control or
// format characters (which could rewrite a terminal or reorder text with
// bidi overrides), trimmed, and at most MaxFailingName bytes.
func cleanName(raw []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(string(raw), "\uFFFD"))
	s = strings.TrimSpace(s)
	if len(s) > MaxFailingName {
		n := MaxFailingName
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = strings.TrimSpace(s[:n])
	}
	return s
}
