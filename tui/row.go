package tui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// row builds one screen line of at most width cells out of styled pieces.
type row struct {
	b     strings.Builder
	used  int
	width int
}

func newRow(width int) *row {
	r := &row{width: width}
	r.b.Grow(width * 2)
	return r
}

// add appends s, cut to what is left of the line, in style st.
func (r *row) add(st paint, s string) *row {
	left := r.width - r.used
	if left <= 0 || s == "" {
		return r
	}
	w := width(s)
	if w > left {
		s = truncate(s, left)
		w = width(s)
	}
	r.used += w
	s = st.Render(s)
	r.b.WriteString(s)
	return r
}

func (r *row) room() int { return r.width - r.used }

func (r *row) String() string { return r.b.String() }

// fill pads the line to its width with c, one cell wide, in style st.
func (r *row) fill(st paint, c string) *row {
	if n := r.room(); n > 0 {
		r.b.WriteString(st.Render(strings.Repeat(c, n)))
		r.used += n
	}
	return r
}

// paneTitle is the rule above a pane, with its title on the left and right on
// the right when there is room.
func (st *styles) paneTitle(width int, title, right string, focused bool) string {
	r := newRow(width)
	ts := st.pane
	if focused {
		ts = st.paneFocus
	}
	r.add(st.dim, "─")
	r.add(ts, " "+title+" ")
	rw := ansi.StringWidth(right)
	if right != "" && r.room() >= rw+5 {
		r.add(st.dim, strings.Repeat("─", r.room()-rw-3))
		r.add(plain, " "+right+" ")
	}
	r.fill(st.dim, "─")
	return r.String()
}

// fitRow pads or cuts a row of known width w to the screen's width.
func fitRow(s string, w, screen int) string {
	if w <= screen {
		return s + spaces(screen-w)
	}
	return fit(s, screen)
}

func countOf(shown, total int) string {
	if shown == total {
		return "(" + strconv.Itoa(total) + ")"
	}
	return "(" + strconv.Itoa(shown) + " of " + strconv.Itoa(total) + ")"
}

func position(cursor, n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(cursor+1) + "/" + strconv.Itoa(n)
}
