package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// nodeSpecParser reads node --test's spec reporter, the default on a
// terminal in newer Node versions: "✔ name (1.2ms)", "✖ name (3ms)" with
// the error indented under it, "﹣ name (0.1ms) # reason" for a skip,
// "▶ suite" opening a describe() or a test with subtests, two spaces of
// indent a level, then "ℹ tests 11", "ℹ pass 4"... whose counts it
// takes, and a "✖ failing tests:" section repeating the failures, which
// it skips. A record's ID is its path, "suite > test".
type nodeSpecParser struct {
	c       *collector
	b       *runBuilder
	names   []string
	last    int // the record whose error lines follow, -1 if none
	lastInd int
	msg     message
	counts  Counts
	sawInfo bool
	// repeat is set in the closing "✖ failing tests:" section.
	repeat bool
}

func newNodeSpec(c *collector) *nodeSpecParser { return &nodeSpecParser{c: c, last: -1} }

const (
	specPass  = "✔ "
	specFail  = "✖ "
	specSkip  = "﹣ "
	specSuite = "▶ "
	specInfo  = "ℹ "
)

var (
	specResultRE = regexp.MustCompile(`^(.*) \((\d+(?:\.\d+)?)ms\)(?: # (.*))?$`)
	specInfoRE   = regexp.MustCompile(`^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d[\d.]*)$`)
)

func (p *nodeSpecParser) line(l []byte) bool {
	ind := indent(l)
	body := l[ind:]
	if len(body) == 0 {
		if p.last >= 0 {
			p.msg.add("")
		}
		return false
	}
	if p.repeat {
		if ind == 0 && (bytes.HasPrefix(body, []byte(specPass)) || bytes.HasPrefix(body, []byte(specSuite))) {
			p.repeat = false // a new run's first line
		} else {
			return false
		}
	}
	if p.last >= 0 && ind > p.lastInd {
		if bytes.HasPrefix(body, []byte("at ")) {
			p.msg.full = true // the stack: the message is above it
		}
		p.msg.add(string(body))
		return false
	}
	p.flushMessage()
	switch {
	case bytes.HasPrefix(body, []byte(specInfo)):
		if m := specInfoRE.FindSubmatch(body); m != nil && p.b != nil && ind == 0 {
			return p.info(string(m[1]), string(m[2]))
		}
	case bytes.HasPrefix(body, []byte(specSuite)):
		name := string(body[len(specSuite):])
		if m := specResultRE.FindStringSubmatch(name); m != nil {
			// Newer Node closes a passing suite with "▶ name (3ms)".
			p.result(ind, Passed, m)
			return false
		}
		p.run()
		p.nest(ind/2, name)
	case bytes.HasPrefix(body, []byte(specPass)):
		p.resultLine(ind, Passed, body[len(specPass):])
	case bytes.HasPrefix(body, []byte(specFail)):
		if ind == 0 && bytes.Equal(body, []byte("✖ failing tests:")) {
			p.repeat = true
			return false
		}
		p.resultLine(ind, Failed, body[len(specFail):])
	case bytes.HasPrefix(body, []byte(specSkip)):
		p.resultLine(ind, Skipped, body[len(specSkip):])
	}
	return false
}

func (p *nodeSpecParser) run() *runBuilder {
	if p.b == nil {
		p.b = p.c.start(FormatNodeSpec, "")
		p.names, p.counts, p.sawInfo = p.names[:0], Counts{}, false
	}
	return p.b
}

func (p *nodeSpecParser) nest(depth int, name string) {
	if depth >= maxNesting {
		return
	}
	name = clean(name, MaxIDBytes)
	if depth < len(p.names) {
		p.names = p.names[:depth]
	}
	for len(p.names) < depth {
		p.names = append(p.names, "")
	}
	p.names = append(p.names, name)
}

func (p *nodeSpecParser) resultLine(ind int, o Outcome, rest []byte) {
	m := specResultRE.FindStringSubmatch(string(rest))
	if m == nil {
		return
	}
	p.result(ind, o, m)
}

// result records "name (1.2ms) # directive".
func (p *nodeSpecParser) result(ind int, o Outcome, m []string) {
	b := p.run()
	name, directive := m[1], m[3]
	if o == Passed && strings.HasPrefix(directive, "TODO") {
		o = Skipped
	}
	depth := ind / 2
	parent := ""
	if depth > 0 && depth <= len(p.names) {
		parent = strings.Join(p.names[:depth], " > ")
	}
	id := name
	if parent != "" {
		id = parent + " > " + name
	}
	d := NoDuration
	if f, err := strconv.ParseFloat(m[2], 64); err == nil {
		d = secondsOf(f / 1000)
	}
	msg := ""
	if o == Skipped {
		msg = directive
	}
	i := b.add(Record{ID: id, Parent: parent, Outcome: o, Duration: d, Message: clean(msg, MaxMessageBytes)})
	if depth < len(p.names) {
		p.names = p.names[:depth]
	}
	if o == Failed {
		p.last, p.lastInd = i, ind
	}
}

func (p *nodeSpecParser) flushMessage() {
	if p.last >= 0 && p.b != nil {
		p.b.setMessage(p.last, p.msg.String())
	}
	p.last = -1
	p.msg.reset()
}

// info reads the closing "ℹ" lines; "ℹ duration_ms" is the last.
func (p *nodeSpecParser) info(key, val string) bool {
	p.sawInfo = true
	if nodeSummary(&p.counts, key, val) {
		c := p.counts
		p.b.finish(&c)
		p.b = nil
		p.repeat = true
	}
	return true
}

func (p *nodeSpecParser) end() {
	p.flushMessage()
	if p.b != nil && !p.b.empty() {
		if p.sawInfo {
			c := p.counts
			p.b.finish(&c)
		} else {
			p.b.finish(nil)
		}
	}
	p.b = nil
}
