package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/eventide-ci/eventide/net/wire"
)

// clean makes untrusted text (commit messages, runner names, log output) safe to
// put on the screen: escape sequences and control characters could otherwise move
// the cursor, restyle the terminal or break the layout.
func clean(s string) string {
	if isPlain(s) {
		return s
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.Strip(s)
	}
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		// A carriage return redraws the line (progress bars): keep what a
		// terminal would finally show, the text after the last one.
		if rest := s[i+1:]; rest != "" {
			s = rest
		} else {
			s = s[:i]
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	col := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n := 8 - col%8
			b.WriteString("        "[:n])
			col += n
			continue
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			continue
		case r == utf8.RuneError:
			r = '?'
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the common case, which needs no copy.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// firstLine is the subject of a commit message.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return clean(strings.TrimSpace(s))
}

// width is the cells s takes. Segmenting graphemes is the costliest part of a
// frame, so text made only of runes known to take one cell each (ASCII, Latin,
// the console's own punctuation, box drawing and the sparkline's blocks) is
// counted rune by rune.
func width(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !narrow(r) {
			return ansi.StringWidth(s)
		}
		n++
		i += size
	}
	return n
}

func narrow(r rune) bool {
	switch {
	case r >= 0xa0 && r < 0x300, // Latin-1 and Latin Extended, before combining marks
		r >= 0x2010 && r <= 0x2027, // dashes, quotes, bullet, ellipsis
		r >= 0x2190 && r <= 0x2193, // arrows
		r >= 0x2500 && r <= 0x259f: // box drawing, block elements
		return true
	}
	return false
}

// truncate cuts s to w cells, marking the cut with an ellipsis.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if isPlain(s) {
		if len(s) <= w {
			return s
		}
		return s[:w-1] + "…"
	}
	return ansi.Truncate(s, w, "…")
}

// fit pads or cuts s to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if isPlain(s) {
		if len(s) > w {
			return s[:w-1] + "…"
		}
		return s + spaces(w-len(s))
	}
	s = cut(s, w)
	return s + spaces(w-width(s))
}

// fitRight is fit with the text against the right edge, for numbers.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := width(s)
	if sw > w {
		return truncate(s, w)
	}
	return spaces(w-sw) + s
}

// cut shortens s to at most w cells.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	return truncate(s, w)
}

const blanks = "                                                                                                                                "

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blanks) {
		return blanks[:n]
	}
	return strings.Repeat(" ", n)
}

// age is a compact duration for narrow columns: 42s, 5m, 3h, 12d.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// span is a duration precise enough to compare runs: 4.2s, 1m05s, 2h03m, 3d04h.
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	two := func(b []byte, n int) []byte {
		if n < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(n), 10)
	}
	b := make([]byte, 0, 8)
	switch {
	case d < 10*time.Second:
		b = strconv.AppendFloat(b, d.Seconds(), 'f', 1, 64)
		b = append(b, 's')
	case d < time.Minute:
		b = strconv.AppendInt(b, int64(d/time.Second), 10)
		b = append(b, 's')
	case d < time.Hour:
		b = strconv.AppendInt(b, int64(d/time.Minute), 10)
		b = append(b, 'm')
		b = two(b, int(d%time.Minute/time.Second))
		b = append(b, 's')
	case d < 48*time.Hour:
		b = strconv.AppendInt(b, int64(d/time.Hour), 10)
		b = append(b, 'h')
		b = two(b, int(d%time.Hour/time.Minute))
		b = append(b, 'm')
	default:
		b = strconv.AppendInt(b, int64(d/(24*time.Hour)), 10)
		b = append(b, 'd')
		b = two(b, int(d%(24*time.Hour)/time.Hour))
		b = append(b, 'h')
	}
	return string(b)
}

// bytesText is a size for people.
func bytesText(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws counts so that any activity stands above an idle interval.
func sparkline(counts []int) string {
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	var b strings.Builder
	for _, c := range counts {
		i := 0
		if c > 0 {
			i = (c*(len(sparkRunes)-1) + top - 1) / top
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// flakyMark follows the state of a job whose tests flipped between attempts
// of its commit: "passed · flaky" is a pass (filters and exit codes say so),
// marked so that it is never taken for a clean one.
const flakyMark = " · flaky"

// flaky reports whether a finished job gets the flaky mark: it passed after a
// failure of its commit, or some of its tests flipped.
func flaky(j *wire.JobInfo) bool {
	return j.State.Final() && (j.Flaky || len(j.FlakyTests) > 0)
}

// stateText is a job's state as the console writes it, with the flaky mark.
func stateText(j *wire.JobInfo) string {
	if flaky(j) {
		return string(j.State) + flakyMark
	}
	return string(j.State)
}

// testDuration is how long a test took: milliseconds below a second, since
// most tests take less, and the precision of span above.
func testDuration(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(max(ms, 0), 10) + "ms"
	}
	return span(time.Duration(ms) * time.Millisecond)
}
