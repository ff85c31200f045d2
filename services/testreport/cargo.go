package testreport

import (
	"bytes"
	"regexp"
	"strconv"
)

// cargoParser reads the libtest harness's output (cargo test): "running N
// tests", "test NAME ... ok|FAILED|ignored", the "---- NAME stdout ----"
// sections with each failure's panic message, and the closing "test
// result:" line, whose counts it takes. Each test binary (unit tests,
// each integration test, doc-tests) is a run, named by cargo's "Running"
// line.
type cargoParser struct {
	c      *collector
	b      *runBuilder
	target string // from cargo's "Running ..." or "Doc-tests ..." line
	// msgFor is the test whose "---- NAME stdout ----" section is being
	// read; msg gathers it.
	msgFor string
	msg    message
}

func newCargo(c *collector) *cargoParser { return &cargoParser{c: c} }

var (
	cargoRunningRE = regexp.MustCompile(`^running (\d{1,9}) tests?$`)
	cargoTestRE    = regexp.MustCompile(`^test (.+?) \.\.\. (ok|FAILED|ignored(?:, .*)?|bench: .*)$`)
	cargoResultRE  = regexp.MustCompile(`^test result: (?:ok|FAILED)\. (\d{1,9}) passed; (\d{1,9}) failed; (\d{1,9}) ignored; (\d{1,9}) measured; (\d{1,9}) filtered out`)
	cargoTargetRE  = regexp.MustCompile(`^\s+(?:Running (.+?)(?: \(.*\))?|Doc-tests (.+))$`)
)

func (p *cargoParser) line(l []byte) bool {
	switch {
	case bytes.HasPrefix(l, []byte("running ")):
		if cargoRunningRE.Match(l) {
			p.flushMessage()
			p.b = p.c.start(FormatCargo, p.target)
		}
	case bytes.HasPrefix(l, []byte("   ")) && p.b == nil:
		if m := cargoTargetRE.FindSubmatch(l); m != nil {
			p.target = string(m[1]) + string(m[2])
		}
	case p.b == nil:
	case bytes.HasPrefix(l, []byte("test result: ")):
		m := cargoResultRE.FindSubmatch(l)
		if m == nil {
			return false
		}
		p.flushMessage()
		n := func(i int) int { v, _ := strconv.Atoi(string(m[i])); return v }
		c := Counts{Passed: Count{N: n(1)}, Failed: Count{N: n(2)}, Skipped: Count{N: n(3)}}
		p.b.finish(&c)
		p.b, p.target = nil, ""
		return true
	case bytes.HasPrefix(l, []byte("test ")):
		m := cargoTestRE.FindSubmatch(l)
		if m == nil {
			return false
		}
		name := string(m[1])
		if i := bytes.Index(m[1], []byte(" - should panic")); i >= 0 {
			name = name[:i]
		}
		o := Passed
		switch {
		case bytes.Equal(m[2], []byte("FAILED")):
			o = Failed
		case bytes.HasPrefix(m[2], []byte("ignored")):
			o = Skipped
		}
		p.b.add(Record{ID: name, Suite: p.target, Outcome: o, Duration: NoDuration})
	case bytes.HasPrefix(l, []byte("---- ")) && bytes.HasSuffix(l, []byte(" ----")):
		p.flushMessage()
		name := bytes.TrimSuffix(bytes.TrimPrefix(l, []byte("---- ")), []byte(" ----"))
		name = bytes.TrimSuffix(bytes.TrimSuffix(name, []byte(" stdout")), []byte(" stderr"))
		p.msgFor = string(name)
	case p.msgFor != "":
		if bytes.Equal(l, []byte("failures:")) || bytes.HasPrefix(l, []byte("stack backtrace:")) {
			p.flushMessage()
			return false
		}
		p.msg.add(string(l))
	}
	return false
}

// flushMessage gives the section just read to its test.
func (p *cargoParser) flushMessage() {
	if p.msgFor != "" && p.b != nil {
		if i, ok := p.b.lookup(p.target, p.msgFor); ok {
			p.b.setMessage(i, p.msg.String())
		}
	}
	p.msgFor = ""
	p.msg.reset()
}

// end closes a run cut short (the harness aborted) with the tally of what
// it printed, so the tests that failed before are still named.
func (p *cargoParser) end() {
	p.flushMessage()
	if p.b != nil && !p.b.empty() {
		p.b.finish(nil)
	}
	p.b = nil
}
