package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// jobsPane is the table of jobs, newest first: its cursor and filters, the jobs
// that pass them, and the keys that act on the selected job.
type jobsPane struct {
	c *common
	// The jobs shown are newest first.
	table[*jobEntry]
	state  int  // index into stateFilters
	follow bool // the cursor stays on the newest job
	// flaky is set when a job shown has the flaky mark: the state column
	// then makes room for it.
	flaky bool
}

// stateFilters are the state filter's steps, in the order `s` cycles them.
var stateFilters = []struct {
	name  string
	match func(wire.State) bool
}{
	{"all", nil},
	{"active", wire.State.Active},
	{wire.StateQueued, func(s wire.State) bool { return s == wire.StateQueued }},
	{wire.StateRunning, func(s wire.State) bool { return s == wire.StateRunning || s == wire.StateAssigned }},
	{wire.StatusPassed, func(s wire.State) bool { return s == wire.StatusPassed }},
	{wire.StatusFailed, func(s wire.State) bool { return s == wire.StatusFailed }},
	{wire.StatusError, func(s wire.State) bool { return s == wire.StatusError }},
	{wire.StatusCancelled, func(s wire.State) bool { return s == wire.StatusCancelled }},
}

// refresh works out the jobs shown after the mirror or a filter changed, so
// that view only draws.
func (p *jobsPane) refresh() {
	if p.follow {
		p.sel, p.cursor = "", 0
	}
	p.show(p.c.mirror.jobsView(p.shown, p.filter, stateFilters[p.state].match))
	p.flaky = false
	for _, e := range p.shown {
		if len(e.state) > len(e.info.State) {
			p.flaky = true
			break
		}
	}
}

func (p *jobsPane) setFilter(text string) {
	p.filter = text
	p.refresh()
}

func (p *jobsPane) update(k tea.KeyPressMsg) tea.Cmd {
	keys, host := &p.c.keys, p.c.host
	if p.moveKey(keys, k) {
		if p.follow && p.cursor != 0 {
			p.follow = false
		}
		return nil
	}
	sel, ok := p.selected()
	switch {
	case key.Matches(k, keys.Open):
		if ok {
			return host.openJob(sel.info.ID)
		}
	case key.Matches(k, keys.Back):
		if p.filter != "" || p.state != 0 {
			p.filter, p.state = "", 0
			p.refresh()
			host.setStatus("filter cleared")
		}
	case key.Matches(k, keys.Filter):
		host.startInput(inputFilter, p.filter)
	case key.Matches(k, keys.StateFilter):
		p.state = (p.state + 1) % len(stateFilters)
		p.refresh()
	case key.Matches(k, keys.Retry):
		if ok {
			return p.c.retry(sel.info.ID)
		}
	case key.Matches(k, keys.RetryFailed):
		p.askRetryFailed()
	case key.Matches(k, keys.Cancel):
		if ok {
			p.c.askCancel(sel.info)
		}
	case key.Matches(k, keys.Follow):
		p.toggleFollow()
	case key.Matches(k, keys.Flaky):
		if ok {
			return host.openFlaky(sel.info.Repo)
		}
	case key.Matches(k, keys.Drain):
		host.setStatus("d drains a runner: select one in the runners pane (tab)")
	}
	return nil
}

func (p *jobsPane) toggleFollow() {
	p.follow = !p.follow
	if p.follow {
		p.refresh()
		p.c.host.setStatus("following the newest job")
	} else {
		p.c.host.setStatus("stopped following the newest job")
	}
}

// askRetryFailed offers to retry the failed jobs in view, those the filters let
// through; the runners pane's R comes here too.
func (p *jobsPane) askRetryFailed() {
	var ids []string
	for _, e := range p.shown {
		if e.info.State == wire.StatusFailed {
			ids = append(ids, e.info.ID)
		}
	}
	if len(ids) == 0 {
		p.c.host.setStatus("no failed jobs in view")
		return
	}
	p.c.host.ask(fmt.Sprintf("Retry %s in view? [y/n]", plural(len(ids), "failed job", "failed jobs")), func() tea.Cmd { return p.c.retryAll(ids) })
}

func (p *jobsPane) ShortHelp() []key.Binding {
	k := &p.c.keys
	return []key.Binding{k.Help, k.Quit, k.NextPane, k.Open, k.Retry, k.RetryFailed, k.Cancel, k.Filter, k.StateFilter}
}

func (p *jobsPane) FullHelp() [][]key.Binding {
	k := &p.c.keys
	return [][]key.Binding{k.moveKeys(), {k.Open, k.Retry, k.RetryFailed, k.Cancel}, {k.Filter, k.StateFilter, k.Flaky, k.Back}, k.generalKeys()}
}

func (p *jobsPane) view(focused bool) []string {
	st := &p.c.st
	total := len(p.c.mirror.order)
	title := "Jobs " + countOf(len(p.shown), total)
	if s := p.state; s != 0 {
		title += " · " + stateFilters[s].name
	}
	if p.filter != "" {
		title += " /" + cut(p.filter, 20)
	}
	if p.follow {
		title += " · following newest"
	}
	out := make([]string, 0, p.rows+2)
	out = append(out, st.paneTitle(p.width, title, position(p.cursor, len(p.shown)), focused))
	jc := jobColumns(p.width, p.flaky)
	out = append(out, p.header(jc))
	for i := 0; i < p.rows; i++ {
		n := p.offset + i
		switch {
		case n < len(p.shown):
			out = append(out, p.row(jc, p.shown[n], n == p.cursor && focused))
		case i == 0 && total == 0:
			out = append(out, st.dim.Render(cut("  no jobs yet", p.width)))
		case i == 0:
			out = append(out, st.dim.Render(cut("  no job matches the filter", p.width)))
		}
	}
	return out
}

// jobCols are the widths of the jobs table's columns; the message takes what
// the fixed columns leave.
type jobCols struct {
	commit, branch, msg, state, runner, att, dur, age int
}

// total is the width of a row, each cell being fitted to its column.
func (c jobCols) total() int {
	w := 2 + c.commit + 1 + c.msg + 1 + c.state + 1 + c.att + 1 + c.dur + 1 + c.age
	if c.branch > 0 {
		w += c.branch + 1
	}
	if c.runner > 0 {
		w += c.runner + 1
	}
	return w
}

// jobColumns fits the columns to width w; flaky makes the state column wide
// enough for "passed · flaky".
func jobColumns(w int, flaky bool) jobCols {
	c := jobCols{commit: 7, branch: 12, state: 9, runner: 10, att: 3, dur: 7, age: 4}
	if flaky {
		c.state = len(wire.StatusPassed) + width(flakyMark)
	}
	flex := w - (2 + 7 + c.commit + c.state + c.att + c.dur + c.age)
	if extra := flex - c.branch - c.runner - 30; extra > 0 {
		g := min(extra/3, 8)
		c.branch += g
		c.runner += g
	}
	c.msg = flex - c.branch - c.runner
	if c.msg < 12 {
		take := min(12-c.msg, c.branch)
		c.branch -= take
		c.msg += take
		take = min(12-c.msg, c.runner)
		c.runner -= take
		c.msg += take
	}
	c.msg = max(0, c.msg)
	return c
}

func (p *jobsPane) header(c jobCols) string {
	var b strings.Builder
	b.WriteString("  ")
	for _, h := range []struct {
		s string
		w int
	}{{"COMMIT", c.commit}, {"BRANCH", c.branch}, {"MESSAGE", c.msg}, {"STATE", c.state}, {"RUNNER", c.runner}, {"#", c.att}} {
		if h.w > 0 {
			b.WriteString(fit(h.s, h.w))
			b.WriteByte(' ')
		}
	}
	b.WriteString(fitRight("TIME", c.dur))
	b.WriteByte(' ')
	b.WriteString(fitRight("AGE", c.age))
	return p.c.st.colHead.Render(fit(b.String(), p.width))
}

// row draws a job: the cells left of the state, the state in its colour, and
// the cells right of it, which for a queued job say what it waits for.
func (p *jobsPane) row(c jobCols, e *jobEntry, selected bool) string {
	st := &p.c.st
	j := &e.info
	pre := jobRowStart(c, e, selected, p.width)
	state := fit(e.state, c.state)
	post := jobRowEnd(c, e, p.c.now())
	if selected {
		return st.selected.Render(fitRow(pre+state+post, c.total(), p.width))
	}
	if c.total() > p.width {
		// Narrower than the columns: cut the plain text, at the cost of colour.
		return fit(pre+state+post, p.width)
	}
	if j.State == wire.StateQueued {
		return pre + st.forJob(j.State).Render(state) + st.waiting.Render(post)
	}
	// The state's name in its colour, the flaky mark after it in its own; the
	// name is ASCII and no wider than the column, so the cell splits there.
	if n := len(j.State); len(e.state) > n {
		return pre + st.forJob(j.State).Render(state[:n]) + st.flaky.Render(state[n:]) + post
	}
	return pre + st.forJob(j.State).Render(state) + post
}

func jobRowStart(c jobCols, e *jobEntry, selected bool, width int) string {
	var b strings.Builder
	b.Grow(width)
	if selected {
		b.WriteString("> ")
	} else {
		b.WriteString("  ")
	}
	b.WriteString(fit(e.commit, c.commit))
	b.WriteByte(' ')
	if c.branch > 0 {
		b.WriteString(fit(e.branch, c.branch))
		b.WriteByte(' ')
	}
	b.WriteString(fit(e.msg, c.msg))
	b.WriteByte(' ')
	return b.String()
}

func jobRowEnd(c jobCols, e *jobEntry, now time.Time) string {
	j := &e.info
	var b strings.Builder
	b.WriteByte(' ')
	if j.State == wire.StateQueued {
		w := c.runner + c.att + c.dur + 2
		if c.runner == 0 {
			w--
		}
		text := e.wait
		if text == "" {
			text = "waiting"
		}
		b.WriteString(fit(text, w))
	} else {
		if c.runner > 0 {
			b.WriteString(fit(e.runner, c.runner))
			b.WriteByte(' ')
		}
		att := ""
		if j.Attempt > 0 {
			att = "#" + strconv.Itoa(j.Attempt)
		}
		b.WriteString(fit(att, c.att))
		b.WriteByte(' ')
		b.WriteString(fitRight(jobDuration(j, now), c.dur))
	}
	b.WriteByte(' ')
	b.WriteString(fitRight(age(now.Sub(j.QueuedAt)), c.age))
	return b.String()
}

func jobDuration(j *wire.JobInfo, now time.Time) string {
	switch {
	case j.StartedAt.IsZero():
		return ""
	case !j.FinishedAt.IsZero():
		return span(j.FinishedAt.Sub(j.StartedAt))
	case j.State.Active():
		return span(now.Sub(j.StartedAt))
	}
	return ""
}
