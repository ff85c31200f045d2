package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// Below this size the console asks for a larger terminal rather than draw a
// screen nobody can read; it is designed for 80x24 and up.
const (
	minWidth   = 40
	minHeight  = 12
	headerRows = 2
)

// View implements tea.Model. It only draws: everything it shows was worked out
// in Update, and it visits only the rows that fit on the screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "eventide"
	return v
}

// render stacks the header, the body and the footer. The body is the open job,
// or the runners above the jobs.
func (m *Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < minWidth || m.height < minHeight {
		return cut("eventide: terminal too small", m.width) + "\n" +
			cut(fmt.Sprintf("%dx%d, need %dx%d", m.width, m.height, minWidth, minHeight), m.width)
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.head.view(m.width, &m.c.st, &m.conn, m.c.now())...)
	foot := m.footer()
	body := m.height - len(lines) - len(foot)
	var parts []string
	switch f := m.focused(); {
	case m.focus == paneDetail || m.focus == paneTests || m.focus == paneFlaky:
		parts = f.view(true)
	default:
		parts = append(m.runners.view(m.focus == paneRunners), m.jobs.view(m.focus == paneJobs)...)
	}
	// Each pane draws at most the lines it was given; the body is filled out,
	// or cut when the footer grew since.
	for len(parts) < body {
		parts = append(parts, "")
	}
	lines = append(lines, parts[:max(0, body)]...)
	lines = append(lines, foot...)
	return strings.Join(lines, "\n")
}

func (m *Model) bodyHeight() int {
	return max(0, m.height-headerRows-len(m.footer()))
}

// listRows shares the list screen between the runners and jobs tables: the
// runners get up to a third, the jobs the rest, since there are more of them.
func (m *Model) listRows(body int) (runRows, jobRows int) {
	rows := max(0, body-4) // a title and a column header each
	nr := max(1, len(m.runners.shown))
	runRows = min(nr, max(1, rows/3))
	if rows < 2 {
		runRows = 0
	}
	return runRows, max(0, rows-runRows)
}

// layout fits the panes to the screen after a change.
func (m *Model) layout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	body := m.bodyHeight()
	runRows, jobRows := m.listRows(body)
	m.runners.setSize(m.width, runRows+2)
	m.jobs.setSize(m.width, jobRows+2)
	m.help.model.SetWidth(m.width - 1)
	if m.detail != nil {
		m.detail.setSize(m.width, body)
	}
	if m.tests != nil {
		m.tests.setSize(m.width, body)
	}
	if m.flaky != nil {
		m.flaky.setSize(m.width, body)
	}
}
