package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// pytestParser reads pytest's output in its default, -v, -q and -rA
// forms. A run starts at "=== test session starts ===" (or, with -q, at
// the first line that is pytest's) and ends at the closing "== 2 failed,
// 182 passed in 0.85s ==" line (bare with -q), whose counts it takes.
// Records come from -v's "nodeid PASSED" lines and the short summary's
// "FAILED nodeid - message" lines (pytest prints those for failures and
// errors by default; -rA adds the others), the message completed from the
// "E   " lines of the failure's section.
type pytestParser struct {
	c *collector
	b *runBuilder
	// section is the test whose "____ name ____" failure section is being
	// read, msg its "E   " lines; sections holds them by that name until
	// the short summary names the test's node id.
	section  string
	msg      message
	sections map[string]string
}

func newPytest(c *collector) *pytestParser { return &pytestParser{c: c} }

var (
	pytestVerboseRE = regexp.MustCompile(`^(\S+::.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \((.*)\))?(?:\s+\[\s*\d{1,3}%\])?$`)
	pytestShortRE   = regexp.MustCompile(`^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+::.*?)(?: - (.*))?$`)
	pytestCountRE   = regexp.MustCompile(`^(\d{1,9}) (failed|passed|skipped|deselected|xfailed|xpassed|warnings?|errors?|rerun)$`)
	pytestSectionRE = regexp.MustCompile(`^_{3,} (?:(?:ERROR|FAILURE) at (?:setup|teardown|call) of )?(.+?) _{3,}$`)
)

func (p *pytestParser) run() *runBuilder {
	if p.b == nil {
		p.b = p.c.start(FormatPytest, "")
		p.sections, p.section = nil, ""
		p.msg.reset()
	}
	return p.b
}

func (p *pytestParser) line(l []byte) bool {
	if len(l) > 0 && l[0] == '=' {
		inner := bytes.TrimSpace(bytes.Trim(l, "="))
		switch {
		case bytes.Equal(inner, []byte("test session starts")):
			p.close(nil) // a run without its closing line
			p.run()
			return false
		case bytes.Equal(inner, []byte("FAILURES")), bytes.Equal(inner, []byte("ERRORS")):
			p.flushSection()
			p.run() // -q prints no header before these
			return false
		case bytes.Equal(inner, []byte("short test summary info")):
			p.flushSection()
			p.run()
			return false
		}
		if c, ok := pytestCounts(string(inner)); ok {
			p.close(&c)
			return true
		}
		p.flushSection()
		return false
	}
	if len(l) > 0 && (l[0] >= '0' && l[0] <= '9' || l[0] == 'n') && bytes.Contains(l, []byte(" in ")) {
		if c, ok := pytestCounts(string(l)); ok {
			// -q's bare closing line, "3 failed, 4 passed in 0.09s".
			p.close(&c)
			return true
		}
	}
	if len(l) > 0 && l[0] == '_' {
		if m := pytestSectionRE.FindSubmatch(l); m != nil && p.b != nil {
			p.flushSection()
			p.section = string(m[1])
			return false
		}
	}
	if p.section != "" {
		if bytes.HasPrefix(l, []byte("E   ")) {
			p.msg.add(string(l[4:]))
		}
		return false
	}
	p.record(l)
	return false
}

// record reads a -v line or a short summary line.
func (p *pytestParser) record(l []byte) {
	if !bytes.Contains(l, []byte("::")) {
		return
	}
	if m := pytestShortRE.FindSubmatch(l); m != nil {
		id := string(m[2])
		b := p.run()
		i := b.add(Record{ID: id, Suite: pytestFile(id), Outcome: pytestOutcome(string(m[1])), Duration: NoDuration})
		if msg := p.sectionFor(id); msg != "" {
			b.setMessage(i, msg)
		} else if len(m[3]) > 0 {
			b.setMessage(i, clean(string(m[3]), MaxMessageBytes))
		}
		return
	}
	if m := pytestVerboseRE.FindSubmatch(l); m != nil {
		id := string(m[1])
		o := pytestOutcome(string(m[2]))
		msg := ""
		if o == Skipped {
			msg = clean(string(m[3]), MaxMessageBytes) // the reason
		}
		p.run().add(Record{ID: id, Suite: pytestFile(id), Outcome: o, Duration: NoDuration, Message: msg})
	}
}

func pytestOutcome(s string) Outcome {
	switch s {
	case "FAILED":
		return Failed
	case "ERROR":
		return Error
	case "SKIPPED", "XFAIL":
		return Skipped
	}
	return Passed // PASSED, and a non-strict XPASS, which passes the run
}

// pytestFile is the file part of a node id.
func pytestFile(id string) string {
	f, _, _ := strings.Cut(id, "::")
	return f
}

func (p *pytestParser) flushSection() {
	if p.section != "" && p.b != nil {
		if p.sections == nil {
			p.sections = make(map[string]string)
		}
		if len(p.sections) < maxOpen {
			p.sections[p.section] = p.msg.String()
		}
	}
	p.section = ""
	p.msg.reset()
}

// sectionFor finds the failure section of a node id: pytest heads it with
// the id's last parts, "TestGroup.test_x" for "f.py::TestGroup::test_x".
func (p *pytestParser) sectionFor(id string) string {
	if len(p.sections) == 0 {
		return ""
	}
	parts := strings.Split(id, "::")
	for i := 1; i < len(parts); i++ {
		if m, ok := p.sections[strings.Join(parts[i:], ".")]; ok && m != "" {
			return m
		}
	}
	return ""
}

// pytestCounts reads "3 failed, 4 passed, 1 skipped in 0.84s", and "no
// tests ran in 0.01s".
func pytestCounts(s string) (Counts, bool) {
	var c Counts
	i := strings.LastIndex(s, " in ")
	if i < 0 || !strings.HasSuffix(strings.Fields(s[i+4:] + " x")[0], "s") {
		return c, false
	}
	head := s[:i]
	if head == "no tests ran" {
		return c, true
	}
	if head == "" || head[0] < '0' || head[0] > '9' {
		return c, false
	}
	for part := range strings.SplitSeq(head, ", ") {
		m := pytestCountRE.FindStringSubmatch(part)
		if m == nil {
			return Counts{}, false
		}
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "passed", "xpassed":
			c.Passed.N += n
		case "failed":
			c.Failed.N += n
		case "error", "errors":
			c.Errors.N += n
		case "skipped", "xfailed":
			c.Skipped.N += n
		}
	}
	return c, true
}

func (p *pytestParser) close(c *Counts) {
	p.flushSection()
	if p.b != nil && (c != nil || !p.b.empty()) {
		p.b.finish(c)
	} else if p.b == nil && c != nil {
		p.c.start(FormatPytest, "").finish(c)
	}
	p.b = nil
}

func (p *pytestParser) end() { p.close(nil) }
