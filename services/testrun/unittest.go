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
	Total   int
	Parsed  bool   // true when a unittest "Ran N tests" line was found
	Format  string // which of the Format constants applied; "" if none
}

// ParseUnittest extracts counts from the output of
// "python3 -m unittest -v", falling back to a closing "N passed, N failed"
// line for other commands.
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
}

func (p *unittestParser) line(l []byte) {
	wasSeparator := p.afterSeparator
	p.afterSeparator = false
	if len(l) > maxLine {
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
		p.addFailing(l[len("FAIL: "):])
	case wasSeparator && bytes.HasPrefix(l, []byte("ERROR: ")):
		p.addFailing(l[len("ERROR: "):])
	case bytes.HasPrefix(l, []byte("Ran ")):
		// With several runs in the output (a test that runs unittest
		// itself), the last one is the outer run.
		if n, ok := parseRan(l); ok {
			p.ran, p.sawRan = n, true
			p.status, p.sawStatus = counts{}, false
			p.awaitStatus = true
		}
	default:
		if p.countPerTest(l) {
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
func (p *unittestParser) countPerTest(l []byte) bool {
	sep := []byte(" ... ")
	i := bytes.LastIndex(l, sep)
	if i < 0 {
		return false
	}
	return p.countResult(string(l[i+len(sep):])) ||
		p.countResult(string(l[bytes.Index(l, sep)+len(sep):]))
}

func (p *unittestParser) countResult(r string) bool {
	switch {
	case r == "ok":
		p.perTest.ok++
	case r == "FAIL":
		p.perTest.failures++
	case r == "ERROR":
		p.perTest.errors++
	case r == "expected failure":
		p.perTest.xfail++
	case r == "unexpected success":
		p.perTest.xpass++
	case r == "skipped" || strings.HasPrefix(r, "skipped "):
		p.perTest.skipped++
	default:
		return false
	}
	return true
}

func (p *unittestParser) addFailing(raw []byte) {
	if len(p.failing) >= MaxFailing {
		return
	}
	name := cleanName(raw)
	if name == "" {
		return
	}
	if _, dup := p.failingSeen[name]; dup {
		return
	}
	if p.failingSeen == nil {
		p.failingSeen = make(map[string]struct{})
	}
	p.failingSeen[name] = struct{}{}
	p.failing = append(p.failing, name)
}

func (p *unittestParser) summary() Summary {
	s := Summary{Failing: p.failing}
	var c counts
	switch {
	case p.sawRan:
		s.Parsed, s.Format, s.Total = true, FormatUnittest, p.ran
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
