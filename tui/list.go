package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// listState is a table's cursor, scroll position and text filter, shared by the
// jobs and runners panes. The selection is remembered by id as well as by row,
// so that a burst of new jobs does not slide a different job under the cursor
// just before the user presses x.
type listState struct {
	cursor int
	offset int
	sel    string
	filter string
}

// table is what the jobs and runners panes have in common: the entries that
// pass the filters, the cursor over them, and the room on screen.
type table[E keyed] struct {
	listState
	shown []E
	width int
	rows  int // table rows on screen
}

// keyed is an entry that a table can find again after the list changed.
type keyed interface{ key() string }

func (t *table[E]) selected() (e E, ok bool) {
	if t.cursor < len(t.shown) {
		return t.shown[t.cursor], true
	}
	return e, false
}

// setSize takes the title's line, the column header's, and rows for the rest.
func (t *table[E]) setSize(width, height int) {
	t.width, t.rows = width, max(0, height-2)
	t.scrollTo(len(t.shown), t.rows)
}

// show takes the entries that now pass the filters and finds the selected
// one again.
func (t *table[E]) show(shown []E) {
	t.shown = shown
	t.reselect(len(shown), func(i int) string { return shown[i].key() })
}

// moveKey moves the cursor for k and remembers what is under it; it reports
// whether k was a key that moves.
func (t *table[E]) moveKey(keys *keyMap, k tea.KeyPressMsg) bool {
	if !t.move(keys, len(t.shown), t.rows, k) {
		return false
	}
	if len(t.shown) > 0 {
		t.sel = t.shown[t.cursor].key()
	}
	return true
}

// reselect finds the selected item again after the list changed.
func (l *listState) reselect(n int, id func(int) string) {
	if l.sel != "" {
		if l.cursor < n && id(l.cursor) == l.sel {
			return
		}
		for i := 0; i < n; i++ {
			if id(i) == l.sel {
				l.cursor = i
				return
			}
		}
	}
	l.cursor = max(0, min(l.cursor, n-1))
	l.sel = ""
	if n > 0 {
		l.sel = id(l.cursor)
	}
}

// scrollTo keeps the cursor inside the visible rows.
func (l *listState) scrollTo(n, rows int) {
	if rows <= 0 {
		return
	}
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+rows {
		l.offset = l.cursor - rows + 1
	}
	l.offset = max(0, min(l.offset, n-rows))
}

// move handles the keys that move the cursor over n items, rows of them on
// screen; it reports whether k was one.
func (l *listState) move(keys *keyMap, n, rows int, k tea.KeyPressMsg) bool {
	c := l.cursor
	switch {
	case key.Matches(k, keys.Up):
		c--
	case key.Matches(k, keys.Down):
		c++
	case key.Matches(k, keys.Top):
		c = 0
	case key.Matches(k, keys.Bottom):
		c = n - 1
	case key.Matches(k, keys.PageUp):
		c -= max(1, rows)
	case key.Matches(k, keys.PageDown):
		c += max(1, rows)
	case key.Matches(k, keys.HalfUp):
		c -= max(1, rows/2)
	case key.Matches(k, keys.HalfDown):
		c += max(1, rows/2)
	default:
		return false
	}
	l.cursor = max(0, min(c, n-1))
	return true
}
