package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// tapParser reads TAP 13 and 14: what node --test prints when not on a
// terminal, prove -v, and others. A run starts at "TAP version N", or at a
// plan or a first test point ("ok 1") when confirmed later by a plan;
// test points that no plan or version line confirms are someone's output
// and dropped. Subtests are indented by four spaces, named by the "#
// Subtest: name" comment before them; a record's ID is its path ("suite >
// test"). A failure's message is the "error:"/"message:" of its YAML
// block (node), or the "#" comments after it (Perl's Test::More).
//
// The counts are node's closing "# tests / # pass / # fail" comments when
// present (node counts a test with subtests as well as its subtests, and
// no describe() suite), else the top-level test points. TODO is Skipped;
// node's "cancelled" is Error.
type tapParser struct {
	c         *collector
	b         *runBuilder
	confirmed bool
	planned   bool                // a top-level plan was seen
	top       int                 // top-level test points
	points    map[string]struct{} // the IDs of test points seen
	names     []string
	last      int // the record of the last test point, -1 if none
	lastDepth int
	// yaml is set inside a test point's "---" ... "..." block; key is the
	// multi-line value being read ("error: |-").
	yaml, yamlKey bool
	yamlIndent    int
	msg           message
	comments      bool // "#" comments after a failing point are its message
	node          Counts
	sawNode       bool
}

func newTAP(c *collector) *tapParser { return &tapParser{c: c, last: -1} }

var (
	tapPlanRE = regexp.MustCompile(`^1\.\.(\d{1,9})(?:\s*#.*)?$`)
	tapNodeRE = regexp.MustCompile(`^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d[\d.]*)$`)
)

func (p *tapParser) start(confirmed bool) {
	p.close()
	p.b = p.c.start(FormatTAP, "")
	p.confirmed, p.planned, p.top = confirmed, false, 0
	p.points = make(map[string]struct{})
	p.names = p.names[:0]
	p.sawNode, p.node = false, Counts{}
}

func (p *tapParser) line(l []byte) bool {
	ind := indent(l)
	body := l[ind:]
	if p.yaml {
		if ind >= p.yamlIndent && (bytes.Equal(body, []byte("...")) || bytes.Equal(body, []byte("---"))) && ind == p.yamlIndent {
			if body[0] == '.' {
				p.endYAML()
			}
			return false
		}
		if ind >= p.yamlIndent || len(body) == 0 {
			p.yamlLine(ind, body)
			return false
		}
		p.endYAML() // a block left open
	}
	switch {
	case len(body) == 0:
		return false
	case ind == 0 && (bytes.HasPrefix(body, []byte("Files=")) || bytes.Equal(body, []byte("Test Summary Report"))):
		p.close() // prove's summary: the last file's TAP is over
		return false
	case ind == 0 && bytes.HasPrefix(body, []byte("TAP version ")):
		p.start(true)
	case bytes.HasPrefix(body, []byte("1..")):
		if ind == 0 && tapPlanRE.Match(body) {
			if p.b == nil || p.planned {
				p.start(true) // prove -v: the next file's plan
			}
			p.confirmed, p.planned = true, true
		}
	case bytes.HasPrefix(body, []byte("ok")), bytes.HasPrefix(body, []byte("not ok")):
		p.point(ind, body)
		return false
	case bytes.HasPrefix(body, []byte("# Subtest: ")):
		d := ind / 4
		if d < maxNesting && (p.b != nil || d == 0) {
			if d < len(p.names) {
				p.names = p.names[:d]
			}
			for len(p.names) < d {
				p.names = append(p.names, "")
			}
			p.names = append(p.names, clean(string(body[len("# Subtest: "):]), MaxIDBytes))
			if p.b == nil {
				p.start(false)
			}
		}
	case body[0] == '#':
		if ind == 0 && p.b != nil {
			if m := tapNodeRE.FindSubmatch(body); m != nil {
				return p.nodeCount(string(m[1]), string(m[2]))
			}
		}
		if p.comments && p.last >= 0 {
			p.msg.add(strings.TrimSpace(string(body[1:])))
		}
		return false
	case bytes.HasPrefix(body, []byte("---")) && p.last >= 0 && ind == p.lastDepth*4+2:
		p.flushComments()
		p.yaml, p.yamlIndent = true, ind
		p.msg.reset()
		return false
	case bytes.HasPrefix(body, []byte("Bail out!")) && p.b != nil:
		p.b.add(Record{ID: "Bail out!", Outcome: Error, Duration: NoDuration, Message: clean(string(body), MaxMessageBytes)})
	}
	p.flushComments()
	return false
}

// point records a test point: "ok 1 - name # SKIP reason".
func (p *tapParser) point(ind int, body []byte) {
	p.flushComments()
	o := Passed
	rest := body[len("ok"):]
	if body[0] == 'n' {
		o, rest = Failed, body[len("not ok"):]
	}
	if len(rest) > 0 && rest[0] != ' ' {
		return // "okay", "nothing"
	}
	rest = bytes.TrimSpace(rest)
	num := 0
	if i := bytes.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i != 0 {
		if i < 0 {
			i = len(rest)
		}
		num, _ = strconv.Atoi(string(rest[:min(i, 9)]))
		rest = bytes.TrimSpace(rest[i:])
	}
	rest = bytes.TrimSpace(bytes.TrimPrefix(rest, []byte("- ")))
	desc, directive := splitDirective(string(rest))
	d := strings.ToLower(directive)
	switch {
	case strings.HasPrefix(d, "skip"):
		o = Skipped
	case strings.HasPrefix(d, "todo"):
		o = Skipped
	}
	depth := ind / 4
	if p.b == nil {
		if depth != 0 || num != 1 {
			return
		}
		p.start(false)
	}
	if desc == "" && num == 0 {
		return // prove's own "ok" after a file
	}
	if depth == 0 {
		if num == 1 && p.top > 0 && p.planned {
			p.start(false) // prove -v: the next file, its plan at the end
		}
		p.top++
	}
	id := desc
	if id == "" {
		id = "test " + strconv.Itoa(num)
	}
	parent := ""
	if depth > 0 && depth <= len(p.names) {
		parent = strings.Join(p.names[:depth], " > ")
		id = parent + " > " + id
	}
	// Two test points of one name stay two records; a parent that its
	// failing subtests added already is the same test.
	if _, dup := p.points[clean(id, MaxIDBytes)]; dup {
		id += " (" + strconv.Itoa(num) + ")"
	}
	if len(p.points) < MaxRecords {
		p.points[clean(id, MaxIDBytes)] = struct{}{}
	}
	msg := ""
	if o == Skipped && len(directive) > 4 {
		msg = strings.TrimSpace(directive[4:]) // the reason
	}
	p.last = p.b.add(Record{ID: id, Parent: parent, Outcome: o, Duration: NoDuration, Message: clean(msg, MaxMessageBytes)})
	p.lastDepth = depth
	p.comments = o == Failed
	p.msg.reset()
	if depth < len(p.names) {
		p.names = p.names[:depth]
	}
}

// splitDirective cuts "name # SKIP reason" at its unescaped " #".
func splitDirective(s string) (desc, directive string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '#':
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		}
	}
	return s, ""
}

// yamlLine reads one line of a YAML diagnostic block: the duration, and
// the error message, single-line or a "|-" block.
func (p *tapParser) yamlLine(ind int, body []byte) {
	if p.yamlKey {
		if ind > p.yamlIndent || len(body) == 0 {
			p.msg.add(string(body))
			return
		}
		p.yamlKey = false
	}
	key, val, ok := strings.Cut(string(body), ": ")
	if !ok || ind != p.yamlIndent {
		return
	}
	switch key {
	case "duration_ms":
		if p.last >= 0 {
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				p.b.run.Records[p.last].Duration = secondsOf(f / 1000)
			}
		}
	case "error", "message":
		if p.msg.lines > 0 {
			return
		}
		if strings.HasPrefix(val, "|") || strings.HasPrefix(val, ">") {
			p.yamlKey = true
			return
		}
		p.msg.add(strings.Trim(val, `'"`))
	}
}

func (p *tapParser) endYAML() {
	if p.last >= 0 && p.b != nil {
		rec := &p.b.run.Records[p.last]
		if rec.Outcome == Failed || rec.Outcome == Error {
			p.b.setMessage(p.last, p.msg.String())
		}
	}
	p.yaml, p.yamlKey = false, false
	p.msg.reset()
}

func (p *tapParser) flushComments() {
	if p.comments && p.last >= 0 && p.b != nil {
		p.b.setMessage(p.last, p.msg.String())
	}
	p.comments = false
	p.msg.reset()
}

// nodeCount reads node's closing comments; "# duration_ms" is the last.
func (p *tapParser) nodeCount(key, val string) bool {
	p.sawNode = true
	if nodeSummary(&p.node, key, val) {
		p.confirmed = true
		p.close()
	}
	return true
}

func (p *tapParser) close() {
	if p.yaml {
		p.endYAML()
	}
	p.flushComments()
	if p.b != nil && p.confirmed {
		if p.sawNode {
			c := p.node
			p.b.finish(&c)
		} else {
			p.b.finish(nil)
		}
	}
	p.b, p.last, p.sawNode = nil, -1, false
}

func (p *tapParser) end() { p.close() }
