package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// styles holds every style the console uses, so that the look is changed in one
// place. Colours are the terminal's own 16 ANSI colours, which follow the user's
// theme on light and dark backgrounds alike. Without colour (NO_COLOR, an ASCII
// terminal) the same styles keep only bold, faint, underline and reverse, and
// nothing depends on colour alone to be read: states are spelled out and the
// selection is reversed and marked with ">".
type styles struct {
	brand     paint
	address   paint
	dim       paint
	warn      paint
	spark     paint
	countNum  paint
	paneFocus paint
	pane      paint
	colHead   paint
	selected  paint
	waiting   paint
	failing   paint
	flaky     paint
	prompt    paint
	input     paint
	status    paint
	errText   paint

	jobState    map[wire.State]paint
	runnerState map[string]paint

	help        help.Styles
	logMatch    lipgloss.Style
	logMatchSel lipgloss.Style
}

// paint is a lipgloss style reduced to the escape sequences around its text.
// lipgloss measures, splits and pads on every call, which a table cell does not
// need; a frame of a busy console paints a few hundred cells, so the tables use
// paints and lipgloss stays the one place styles are defined.
type paint struct{ pre, post string }

func paintOf(s lipgloss.Style) paint {
	out := s.Render("x")
	i := strings.IndexByte(out, 'x')
	return paint{pre: out[:i], post: out[i+1:]}
}

// Render paints s, which must be one line without escape sequences.
func (p paint) Render(s string) string {
	if s == "" || p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

// plain is no style at all.
var plain paint

func newStyles(color bool) styles {
	s := lipgloss.NewStyle
	fg := func(c string) lipgloss.Style {
		if !color {
			return s()
		}
		return s().Foreground(lipgloss.Color(c))
	}
	const (
		red     = "1"
		green   = "2"
		yellow  = "3"
		blue    = "4"
		magenta = "5"
		cyan    = "6"
		grey    = "8"
	)
	p := paintOf
	pane := s().Bold(true)
	if color {
		pane = fg(grey).Bold(true)
	}
	st := styles{
		brand:     p(fg(cyan).Bold(true)),
		address:   p(s().Bold(true)),
		dim:       p(s().Faint(true)),
		warn:      p(fg(red).Bold(true)),
		spark:     p(fg(green)),
		countNum:  p(s().Bold(true)),
		paneFocus: p(fg(cyan).Bold(true).Reverse(true)),
		pane:      p(pane),
		colHead:   p(s().Faint(true).Underline(true)),
		selected:  p(s().Reverse(true).Bold(true)),
		waiting:   p(fg(yellow).Faint(!color)),
		failing:   p(fg(red)),
		flaky:     p(fg(yellow).Bold(true)),
		prompt:    p(fg(yellow).Bold(true)),
		input:     p(s().Bold(true)),
		status:    p(fg(cyan)),
		errText:   p(fg(red).Bold(true)),
		jobState: map[wire.State]paint{
			wire.StateQueued:     p(fg(yellow)),
			wire.StateAssigned:   p(fg(blue)),
			wire.StateRunning:    p(fg(blue).Bold(true)),
			wire.StatusPassed:    p(fg(green)),
			wire.StatusFailed:    p(fg(red).Bold(true)),
			wire.StatusError:     p(fg(magenta).Bold(true)),
			wire.StatusCancelled: p(fg(grey).Faint(!color)),
		},
		runnerState: map[string]paint{
			wire.RunnerIdle:     p(fg(green)),
			wire.RunnerBusy:     p(fg(blue).Bold(true)),
			wire.RunnerDraining: p(fg(yellow)),
			wire.RunnerLost:     p(fg(red).Bold(true)),
		},
		logMatch:    s().Reverse(true),
		logMatchSel: s().Reverse(true).Bold(true).Underline(true),
		help: help.Styles{
			ShortKey:       s().Bold(true),
			ShortDesc:      s().Faint(true),
			ShortSeparator: s().Faint(true),
			Ellipsis:       s().Faint(true),
			FullKey:        s().Bold(true),
			FullDesc:       s().Faint(true),
			FullSeparator:  s().Faint(true),
		},
	}
	if color {
		st.logMatch = s().Background(lipgloss.Color(yellow)).Foreground(lipgloss.Color("0"))
		st.logMatchSel = s().Background(lipgloss.Color(magenta)).Foreground(lipgloss.Color("0")).Bold(true)
		st.help.ShortKey = fg(cyan)
		st.help.FullKey = fg(cyan)
	}
	return st
}

func (st *styles) forJob(state wire.State) paint { return st.jobState[state] }

// forOutcome is the paint of a test's outcome: a test's pass, failure and
// error look like a job's; a skip is dim.
func (st *styles) forOutcome(outcome string) paint {
	switch outcome {
	case wire.OutcomePassed:
		return st.jobState[wire.StatusPassed]
	case wire.OutcomeFailed:
		return st.jobState[wire.StatusFailed]
	case wire.OutcomeError:
		return st.jobState[wire.StatusError]
	}
	return st.dim
}

func (st *styles) forRunner(state string) paint { return st.runnerState[state] }
