package testreport

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// proveParser reads the summary of prove (TAP::Harness) without -v, where
// no TAP is shown: "Files=2, Tests=5, ..." gives the total, each file's
// "t/x.t (Wstat: 256 ... Tests: 4 Failed: 1)" line its failures, listed
// by number under it ("Failed tests:  2-3, 5"), and "Result: PASS|FAIL"
// ends the run. A failing test is a record "t/x.t #2"; a file that failed
// with no failing test (a die, a bad plan) is an Error named after it.
// prove counts a skipped test as passed, so Skipped is NotReported. With
// -v the TAP runs are counted instead and the summary is not.
type proveParser struct {
	c     *collector
	from  int // c.runs seen before this summary began
	in    bool
	file  string
	total int
	recs  []Record
	fails int
}

func newProve(c *collector) *proveParser { return &proveParser{c: c} }

var (
	proveFileRE  = regexp.MustCompile(`^(\S.*?) \(Wstat: .*Tests: (\d{1,9}) Failed: (\d{1,9})\)$`)
	proveFailRE  = regexp.MustCompile(`^\s+(?:Failed tests?|TODO passed):\s+([\d, -]+)$`)
	proveFilesRE = regexp.MustCompile(`^Files=(\d{1,9}), Tests=(\d{1,9}),`)
)

func (p *proveParser) line(l []byte) bool {
	switch {
	case bytes.Equal(l, []byte("Test Summary Report")), bytes.Equal(l, []byte("All tests successful.")):
		p.in = true
	case bytes.HasPrefix(l, []byte("Files=")):
		if m := proveFilesRE.FindSubmatch(l); m != nil {
			p.in = true
			p.total, _ = strconv.Atoi(string(m[2]))
		}
	case bytes.HasPrefix(l, []byte("Result: ")):
		if p.in {
			p.result()
			return true
		}
	case !p.in:
	case len(l) > 0 && l[0] != ' ':
		if m := proveFileRE.FindSubmatch(l); m != nil {
			p.flushFile()
			p.file = string(m[1])
			p.fails, _ = strconv.Atoi(string(m[3]))
			if n, _ := strconv.Atoi(string(m[2])); n == 0 || p.fails == 0 {
				// No test failed, yet the file did: it died or its plan
				// was wrong.
				p.recs = append(p.recs, Record{ID: p.file, Suite: p.file, Outcome: Error, Duration: NoDuration})
				p.fails = -1
			}
		}
	case p.file != "":
		if m := proveFailRE.FindSubmatch(l); m != nil && bytes.Contains(l, []byte("Failed test")) {
			for part := range strings.SplitSeq(string(m[1]), ",") {
				lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
				a, _ := strconv.Atoi(lo)
				b := a
				if isRange {
					b, _ = strconv.Atoi(hi)
				}
				for i := a; i <= b && i-a < maxOpen; i++ {
					p.recs = append(p.recs, Record{ID: p.file + " #" + strconv.Itoa(i), Suite: p.file, Outcome: Failed, Duration: NoDuration})
				}
			}
		} else if p.fails == -1 && len(p.recs) > 0 {
			// "Non-zero exit status: 2", "Parse errors: No plan found".
			r := &p.recs[len(p.recs)-1]
			if strings.Count(r.Message, "\n") < MaxMessageLines-1 {
				r.Message = truncate(strings.TrimSpace(r.Message+"\n"+clean(string(l), MaxMessageBytes)), MaxMessageBytes)
			}
		}
	}
	return false
}

func (p *proveParser) flushFile() { p.file, p.fails = "", 0 }

// result closes the summary, unless TAP runs (prove -v) were counted
// since the previous one.
func (p *proveParser) result() {
	for _, r := range p.c.runs[p.from:] {
		if r.Format == FormatTAP {
			p.reset()
			return
		}
	}
	b := p.c.start(FormatProve, "")
	for _, r := range p.recs {
		b.add(r)
	}
	c := b.tally
	c.Passed = Count{N: max(0, p.total-c.Failed.N)}
	c.Skipped = NotReported
	b.finish(&c)
	p.reset()
}

func (p *proveParser) reset() {
	p.in, p.total, p.recs = false, 0, nil
	p.flushFile()
	p.from = len(p.c.runs)
}

func (p *proveParser) end() {}
