package testreport

import (
	"bytes"
	"encoding/json"
	"strings"
)

// goJSONParser reads test2json events, what go test -json prints and
// what a test2json report file holds. A run is one package, closed by
// the package's own pass/fail/skip event. Records come from the tests'
// pass/fail/skip events, messages from their output events; a test
// whose output shows a panic is an Error, and so is a package that
// failed to build (its FailedBuild, with the build-output events of Go
// 1.24 and later) or failed with no failing test.
type goJSONParser struct {
	c    *collector
	file bool // a report file: every line should be an event
	pkgs map[string]*goJSONPackage
	// order is the packages in the order they started, so that the runs
	// of an output cut short come out in a stable order.
	order []string
	// build holds build-output by import path.
	build map[string]*message
}

type goJSONPackage struct {
	b    *runBuilder
	open map[string]*goJSONTest
}

type goJSONTest struct {
	msg      message
	panicked bool
}

// goEvent is test2json's event (cmd/test2json's TestEvent).
type goEvent struct {
	Action      string
	Package     string
	Test        string
	Elapsed     *float64
	Output      string
	ImportPath  string
	FailedBuild string
}

func newGoJSON(c *collector, file bool) *goJSONParser {
	return &goJSONParser{c: c, file: file}
}

func (p *goJSONParser) line(l []byte) bool {
	l = bytes.TrimSpace(l)
	if len(l) < 2 || l[0] != '{' || !bytes.Contains(l, []byte(`"Action"`)) {
		return false
	}
	var e goEvent
	if err := json.Unmarshal(l, &e); err != nil || e.Action == "" {
		return false
	}
	switch e.Action {
	case "build-output":
		p.buildOutput(e)
		return false
	case "start", "bench", "pause", "cont", "build-fail":
		return false
	}
	if e.Package == "" {
		return false
	}
	pk := p.pkg(e.Package)
	if pk == nil {
		return false
	}
	switch e.Action {
	case "run":
		if e.Test != "" && len(pk.open) < maxOpen {
			if pk.open == nil {
				pk.open = make(map[string]*goJSONTest)
			}
			pk.open[e.Test] = &goJSONTest{}
		}
	case "output":
		p.output(pk, e)
	case "pass", "fail", "skip":
		if e.Test == "" {
			p.closePkg(e)
			return true
		}
		p.result(pk, e)
	}
	return false
}

func (p *goJSONParser) pkg(name string) *goJSONPackage {
	if pk := p.pkgs[name]; pk != nil {
		return pk
	}
	if len(p.pkgs) >= maxOpen {
		return nil
	}
	if p.pkgs == nil {
		p.pkgs = make(map[string]*goJSONPackage)
	}
	f := FormatGoJSON
	if p.file {
		f = FormatTest2JSON
	}
	pk := &goJSONPackage{b: p.c.start(f, name)}
	p.pkgs[name] = pk
	p.order = append(p.order, name)
	return pk
}

func (p *goJSONParser) buildOutput(e goEvent) {
	path, _, _ := strings.Cut(e.ImportPath, " ")
	if path == "" {
		return
	}
	m := p.build[path]
	if m == nil {
		if len(p.build) >= maxOpen {
			return
		}
		if p.build == nil {
			p.build = make(map[string]*message)
		}
		m = &message{}
		p.build[path] = m
	}
	if !strings.HasPrefix(e.Output, "# ") {
		m.add(strings.TrimRight(e.Output, "\n"))
	}
}

// output gathers a test's output, less the framing lines test2json
// passes on, and notices a panic.
func (p *goJSONParser) output(pk *goJSONPackage, e goEvent) {
	t := pk.open[e.Test]
	if t == nil {
		return
	}
	out := strings.TrimRight(e.Output, "\n")
	trimmed := strings.TrimSpace(out)
	switch {
	case strings.HasPrefix(trimmed, "=== "), strings.HasPrefix(trimmed, "--- "):
	case strings.HasPrefix(out, "panic: "):
		t.panicked = true
		t.msg.reset()
		t.msg.add(out)
		t.msg.full = true // the goroutine dump that follows is not the message
	default:
		t.msg.add(trimmed)
	}
}

func (p *goJSONParser) result(pk *goJSONPackage, e goEvent) {
	o := map[string]Outcome{"pass": Passed, "fail": Failed, "skip": Skipped}[e.Action]
	d := NoDuration
	if e.Elapsed != nil {
		d = secondsOf(*e.Elapsed)
	}
	msg := ""
	if t := pk.open[e.Test]; t != nil {
		if t.panicked {
			o = Error
		}
		if o != Passed {
			msg = t.msg.String()
		}
		delete(pk.open, e.Test)
	}
	parent := ""
	if i := strings.LastIndexByte(e.Test, '/'); i > 0 {
		parent = e.Test[:i]
	}
	pk.b.add(Record{ID: e.Test, Suite: e.Package, Parent: parent, Outcome: o, Duration: d, Message: msg})
}

// closePkg ends a package's run at its own pass/fail/skip event.
func (p *goJSONParser) closePkg(e goEvent) {
	pk := p.pkgs[e.Package]
	delete(p.pkgs, e.Package)
	if len(p.order) > 2*len(p.pkgs)+16 {
		kept := p.order[:0]
		for _, name := range p.order {
			if p.pkgs[name] != nil {
				kept = append(kept, name)
			}
		}
		p.order = kept
	}
	b := pk.b
	if e.Action == "skip" && b.empty() {
		return // no test files
	}
	if e.Action == "fail" && b.tally.Failed.N == 0 && b.tally.Errors.N == 0 {
		msg := "the package failed with no failing test"
		if e.FailedBuild != "" {
			path, _, _ := strings.Cut(e.FailedBuild, " ")
			if m := p.build[path]; m != nil {
				msg = m.String()
				delete(p.build, path)
			} else {
				msg = "build failed"
			}
		}
		b.add(Record{ID: e.Package, Suite: e.Package, Outcome: Error, Duration: NoDuration, Message: msg})
	}
	// A test still open when its package ended: cut off by a panic
	// elsewhere or a timeout.
	for name, t := range pk.open {
		if t.panicked {
			b.add(Record{ID: name, Suite: e.Package, Outcome: Error, Duration: NoDuration, Message: t.msg.String()})
		}
	}
	b.finish(nil)
}

// end closes the packages whose closing event never came.
func (p *goJSONParser) end() {
	for _, name := range p.order {
		if pk := p.pkgs[name]; pk != nil && !pk.b.empty() {
			pk.b.finish(nil)
		}
		delete(p.pkgs, name)
	}
	p.order = nil
}
