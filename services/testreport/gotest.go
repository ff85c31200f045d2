package testreport

import (
	"bytes"
	"regexp"
	"strings"
)

// goTestParser reads go test's text output, plain and -v. A run is one
// package, closed by its "ok", "FAIL" or "?" line; go test prints each
// package's output in one piece even when it tests several at once.
//
// Plain go test prints no line for a passing or skipped test, so those
// counts are NotReported unless -v's "=== RUN" lines were seen. Subtests
// ("TestX/case") are records under their parent; the counts are of
// top-level tests. A test that panicked is an Error; so is a package
// that failed to build, or failed with no failing test (a panic outside
// a test, TestMain), as a record named after the package.
type goTestParser struct {
	c       *collector
	b       *runBuilder
	verbose bool
	// cur is the test -v says is running; its output is buffered in open
	// until its "--- " line says how it ended.
	cur  string
	open map[string]*message
	// after is the record of the last "--- " line, whose message follows
	// it (plain go test) on lines indented deeper than afterIndent.
	after       int
	afterIndent int
	afterMsg    message
	lastFail    int // the record of the last "--- FAIL" line, -1 if another line came since
	panicMsg    message
	// build holds the compiler's output by package, from "# pkg" blocks.
	buildPkg string
	buildMsg message
	build    map[string]string
}

func newGoTest(c *collector) *goTestParser {
	return &goTestParser{c: c, after: -1, lastFail: -1}
}

var (
	goPackageRE = regexp.MustCompile(`^(ok|FAIL|\?)\s*\t(\S+)(?:[\t ]+(.*))?$`)
)

func (p *goTestParser) run() *runBuilder {
	if p.b == nil {
		p.b = p.c.start(FormatGoTest, "")
		p.verbose = false
	}
	return p.b
}

func (p *goTestParser) line(l []byte) bool {
	if len(l) == 0 {
		return false
	}
	lastFail := p.lastFail
	p.lastFail = -1
	if p.buildPkg != "" && (l[0] == '=' || l[0] == '-' || bytes.HasPrefix(l, []byte("PASS")) || bytes.HasPrefix(l, []byte("FAIL")) || bytes.HasPrefix(l, []byte("panic: "))) {
		p.flushBuild() // the compiler's output ends where go test's resumes
	}
	switch {
	case bytes.HasPrefix(l, []byte("=== ")):
		p.flushAfter()
		p.event(l)
		return false
	case bytes.Contains(l[:min(len(l), 64)], []byte("--- ")):
		if ind, verdict, name, secs, ok := goResultLine(l); ok {
			p.flushAfter()
			p.result(ind, verdict, name, secs)
			return false
		}
	case bytes.HasPrefix(l, []byte("panic: ")):
		p.flushAfter()
		p.panicked(string(l), lastFail)
		return false
	case bytes.HasPrefix(l, []byte("# ")) && isBuildHeader(l[2:]):
		p.flushAfter()
		p.flushBuild()
		p.buildPkg, _, _ = strings.Cut(string(l[2:]), " ")
		return false
	}
	if c := l[0]; c != 'o' && c != 'F' && c != '?' {
		// Not a package line: skip the regexp.
	} else if m := goPackageRE.FindSubmatch(l); m != nil {
		p.flushAfter()
		p.flushBuild()
		p.pkg(string(m[1]), string(m[2]), string(m[3]))
		return true
	}
	if p.buildPkg != "" {
		p.buildMsg.add(string(l))
		return false
	}
	if p.b == nil {
		return false
	}
	ind := indent(l)
	switch {
	case p.after >= 0 && ind > p.afterIndent:
		p.afterMsg.add(strings.TrimSpace(string(l)))
	case p.cur != "" && ind > 0:
		if m := p.open[p.cur]; m != nil {
			m.add(strings.TrimSpace(string(l)))
		}
	default:
		p.flushAfter()
	}
	return false
}

// isBuildHeader reports whether h, after "# ", names a package as the go
// command heads its compiler output: "pkg" or "pkg [pkg.test]". It keeps
// TAP's "# Subtest: x" and "# tests 3" out.
func isBuildHeader(h []byte) bool {
	pkg, rest, two := bytes.Cut(h, []byte(" "))
	if len(pkg) == 0 || bytes.ContainsAny(pkg, ":#") {
		return false
	}
	return !two || (len(rest) > 2 && rest[0] == '[' && rest[len(rest)-1] == ']' && !bytes.Contains(rest, []byte(" ")))
}

// goResultLine reads "    --- FAIL: name (0.01s)": its indent, verdict,
// name and seconds. (By hand: it is the hottest line of a go test log.)
func goResultLine(l []byte) (ind int, verdict, name, secs string, ok bool) {
	ind = indent(l)
	rest := l[ind:]
	if len(rest) < len("--- PASS: x (0s)") || !bytes.HasPrefix(rest, []byte("--- ")) || rest[8] != ':' || rest[9] != ' ' {
		return 0, "", "", "", false
	}
	switch v := string(rest[4:8]); v {
	case "PASS", "FAIL", "SKIP":
		verdict = v
	default:
		return 0, "", "", "", false
	}
	rest = rest[10:]
	open := bytes.LastIndex(rest, []byte(" ("))
	if open <= 0 || !bytes.HasSuffix(rest, []byte("s)")) {
		return 0, "", "", "", false
	}
	num := rest[open+2 : len(rest)-2]
	for _, c := range num {
		if (c < '0' || c > '9') && c != '.' {
			return 0, "", "", "", false
		}
	}
	if len(num) == 0 {
		return 0, "", "", "", false
	}
	return ind, verdict, string(rest[:open]), string(num), true
}

// event follows -v's "=== RUN/CONT/NAME/PAUSE name" lines.
func (p *goTestParser) event(l []byte) {
	kind, name, ok := strings.Cut(string(l[4:]), " ")
	if !ok {
		return
	}
	name = strings.TrimSpace(name)
	p.run()
	p.verbose = true
	switch kind {
	case "RUN":
		if p.open == nil {
			p.open = make(map[string]*message)
		}
		if len(p.open) < maxOpen {
			p.open[name] = &message{}
		}
		p.cur = name
	case "CONT", "NAME":
		p.cur = name
	}
}

// result records a "--- PASS/FAIL/SKIP: name (0.00s)" line.
func (p *goTestParser) result(ind int, verdict, name, secs string) {
	o := map[string]Outcome{"PASS": Passed, "FAIL": Failed, "SKIP": Skipped}[verdict]
	parent := ""
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		parent = name[:i]
	}
	msg := ""
	if m := p.open[name]; m != nil {
		msg = m.String()
		delete(p.open, name)
	}
	if o == Passed {
		msg = ""
	}
	i := p.run().add(Record{ID: name, Parent: parent, Outcome: o, Duration: seconds(secs), Message: msg})
	if o == Failed {
		p.lastFail = i
	}
	if msg == "" && o != Passed {
		p.after, p.afterIndent = i, ind
	}
}

func (p *goTestParser) flushAfter() {
	if p.after >= 0 && p.b != nil {
		p.b.setMessage(p.after, p.afterMsg.String())
	}
	p.after = -1
	p.afterMsg.reset()
}

// panicked makes the test that panicked an error: the one whose "---
// FAIL" line came just before, or the one -v says was running.
func (p *goTestParser) panicked(l string, lastFail int) {
	b := p.run()
	i := lastFail
	if i < 0 && p.cur != "" {
		i = b.add(Record{ID: p.cur, Outcome: Error, Duration: NoDuration})
	}
	if i < 0 {
		p.panicMsg.reset()
		p.panicMsg.add(l)
		return
	}
	b.add(Record{ID: b.run.Records[i].ID, Outcome: Error})
	b.run.Records[i].Message = clean(l, MaxMessageBytes)
}

func (p *goTestParser) flushBuild() {
	if p.buildPkg != "" {
		if p.build == nil {
			p.build = make(map[string]string)
		}
		if len(p.build) < maxOpen {
			p.build[p.buildPkg] = p.buildMsg.String()
		}
	}
	p.buildPkg = ""
	p.buildMsg.reset()
}

// pkg closes the package's run at its "ok", "FAIL" or "?" line.
func (p *goTestParser) pkg(status, pkg, rest string) {
	defer func() { p.b, p.cur, p.open = nil, "", nil; p.panicMsg.reset() }()
	if status == "?" {
		return // no test files
	}
	b := p.run()
	switch {
	case status == "FAIL" && (strings.Contains(rest, "[build failed]") || strings.Contains(rest, "[setup failed]")):
		msg := p.build[pkg]
		delete(p.build, pkg)
		if msg == "" {
			msg = clean(rest, MaxMessageBytes)
		}
		b.add(Record{ID: pkg, Suite: pkg, Outcome: Error, Duration: NoDuration, Message: msg})
		p.verbose = true // no test ran: every count is known
	case status == "FAIL" && b.tally.Failed.N == 0 && b.tally.Errors.N == 0:
		msg := p.panicMsg.String()
		if msg == "" {
			msg = "the package failed with no failing test"
		}
		b.add(Record{ID: pkg, Suite: pkg, Outcome: Error, Duration: NoDuration, Message: msg})
	}
	b.run.Suite = clean(pkg, MaxIDBytes)
	for i := range b.run.Records {
		if b.run.Records[i].Suite == "" {
			b.run.Records[i].Suite = b.run.Suite
		}
	}
	c := b.tally
	if !p.verbose {
		c.Passed.Incomplete, c.Skipped.Incomplete = true, true
	}
	b.finish(&c)
}

func (p *goTestParser) end() {
	p.flushAfter()
	if p.b != nil && !p.b.empty() {
		c := p.b.tally
		if !p.verbose {
			c.Passed.Incomplete, c.Skipped.Incomplete = true, true
		}
		p.b.finish(&c)
	}
	p.b = nil
}
