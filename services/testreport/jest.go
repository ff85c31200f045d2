package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// jestParser reads Jest's output: the "PASS file"/"FAIL file" lines, the
// "● suite › test" header of each failure with its message under it
// (repeated in the "Summary of all failing tests" section, which makes
// no second record), --verbose's "✓ name (3 ms)" tree, and the closing
// "Tests: 1 failed, 1 skipped, 1 todo, 3 passed, 6 total", whose counts
// it takes and which ends the run. A todo is Skipped. A file that failed
// to run ("● Test suite failed to run") is an Error named after the file.
type jestParser struct {
	c     *collector
	b     *runBuilder
	file  string
	names []string // describe() blocks of the --verbose tree
	// msgFor is the record whose message follows its "●" header.
	msgFor int
	inMsg  bool
	msg    message
}

func newJest(c *collector) *jestParser { return &jestParser{c: c, msgFor: -1} }

var (
	jestTestsRE = regexp.MustCompile(`^Tests:\s+(.*?),? ?(\d{1,9}) total$`)
	jestPartRE  = regexp.MustCompile(`^(\d{1,9}) (failed|passed|skipped|todo)$`)
	jestTreeRE  = regexp.MustCompile(`^(✓|✕|○ skipped|✎ todo|○) (.+?)(?: \((\d+(?:\.\d+)?) (ms|s)\))?$`)
	// A code frame ("  3 | test(...)") or a stack frame ends a message.
	jestFrameRE = regexp.MustCompile(`^(?:>?\s*\d+ \||\|\s|at )`)
)

func (p *jestParser) run() *runBuilder {
	if p.b == nil {
		p.b = p.c.start(FormatJest, "")
		p.file, p.names = "", nil
	}
	return p.b
}

func (p *jestParser) line(l []byte) bool {
	ind := indent(l)
	body := l[ind:]
	switch {
	case ind == 0 && (bytes.HasPrefix(l, []byte("PASS ")) || bytes.HasPrefix(l, []byte("FAIL "))):
		p.flushMessage()
		p.run()
		p.file, _, _ = strings.Cut(string(l[5:]), " (")
		p.names = p.names[:0]
		return false
	case ind == 0 && bytes.HasPrefix(l, []byte("Tests:")):
		if m := jestTestsRE.FindSubmatch(l); m != nil {
			if c, ok := jestCounts(string(m[1]), ", "); ok {
				p.flushMessage()
				b := p.run()
				c.Errors = b.tally.Errors // files that failed to run: no test counts them
				b.finish(&c)
				p.b = nil
				return true
			}
		}
	case ind == 2 && bytes.HasPrefix(body, []byte("● ")):
		p.flushMessage()
		p.header(string(body[len("● "):]))
		return false
	}
	if p.inMsg {
		if jestFrameRE.Match(body) {
			p.inMsg = false
		} else {
			p.msg.add(string(body))
		}
		return false
	}
	if p.b != nil && p.file != "" && ind >= 2 && ind%2 == 0 && len(body) > 0 {
		p.tree(ind, body)
	}
	return false
}

// tree reads --verbose's per-test lines and the describe() names above
// them.
func (p *jestParser) tree(ind int, body []byte) {
	depth := ind/2 - 1
	if depth >= maxNesting {
		return
	}
	m := jestTreeRE.FindSubmatch(body)
	if m == nil {
		if depth < len(p.names) {
			p.names = p.names[:depth]
		}
		for len(p.names) < depth {
			p.names = append(p.names, "")
		}
		p.names = append(p.names, clean(string(body), MaxIDBytes))
		return
	}
	o := Passed
	switch string(m[1]) {
	case "✕":
		o = Failed
	case "○ skipped", "✎ todo", "○":
		o = Skipped
	}
	path := append(append([]string{}, p.names[:min(depth, len(p.names))]...), string(m[2]))
	d := NoDuration
	if len(m[3]) > 0 {
		if f, err := strconv.ParseFloat(string(m[3]), 64); err == nil {
			if string(m[4]) == "ms" {
				f /= 1000
			}
			d = secondsOf(f)
		}
	}
	p.b.add(Record{ID: strings.Join(path, " › "), Suite: p.file, Outcome: o, Duration: d})
}

// header starts a failure's "● suite › test" section.
func (p *jestParser) header(name string) {
	b := p.run()
	o, id := Failed, name
	if name == "Test suite failed to run" {
		o, id = Error, p.file
	}
	if strings.HasPrefix(name, "Console") {
		return
	}
	p.msgFor = b.add(Record{ID: id, Suite: p.file, Outcome: o, Duration: NoDuration})
	p.inMsg = true
	p.msg.reset()
}

func (p *jestParser) flushMessage() {
	if p.msgFor >= 0 && p.b != nil {
		p.b.setMessage(p.msgFor, p.msg.String())
	}
	p.msgFor, p.inMsg = -1, false
	p.msg.reset()
}

// jestCounts reads "1 failed, 1 skipped, 3 passed" (sep ", ") or vitest's
// "3 failed | 3 passed | 1 skipped" (sep " | ").
func jestCounts(s, sep string) (Counts, bool) {
	var c Counts
	for part := range strings.SplitSeq(strings.TrimSpace(s), sep) {
		if part == "" {
			continue
		}
		m := jestPartRE.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			continue // "1 expected fail", a newer kind
		}
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "failed":
			c.Failed.N += n
		case "passed":
			c.Passed.N += n
		case "skipped", "todo":
			c.Skipped.N += n
		}
	}
	return c, true
}

func (p *jestParser) end() {
	p.flushMessage()
	if p.b != nil && !p.b.empty() {
		p.b.finish(nil)
	}
	p.b = nil
}

// vitestParser reads Vitest's default reporter: the " FAIL  file > suite
// > test" header of each failure with its message under it, and the
// closing "Tests  3 failed | 3 passed | 1 skipped (7)" line, whose counts
// it takes and which ends the run. Vitest lists passing tests without
// their suites, so only failures become records. A file that failed to
// load (" FAIL  file [ file ]") is an Error named after the file.
type vitestParser struct {
	c      *collector
	b      *runBuilder
	msgFor int
	inMsg  bool
	msg    message
}

func newVitest(c *collector) *vitestParser { return &vitestParser{c: c, msgFor: -1} }

var vitestTestsRE = regexp.MustCompile(`^Tests\s+(.*?)\s*\((\d{1,9})\)$`)

func (p *vitestParser) line(l []byte) bool {
	body := bytes.TrimSpace(l)
	switch {
	case bytes.HasPrefix(body, []byte("FAIL ")) && len(l) > 0 && l[0] == ' ':
		p.flushMessage()
		p.header(string(bytes.TrimSpace(body[len("FAIL "):])))
		return false
	case bytes.HasPrefix(body, []byte("Tests ")):
		if m := vitestTestsRE.FindSubmatch(body); m != nil {
			if c, ok := jestCounts(string(m[1]), " | "); ok {
				p.flushMessage()
				if p.b == nil {
					p.b = p.c.start(FormatVitest, "")
				}
				c.Errors = p.b.tally.Errors // files that failed to load
				p.b.finish(&c)
				p.b = nil
				return true
			}
		}
	}
	if p.inMsg {
		if bytes.HasPrefix(body, []byte("❯ ")) || bytes.HasPrefix(body, []byte("⎯")) {
			p.flushMessage()
		} else {
			p.msg.add(string(body))
		}
	}
	return false
}

func (p *vitestParser) header(h string) {
	if p.b == nil {
		p.b = p.c.start(FormatVitest, "")
	}
	file, rest, _ := strings.Cut(h, " > ")
	o, id := Failed, rest
	if rest == "" {
		o, id = Error, file
		file, _, _ = strings.Cut(file, " [")
		id = file
	}
	p.msgFor = p.b.add(Record{ID: id, Suite: file, Outcome: o, Duration: NoDuration})
	p.inMsg = true
	p.msg.reset()
}

func (p *vitestParser) flushMessage() {
	if p.msgFor >= 0 && p.b != nil {
		p.b.setMessage(p.msgFor, p.msg.String())
	}
	p.msgFor, p.inMsg = -1, false
	p.msg.reset()
}

func (p *vitestParser) end() {
	p.flushMessage()
	if p.b != nil && !p.b.empty() {
		p.b.finish(nil)
	}
	p.b = nil
}
