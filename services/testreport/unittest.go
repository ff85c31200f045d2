package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// unittestParser reads python -m unittest's output, verbose or not. A
// run ends with "Ran N tests in Xs" and the "OK"/"FAILED (...)" line.
//
// A test method counts once: its failing subtests are records under it
// (Parent), and mark it failed. unittest's own closing counts count each
// failing subtest, so they are not used as they are: with -v the counts
// come from the method records; without it, from "Ran N" less the
// distinct methods in the FAIL:/ERROR: headers and the skips of the
// closing line.
type unittestParser struct {
	c *collector
	b *runBuilder
	// verbose is set by a per-test " ... result" line in this run.
	verbose bool
	// pending is the test whose "name ... " line had no result on it: its
	// result follows its output, alone on a line; guess is the last
	// result-like line seen since. described is a bare name line: with a
	// docstring the result comes on the next line, after the docstring.
	pending, guess, described string
	// After a "=====" rule, a FAIL:/ERROR: header; after it a "-----"
	// rule and the traceback, gathered into msg for msgFor.
	afterRule  bool
	msgFor     string
	msgOutcome Outcome
	msg        message
	inTrace    bool // inside a traceback's frames: not the message
	// ran is "Ran N"; awaitStatus waits for the closing line after it.
	ran         int
	awaitStatus bool
	failing     map[string]Outcome // methods in FAIL:/ERROR: headers
}

func newUnittest(c *collector) *unittestParser { return &unittestParser{c: c} }

var (
	unittestRanRE    = regexp.MustCompile(`^Ran (\d{1,9}) tests? in \S+$`)
	unittestStatusRE = regexp.MustCompile(`^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?$`)
	// A test's description: "name (module.Class.name)", "name
	// (module.Class)" before Python 3.11, then a subtest's " [msg]" and
	// " (params)".
	unittestNameRE = regexp.MustCompile(`^(\S+ \([^\s()]+\))((?: \[.*\])?(?: \(.*\))?)$`)
)

func (p *unittestParser) run() *runBuilder {
	if p.b == nil {
		p.b = p.c.start(FormatUnittest, "")
		p.failing = nil
		p.verbose = false
	}
	return p.b
}

func (p *unittestParser) line(l []byte) bool {
	wasRule := p.afterRule
	p.afterRule = false
	described := p.described
	p.described = ""
	if p.awaitStatus && len(bytes.TrimSpace(l)) > 0 {
		p.awaitStatus = false
		return p.status(bytes.TrimSpace(l))
	}
	switch {
	case len(l) >= 20 && len(bytes.Trim(l, "=")) == 0:
		p.flushMessage()
		p.flushPending()
		p.afterRule = true
		return false
	case len(l) >= 20 && len(bytes.Trim(l, "-")) == 0:
		if p.msgFor != "" && p.msg.lines == 0 && !p.inTrace {
			return false // the rule under a header
		}
		p.flushMessage()
		return false
	case wasRule && (bytes.HasPrefix(l, []byte("FAIL: ")) || bytes.HasPrefix(l, []byte("ERROR: "))):
		o, name := Failed, l[len("FAIL: "):]
		if l[0] == 'E' {
			o, name = Error, l[len("ERROR: "):]
		}
		p.header(string(name), o)
		return false
	case p.msgFor != "":
		p.message(l)
		return false
	case bytes.HasPrefix(l, []byte("Ran ")):
		if m := unittestRanRE.FindSubmatch(l); m != nil {
			p.flushPending()
			p.ran, _ = strconv.Atoi(string(m[1]))
			p.run()
			p.awaitStatus = true
		}
		return false
	}
	p.perTest(l, described)
	return false
}

// perTest follows the verbose per-test lines: "name ... result", or
// "name ... " then the test's output then the result alone on a line, or
// a bare name, a docstring line and " ... result".
func (p *unittestParser) perTest(l []byte, described string) {
	sep := bytes.Index(l, []byte(" ... "))
	if sep < 0 {
		if bytes.HasSuffix(l, []byte(" ...")) {
			sep = len(l) - len(" ...") // the line's trailing space trimmed
		} else {
			if p.pending != "" && len(l) <= len("unexpected success") {
				if v, ok := unittestVerdict(string(l)); ok {
					p.guess = string(v)
					return
				}
			}
			if isUnittestName(l) {
				p.flushPending()
				p.described = string(bytes.TrimSpace(l))
			}
			return
		}
	}
	head := bytes.TrimSpace(l[:sep])
	named := isUnittestName(head)
	if !named && described == "" && p.pending == "" {
		return // most lines: no string made of them
	}
	rest := ""
	if sep+5 <= len(l) {
		rest = string(l[sep+5:])
	}
	name := ""
	switch {
	case named:
		name = string(head)
	case described != "":
		name = described // the docstring's line
	default:
		if p.pending != "" {
			// A test's output with " ... " in it ("Loading ... ok").
			if v, ok := unittestVerdict(lastResult(rest)); ok {
				p.guess = string(v)
			}
		}
		return
	}
	method, sub := splitUnittestName(name)
	v, ok := unittestVerdict(rest)
	if !ok {
		v, ok = unittestVerdict(lastResult(rest)) // output, then the result
		if ok && !sub {
			p.flushPending()
			p.pending, p.guess = name, string(v)
			return
		}
	}
	if !ok {
		if !sub {
			p.flushPending()
			p.pending = name // the result follows the test's output
		}
		return
	}
	if !sub {
		p.flushPending()
	}
	p.verbose = true
	parent := ""
	if sub {
		parent = method
	}
	p.run().add(Record{ID: name, Suite: unittestSuite(name), Parent: parent, Outcome: v, Duration: NoDuration})
}

// lastResult is what follows the last " ... " of s.
func lastResult(s string) string {
	if i := strings.LastIndex(s, " ... "); i >= 0 {
		return s[i+5:]
	}
	return s
}

func (p *unittestParser) flushPending() {
	if p.pending == "" {
		return
	}
	if p.guess != "" {
		p.verbose = true
		p.run().add(Record{ID: p.pending, Suite: unittestSuite(p.pending), Outcome: Outcome(p.guess), Duration: NoDuration})
	}
	// Else its result was lost, or it is a method whose subtests failed:
	// it prints no result of its own (Python 3.11), and the subtests'
	// records marked it.
	p.pending, p.guess = "", ""
}

// header starts a FAIL:/ERROR: section.
func (p *unittestParser) header(name string, o Outcome) {
	p.flushPending()
	name = clean(name, MaxIDBytes)
	p.msgFor, p.msgOutcome = name, o
	p.msg.reset()
	p.inTrace = false
}

// message gathers a section's text. A traceback's frames are skipped: the
// message is the exception line and what follows it.
func (p *unittestParser) message(l []byte) {
	switch {
	case bytes.HasPrefix(l, []byte("Traceback (most recent call last):")):
		p.inTrace = true
	case p.inTrace && (len(l) == 0 || l[0] == ' '):
	default:
		p.inTrace = false
		p.msg.add(string(l))
	}
}

// flushMessage records the section just read.
func (p *unittestParser) flushMessage() {
	if p.msgFor == "" {
		return
	}
	name, o := p.msgFor, p.msgOutcome
	p.msgFor = ""
	method, sub := splitUnittestName(name)
	parent := ""
	if sub {
		parent = method
	}
	if !isUnittestName([]byte(name)) {
		// setUpClass (mod.T), setUpModule (mod): not a test of "Ran N",
		// but an error a person must see.
		method = name
	}
	b := p.run()
	i := b.add(Record{ID: name, Suite: unittestSuite(name), Parent: parent, Outcome: o, Duration: NoDuration, Message: p.msg.String()})
	b.setMessage(i, p.msg.String())
	if p.failing == nil {
		p.failing = make(map[string]Outcome)
	}
	if old, ok := p.failing[method]; !ok || o.severity() > old.severity() {
		if len(p.failing) < MaxRecords {
			p.failing[method] = o
		}
	}
	p.msg.reset()
}

// status reads the closing line and closes the run.
func (p *unittestParser) status(l []byte) bool {
	m := unittestStatusRE.FindSubmatch(l)
	if m == nil {
		p.close(nil)
		return false
	}
	var skipped, xfail, xpass int
	for kv := range strings.SplitSeq(string(m[2]), ", ") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			continue
		}
		switch k {
		case "skipped":
			skipped = n
		case "expected failures":
			xfail = n
		case "unexpected successes":
			xpass = n
		}
	}
	if p.verbose {
		p.close(nil)
		return true
	}
	var c Counts
	for _, o := range p.failing {
		c.tally(o, 1)
	}
	c.Skipped.N = skipped + xfail
	c.Failed.N += xpass
	c.Passed.N = max(0, p.ran-c.Failed.N-c.Errors.N-c.Skipped.N)
	p.close(&c)
	return true
}

func (p *unittestParser) close(c *Counts) {
	p.flushMessage()
	p.flushPending()
	if p.b != nil {
		p.b.finish(c)
	}
	p.b = nil
}

func (p *unittestParser) end() {
	p.flushMessage()
	p.flushPending()
	if p.b != nil && !p.b.empty() {
		p.b.finish(nil) // cut short: what the per-test lines said
	}
	p.b = nil
}

func isUnittestName(l []byte) bool {
	l = bytes.TrimSpace(l)
	if len(l) < 4 || (l[len(l)-1] != ')' && l[len(l)-1] != ']') || !bytes.Contains(l, []byte(" (")) {
		return false // cheap filter before the regexp
	}
	return unittestNameRE.Match(l)
}

// unittestSuite is the module and class of a test's description:
// "mod.Class" from "name (mod.Class.name)" or "name (mod.Class)".
func unittestSuite(name string) string {
	method, _, ok := strings.Cut(name, " (")
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(name[len(method)+2:], ")")
	return strings.TrimSuffix(in, "."+method)
}

// splitUnittestName returns the method a subtest belongs to, and whether
// name is a subtest's.
func splitUnittestName(name string) (method string, sub bool) {
	m := unittestNameRE.FindStringSubmatch(name)
	if m == nil {
		return name, false
	}
	return m[1], m[2] != ""
}

// unittestVerdict maps a result unittest prints after " ... ".
func unittestVerdict(r string) (Outcome, bool) {
	switch {
	case r == "ok":
		return Passed, true
	case r == "FAIL", r == "unexpected success":
		return Failed, true
	case r == "ERROR":
		return Error, true
	case r == "expected failure", r == "skipped", strings.HasPrefix(r, "skipped "):
		return Skipped, true
	}
	return "", false
}
