package testreport

import (
	"bytes"
	"regexp"
	"strconv"
)

// plainParser reads the closing line any suite can print, "N passed, N
// failed" alone on a line, ", N skipped" possibly after it and one word
// with a colon possibly before it. It sees only lines no other parser
// claimed. Each such line is a run of its own, with counts and no records.
type plainParser struct{ c *collector }

func newPlain(c *collector) *plainParser { return &plainParser{c: c} }

var plainRE = regexp.MustCompile(`^(?:[\p{L}\p{N}_-]+: ?)?(\d{1,9}) passed, (\d{1,9}) failed(?:, (\d{1,9}) skipped)?\.?$`)

func (p *plainParser) line(l []byte) bool {
	if !bytes.Contains(l, []byte(" passed, ")) {
		return false // cheap filter before the regexp
	}
	m := plainRE.FindSubmatch(bytes.TrimSpace(l))
	if m == nil {
		return false
	}
	var c Counts
	c.Passed.N, _ = strconv.Atoi(string(m[1]))
	c.Failed.N, _ = strconv.Atoi(string(m[2]))
	if len(m[3]) > 0 {
		c.Skipped.N, _ = strconv.Atoi(string(m[3]))
	}
	p.c.start(FormatPlain, "").finish(&c)
	return true
}

func (p *plainParser) end() {}
