package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// common is what the root model shares with its panes: the one key map and
// set of styles, the clock, the mirror of the dispatcher and the way to reach
// it, and the host that shows what a pane has to say. The root owns it and each
// pane holds a pointer, so that a change of colour reaches every pane at once.
type common struct {
	keys   keyMap
	st     styles
	now    func() time.Time
	mirror *mirror
	b      Backend
	// ctx ends with the console; every request is made under it.
	ctx  context.Context
	host host
	// logGen numbers the logs the detail pane shows, across openings, so that
	// a reply for a log since closed or reset is told apart and dropped.
	logGen int
	// viewGen numbers the openings of the tests and flaky views in the same
	// way, for their pages and lists.
	viewGen int
}

// host is what a pane may ask of the console around it; the root model is the
// one host. The calls take effect at once, so that a key's effect is on the
// very next frame.
type host interface {
	// setStatus shows a line in the footer until the next key.
	setStatus(text string)
	// ask shows a yes/no question in the footer; yes runs on y.
	ask(question string, yes func() tea.Cmd)
	// startInput lets the user type into the footer, starting from text; the
	// root hands what is typed to the focused pane.
	startInput(kind inputKind, text string)
	// openJob shows a job in the detail pane and focuses it.
	openJob(id string) tea.Cmd
	// closeJob closes the detail pane and goes back to the jobs.
	closeJob()
	// openTests shows the tests of job's current attempt, slowest first.
	openTests(job wire.JobInfo) tea.Cmd
	// closeTests goes back to the job.
	closeTests()
	// openFlaky shows repo's flaky tests.
	openFlaky(repo string) tea.Cmd
	// closeFlaky goes back to the pane it was opened from.
	closeFlaky()
}

// component is a pane of the console, after soft-serve's components: it keeps
// its own state, handles its keys while it has the focus, names them for the
// help, and draws itself in the room the root gives it.
type component interface {
	help.KeyMap
	// update handles a key pressed while the pane has the focus.
	update(k tea.KeyPressMsg) tea.Cmd
	// setSize gives the pane the screen's width and the most lines it may draw.
	setSize(width, height int)
	// view draws the pane in at most its height in lines, each at most its
	// width in cells.
	view(focused bool) []string
}
