package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

type inputKind int

const (
	inputNone inputKind = iota
	inputFilter
	inputSearch
)

// statusBar is the footer's last line: a question waiting for y or n, text
// being typed, or a status left by the last key, in that order of precedence.
type statusBar struct {
	status    string
	statusErr bool
	confirm   *confirmState
	input     inputKind
	inputText string
}

type confirmState struct {
	text string
	yes  func() tea.Cmd
}

func (m *Model) setStatus(s string) { m.bar.status, m.bar.statusErr = s, false }

func (m *Model) setError(s string) { m.bar.status, m.bar.statusErr = s, true }

func (m *Model) ask(text string, yes func() tea.Cmd) {
	m.bar.confirm = &confirmState{text: text, yes: yes}
}

func (m *Model) startInput(kind inputKind, text string) {
	m.bar.input, m.bar.inputText = kind, text
}

func (m *Model) onConfirmKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.c.keys.Yes):
		c := m.bar.confirm
		m.bar.confirm = nil
		return c.yes()
	case key.Matches(k, m.c.keys.No):
		m.bar.confirm = nil
		m.setStatus("nothing done")
	case k.String() == "ctrl+c":
		m.bar.confirm = nil
		return m.quit()
	}
	return nil
}

// onInputKey edits the text being typed. A filter applies as it is typed; a
// search when enter is pressed.
func (m *Model) onInputKey(k tea.KeyPressMsg) tea.Cmd {
	b := &m.bar
	switch k.String() {
	case "ctrl+c":
		b.input = inputNone
		return m.quit()
	case "enter":
		kind := b.input
		b.input = inputNone
		if kind == inputSearch {
			m.search(b.inputText)
		}
		return nil
	case "esc":
		kind := b.input
		b.input = inputNone
		b.inputText = ""
		if kind == inputFilter {
			m.setFilter("")
		} else {
			m.search("")
		}
		return nil
	case "backspace", "ctrl+h":
		if r := []rune(b.inputText); len(r) > 0 {
			b.inputText = string(r[:len(r)-1])
		}
	case "ctrl+u":
		b.inputText = ""
	default:
		if k.Text == "" || len(b.inputText) > 200 {
			return nil
		}
		b.inputText += clean(k.Text)
	}
	if b.input == inputFilter {
		m.setFilter(b.inputText)
	}
	return nil
}

// setFilter hands a filter to the focused table.
func (m *Model) setFilter(text string) {
	if m.focus == paneRunners {
		m.runners.setFilter(text)
	} else {
		m.jobs.setFilter(text)
	}
}

// search hands a search to the detail pane, if a job is open.
func (m *Model) search(text string) {
	if m.detail != nil {
		m.detail.setSearch(text)
	}
}

func (m *Model) footer() []string {
	var out []string
	if m.help.model.ShowAll {
		out = append(out, m.help.render(m.focused(), m.focus, m.width, true)...)
	}
	st, b := &m.c.st, &m.bar
	r := newRow(m.width)
	switch {
	case b.confirm != nil:
		r.add(st.prompt, " "+b.confirm.text)
	case b.input != inputNone:
		what := "filter jobs"
		switch {
		case b.input == inputSearch:
			what = "search log"
		case m.focus == paneRunners:
			what = "filter runners"
		}
		r.add(st.dim, " "+what+": ")
		r.add(st.input, b.inputText+"█")
		if r.room() > 40 {
			r.add(st.dim, "   enter to keep · esc to clear")
		}
	case b.status != "":
		s := st.status
		if b.statusErr {
			s = st.errText
		}
		r.add(s, " "+b.status)
	case m.help.model.ShowAll:
		r.add(st.dim, " ? to close the help")
	default:
		return append(out, m.help.render(m.focused(), m.focus, m.width, false)[0])
	}
	return append(out, r.String())
}

// helpView is the focused pane's help, kept rendered: it changes only with the
// pane and the width, and rendering it is a good part of a frame's cost.
type helpView struct {
	model help.Model
	focus pane
	width int
	full  bool
	lines []string
}

// render returns the help for keys, the focused pane's, at width; full is
// the long form.
func (h *helpView) render(keys help.KeyMap, focus pane, width int, full bool) []string {
	if h.lines != nil && h.focus == focus && h.width == width && h.full == full {
		return h.lines
	}
	h.model.SetWidth(width - 1)
	var text string
	if full {
		text = h.model.FullHelpView(keys.FullHelp())
	} else {
		text = h.model.ShortHelpView(keys.ShortHelp())
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = cut(" "+l, width)
	}
	h.focus, h.width, h.full, h.lines = focus, width, full, lines
	return lines
}
