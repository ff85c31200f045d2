package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// testsPageSize is how many records one job.get asks for: a screen's worth
// several times over, and well inside a frame even with long messages.
const testsPageSize = 200

// testsPane lists every test of one attempt of a job, slowest first, with the
// selected test's message below. The tests come a page at a time, the next
// asked for as the cursor nears the end of what is loaded, so that a suite of
// 50,000 costs only what is looked at.
type testsPane struct {
	c   *common
	gen int // tells this opening's replies from an earlier one's
	job wire.JobInfo
	// attempt is the attempt the first page was of: the later pages ask for
	// it, so that a new attempt meanwhile does not mix two runs in one list.
	attempt int
	tests   []wire.TestRecord
	total   int
	next    int  // the offset of the next page
	done    bool // every page is loaded
	loading bool
	err     error
	listState
	width, height int
	rows          int // table rows on screen
	msgRows       int // lines of the selected test's message
}

// testsMsg is a page of tests, or why there is none.
type testsMsg struct {
	gen  int
	page *wire.TestPage
	err  error
}

// newTestsPane opens the tests of job's current attempt and asks for the
// first page.
func newTestsPane(c *common, job wire.JobInfo) (*testsPane, tea.Cmd) {
	c.viewGen++
	p := &testsPane{c: c, gen: c.viewGen, job: job}
	return p, p.load()
}

// load asks for the next page unless one is on its way or all are here.
func (p *testsPane) load() tea.Cmd {
	if p.loading || p.done {
		return nil
	}
	p.loading = true
	b, ctx, gen := p.c.b, p.c.ctx, p.gen
	q := wire.JobGet{JobID: p.job.ID, Attempt: p.attempt, TestsOffset: p.next, TestsLimit: testsPageSize, TestsOrder: wire.TestsSlowest}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := b.JobGet(ctx, q)
		return testsMsg{gen: gen, page: info.Tests, err: err}
	}
}

func (p *testsPane) onPage(msg testsMsg) tea.Cmd {
	if msg.gen != p.gen {
		return nil
	}
	p.loading = false
	if msg.err != nil {
		// Kept until a key asks again, so that a failing dispatcher is not
		// asked in a loop.
		p.err = msg.err
		return nil
	}
	p.err = nil
	pg := msg.page
	if pg == nil {
		// A job without records of this attempt has no page to give.
		p.done = true
		return nil
	}
	if p.attempt == 0 {
		p.attempt = pg.Attempt
	}
	p.tests = append(p.tests, pg.Tests...)
	p.total = pg.Total
	p.next = pg.Next
	p.done = pg.Next == 0 || len(p.tests) >= wire.MaxTestRecords
	p.scrollTo(len(p.tests), p.rows)
	return p.more()
}

// more loads the next page when the cursor is within a screen of the end of
// what is loaded.
func (p *testsPane) more() tea.Cmd {
	if p.err != nil || len(p.tests)-p.cursor > max(p.rows, 1)*2 {
		return nil
	}
	return p.load()
}

func (p *testsPane) setSize(width, height int) {
	p.width, p.height = width, height
	// The title and the column header above the rows; the message's rule and
	// lines below them, when there is room.
	p.msgRows = 0
	if height >= 12 {
		p.msgRows = 3
	}
	p.rows = max(1, height-2-p.msgRows-min(p.msgRows, 1))
	p.scrollTo(len(p.tests), p.rows)
}

func (p *testsPane) update(k tea.KeyPressMsg) tea.Cmd {
	keys := &p.c.keys
	if p.move(keys, len(p.tests), p.rows, k) {
		p.scrollTo(len(p.tests), p.rows)
		return p.more()
	}
	switch {
	case key.Matches(k, keys.Back):
		p.c.host.closeTests()
	case key.Matches(k, keys.Tests):
		// Again after an error: the one way to retry a page that failed.
		return p.load()
	case key.Matches(k, keys.Flaky):
		return p.c.host.openFlaky(p.job.Repo)
	}
	return nil
}

func (p *testsPane) ShortHelp() []key.Binding {
	k := &p.c.keys
	return []key.Binding{k.Help, k.Quit, k.Back, k.Up, k.Down, k.PageDown, k.Flaky}
}

func (p *testsPane) FullHelp() [][]key.Binding {
	k := &p.c.keys
	return [][]key.Binding{k.moveKeys(), {k.HalfUp, k.HalfDown, k.Flaky, k.Back}, k.generalKeys()}
}

func (p *testsPane) view(focused bool) []string {
	st := &p.c.st
	title := "Tests of " + shortCommit(clean(p.job.Commit))
	if p.attempt > 0 {
		title += " · attempt " + strconv.Itoa(p.attempt)
	}
	title += " · slowest first"
	if !p.done && p.total > 0 {
		title += fmt.Sprintf(" · %d of %d loaded", len(p.tests), p.total)
	}
	out := make([]string, 0, p.height)
	out = append(out, st.paneTitle(p.width, title, position(p.cursor, max(p.total, len(p.tests))), focused))
	out = append(out, st.colHead.Render(fit("  "+fit("OUTCOME", 8)+fitRight("TIME", 7)+"  TEST", p.width)))
	for i := 0; i < p.rows && p.offset+i < len(p.tests); i++ {
		n := p.offset + i
		out = append(out, p.row(&p.tests[n], n == p.cursor && focused))
	}
	if l := p.note(len(p.tests) == 0); l != "" {
		if len(out) == 2+p.rows {
			// No room below the rows: what went wrong matters more than the
			// last of them.
			out = out[:len(out)-1]
		}
		out = append(out, l)
	}
	if p.msgRows == 0 {
		return out
	}
	for len(out) < 2+p.rows {
		out = append(out, "")
	}
	return append(out, p.message()...)
}

// note is the line under the rows: loading, an error, or why the list is
// empty; "" when there is nothing to say.
func (p *testsPane) note(empty bool) string {
	st := &p.c.st
	switch {
	case p.err != nil:
		return newRow(p.width).add(st.errText, "  tests: "+clean(p.err.Error())).add(st.dim, " · t to ask again").String()
	case p.loading:
		return st.dim.Render(cut("  loading…", p.width))
	case empty && p.job.State.Active():
		return st.dim.Render(cut("  no per-test records yet: they come with the attempt's result", p.width))
	case empty:
		return st.dim.Render(cut("  no per-test records for this attempt: its output named no tests, or its runner or dispatcher is older than protocol "+strconv.Itoa(wire.VersionTestRecords), p.width))
	}
	return ""
}

// row draws a test: its outcome in the outcome's colour, its duration and its
// id, with the suite after it.
func (p *testsPane) row(t *wire.TestRecord, selected bool) string {
	st := &p.c.st
	mark := "  "
	if selected {
		mark = "> "
	}
	dur := ""
	if t.DurationMS != nil {
		dur = testDuration(*t.DurationMS)
	}
	if selected {
		// Reversed all the way across, as in the other lists.
		text := mark + fit(clean(t.Outcome), 8) + fitRight(dur, 7) + "  " + clean(t.ID)
		if s := clean(t.Suite); s != "" {
			text += " · " + s
		}
		return st.selected.Render(fit(text, p.width))
	}
	r := newRow(p.width)
	r.add(plain, mark)
	r.add(st.forOutcome(t.Outcome), fit(clean(t.Outcome), 8))
	r.add(plain, fitRight(dur, 7)+"  ")
	r.add(plain, clean(t.ID))
	if s := clean(t.Suite); s != "" {
		r.add(st.dim, " · "+s)
	}
	return r.String()
}

// message is the rule and the first lines of the selected test's message.
func (p *testsPane) message() []string {
	st := &p.c.st
	r := newRow(p.width)
	r.add(st.dim, "─")
	r.add(st.pane, " Message ")
	r.fill(st.dim, "─")
	out := []string{r.String()}
	var lines []string
	if p.cursor < len(p.tests) {
		if m := strings.TrimSpace(p.tests[p.cursor].Message); m != "" {
			lines = strings.Split(m, "\n")
		}
	}
	for i := 0; i < p.msgRows; i++ {
		switch {
		case i < len(lines) && i == p.msgRows-1 && len(lines) > p.msgRows:
			out = append(out, newRow(p.width).add(plain, " "+clean(lines[i])).add(st.dim, " …").String())
		case i < len(lines):
			out = append(out, newRow(p.width).add(plain, " "+clean(lines[i])).String())
		case i == 0 && p.cursor < len(p.tests):
			out = append(out, st.dim.Render(" no message"))
		}
	}
	return out
}
