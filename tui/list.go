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
