package testreport

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// JUnitLimits bound what reading one JUnit file may cost. The file is
// the test suite's to write, so none of it is trusted to be small.
type JUnitLimits struct {
	// MaxBytes bounds the file's size.
	MaxBytes int64
	// MaxDepth bounds element nesting; real reports nest testsuites >
	// testsuite (> testsuite, node) > testcase > failure.
	MaxDepth int
	// MaxTokens bounds the XML tokens read, about 10 per test.
	MaxTokens int
}

// DefaultJUnitLimits are ParseJUnit's: a 50,000-test report with short
// messages is about 10 MB and 500,000 tokens.
var DefaultJUnitLimits = JUnitLimits{MaxBytes: 64 << 20, MaxDepth: 32, MaxTokens: 4 << 20}

// Errors for a JUnit file past a limit or not one.
var (
	ErrJUnitTooBig   = errors.New("junit report too big")
	ErrJUnitTooDeep  = errors.New("junit report nested too deep")
	ErrJUnitDoctype  = errors.New("junit report has a DOCTYPE, which no test tool writes")
	ErrJUnitNotJUnit = errors.New("not a junit report: the root element is neither testsuites nor testsuite")
)

// ParseJUnit reads a JUnit XML report: what pytest --junitxml, Maven
// Surefire, Gradle, jest-junit, go-junit-report and node's junit reporter
// write. Each <testcase> is a record: a <failure> child makes it Failed,
// <error> Error, <skipped> Skipped, none Passed; its Suite is its
// classname, else the innermost <testsuite>'s name. The whole file is one
// run with counts from its records (not the attributes, which tools fill
// in differently).
//
// encoding/xml is used with Strict set: it expands no entity beyond the
// five predefined ones and character references, and fails on any other,
// so neither an external entity nor an entity bomb can cost anything. A
// DOCTYPE is refused outright all the same. The file is read within
// DefaultJUnitLimits; past a limit the error says which and no report is
// returned.
func ParseJUnit(r io.Reader) (*Report, error) {
	return ParseJUnitLimits(r, DefaultJUnitLimits)
}

// ParseJUnitLimits is ParseJUnit with other limits.
func ParseJUnitLimits(r io.Reader, lim JUnitLimits) (*Report, error) {
	lr := &io.LimitedReader{R: r, N: lim.MaxBytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	d.CharsetReader = charsetReader
	c := &collector{}
	b := c.start(FormatJUnit, "")
	var (
		depth, tokens int
		suites        []string
		inCase        bool
		cur           Record
		inMsg         bool            // inside <failure>, <error> or <skipped>
		msgAttr       string          // its message attribute
		text          strings.Builder // the message element's text, bounded
		root          = true
	)
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: over %d bytes", ErrJUnitTooBig, lim.MaxBytes)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading junit report: %w", err)
		}
		if tokens++; tokens > lim.MaxTokens {
			return nil, fmt.Errorf("%w: over %d XML tokens", ErrJUnitTooBig, lim.MaxTokens)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if strings.HasPrefix(strings.TrimSpace(string(t)), "DOCTYPE") {
				return nil, ErrJUnitDoctype
			}
		case xml.StartElement:
			if depth++; depth > lim.MaxDepth {
				return nil, fmt.Errorf("%w: over %d elements", ErrJUnitTooDeep, lim.MaxDepth)
			}
			name := t.Name.Local
			if root {
				root = false
				if name != "testsuites" && name != "testsuite" {
					return nil, fmt.Errorf("%w: <%s>", ErrJUnitNotJUnit, clean(name, 64))
				}
			}
			switch {
			case name == "testsuite":
				suites = append(suites, attr(t, "name"))
			case name == "testcase" && !inCase:
				inCase = true
				cur = Record{ID: attr(t, "name"), Suite: attr(t, "classname"), Outcome: Passed, Duration: seconds(attr(t, "time"))}
				if (cur.Suite == "" || cur.Suite == cur.ID) && len(suites) > 0 {
					// jest-junit's default classname is the test's title.
					cur.Suite = suites[len(suites)-1]
				}
			case inCase && (name == "failure" || name == "error" || name == "skipped"):
				o := map[string]Outcome{"failure": Failed, "error": Error, "skipped": Skipped}[name]
				if o.severity() > cur.Outcome.severity() || cur.Outcome == Passed {
					cur.Outcome = o
					inMsg = true
					text.Reset()
					msgAttr = attr(t, "message")
				}
			}
		case xml.CharData:
			if inMsg && text.Len() < MaxMessageBytes {
				text.Write(t[:min(len(t), MaxMessageBytes-text.Len())])
			}
		case xml.EndElement:
			depth--
			name := t.Name.Local
			switch {
			case name == "testsuite" && len(suites) > 0:
				suites = suites[:len(suites)-1]
			case name == "testcase" && inCase:
				inCase = false
				if cur.ID == "" {
					cur.ID = "(unnamed)"
				}
				b.add(cur)
			case inMsg && (name == "failure" || name == "error" || name == "skipped"):
				inMsg = false
				cur.Message = junitMessage(msgAttr, text.String())
			}
		}
	}
	if root {
		return nil, fmt.Errorf("%w: no element at all", ErrJUnitNotJUnit)
	}
	b.finish(nil)
	return c.report(), nil
}

// junitMessage picks a failure's message: its message attribute (pytest,
// Surefire and node put the assertion there), or its text when the
// attribute is missing or one generic word ("Failed" from
// go-junit-report).
func junitMessage(attr, text string) string {
	src := attr
	if strings.TrimSpace(text) != "" && (attr == "" || genericMessages[strings.ToLower(strings.TrimSpace(attr))]) {
		src = text
	}
	var m message
	for l := range strings.SplitSeq(strings.ToValidUTF8(src, "\uFFFD"), "\n") {
		m.add(l)
	}
	return m.String()
}

// genericMessages are message attributes that say nothing the element's
// name does not.
var genericMessages = map[string]bool{
	"failed": true, "failure": true, "error": true, "skipped": true,
	"build error": true, "runtime error": true, "test failed": true,
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// charsetReader accepts the encodings JUnit writers declare: UTF-8 (which
// needs no reader), US-ASCII, and ISO-8859-1, which Ant's and some old
// Surefire reports declare.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii", "utf8":
		return input, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		return &latin1Reader{r: input}, nil
	}
	return nil, fmt.Errorf("junit report in encoding %q: only UTF-8 and ISO-8859-1 are read", clean(label, 32))
}

// latin1Reader decodes ISO-8859-1 to UTF-8: each byte is its code point.
type latin1Reader struct {
	r   io.Reader
	buf [512]byte
	out []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.out) == 0 {
		n, err := l.r.Read(l.buf[:])
		if n == 0 {
			return 0, err
		}
		l.out = l.out[:0]
		for _, c := range l.buf[:n] {
			l.out = utf8.AppendRune(l.out, rune(c))
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}
