package testreport

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// clean makes text from the output safe to show and store: valid UTF-8,
// no control or format characters (which could rewrite a terminal or
// reorder text with bidi overrides), trimmed, at most max bytes.
func clean(s string, max int) string {
	if isPlain(s) {
		return truncate(strings.TrimSpace(s), max)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return truncate(strings.TrimSpace(s), max)
}

// isPlain reports whether s is printable ASCII, the common case, which
// needs no cleaning.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// truncate cuts s to at most max bytes at a rune boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// message gathers the first lines of a failure message, bounded in lines
// and bytes whatever it is fed.
type message struct {
	b     strings.Builder
	lines int
	full  bool
}

// add appends one line; blank lines at the start are skipped.
func (m *message) add(l string) {
	if m.full {
		return
	}
	l = strings.TrimRight(clean(l, MaxMessageBytes), " \t")
	if m.lines == 0 && l == "" {
		return
	}
	if m.lines > 0 && isStackFrame(l) {
		// A JavaScript or Java stack: the message is above it.
		m.full = true
		return
	}
	if m.lines >= MaxMessageLines || m.b.Len()+len(l)+1 > MaxMessageBytes {
		m.full = true
		return
	}
	if m.lines > 0 {
		m.b.WriteByte('\n')
	}
	m.b.WriteString(l)
	m.lines++
}

func (m *message) String() string { return strings.TrimRight(m.b.String(), "\n ") }

func (m *message) reset() { *m = message{} }

// stripANSI removes terminal escape sequences (colours, mostly), which
// pytest, jest and vitest print when told to colour, in place.
func stripANSI(l []byte) []byte {
	if bytes.IndexByte(l, 0x1b) < 0 {
		return l
	}
	out := l[:0]
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != 0x1b {
			out = append(out, c)
			continue
		}
		if i+1 < len(l) && l[i+1] == '[' {
			// CSI: parameters and intermediates up to a final byte.
			j := i + 2
			for j < len(l) && (l[j] < 0x40 || l[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		if i+1 < len(l) && l[i+1] == ']' {
			// OSC (hyperlinks): up to BEL or ESC \.
			j := i + 2
			for j < len(l) && l[j] != 0x07 && l[j] != 0x1b {
				j++
			}
			if j < len(l) && l[j] == 0x1b {
				j++
			}
			i = j
			continue
		}
		i++ // a two-byte escape
	}
	return out
}

// indent returns the number of leading spaces of l.
func indent(l []byte) int {
	n := 0
	for n < len(l) && l[n] == ' ' {
		n++
	}
	return n
}

// seconds reads a duration in seconds ("0.01", "1,234.5" from Surefire),
// NoDuration if it is not a plausible one.
func seconds(s string) time.Duration {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return NoDuration
	}
	return secondsOf(f)
}

// secondsOf converts seconds to a Duration, NoDuration if implausible.
func secondsOf(f float64) time.Duration {
	if math.IsNaN(f) || f < 0 || f > 1e9 {
		return NoDuration
	}
	return time.Duration(f * float64(time.Second))
}

// isStackFrame matches a JavaScript or Java stack frame, "at fn
// (file.js:3:51)", "at /path/file.js:3:51", "at com.x.Y.z(Y.java:10)",
// but not Perl's "at t/basic.t line 3.".
func isStackFrame(l string) bool {
	l = strings.TrimLeft(l, " \t")
	if !strings.HasPrefix(l, "at ") {
		return false
	}
	return strings.HasSuffix(l, ")") || strings.Count(l, ":") >= 2
}
