package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/eventide-ci/eventide/net/wire"
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

func (m *Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < minWidth || m.height < minHeight {
		return cut("eventide: terminal too small", m.width) + "\n" +
			cut(fmt.Sprintf("%dx%d, need %dx%d", m.width, m.height, minWidth, minHeight), m.width)
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header()...)
	foot := m.footer()
	body := m.height - len(lines) - len(foot)
	if m.focus == paneDetail && m.detail != nil {
		lines = append(lines, m.detailBody(body)...)
	} else {
		lines = append(lines, m.listBody(body)...)
	}
	lines = append(lines, foot...)
	return strings.Join(lines, "\n")
}

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

func (m *Model) header() []string {
	st := &m.st
	now := m.now()
	addr := m.o.Address
	if addr == "" {
		addr = m.addr
	}
	if addr == "" {
		addr = m.server
	}
	l1 := newRow(m.width)
	l1.add(st.brand, " eventide ")
	l1.add(st.address, " "+addr)
	if m.o.Hosted {
		l1.add(st.dim, " (hosted)")
	}
	if !m.started.IsZero() {
		l1.add(st.dim, "  up ").add(plain, span(now.Sub(m.started)))
	}
	switch m.conn {
	case connConnecting:
		l1.add(st.warn, "  connecting…")
	case connLost:
		if m.connected {
			l1.add(st.warn, "  connection lost, reconnecting…")
		} else {
			l1.add(st.warn, "  cannot connect, retrying…")
		}
		if m.connErr != nil {
			l1.add(st.dim, " "+clean(m.connErr.Error()))
		}
	}
	// The sparkline takes the room the left side leaves, up to all its buckets.
	if room := l1.room() - 2; m.spark != nil && room > 0 {
		label := func(n, buckets int) string {
			return fmt.Sprintf(" %d done in %s ", n, span(time.Duration(buckets)*sparkBucket))
		}
		n := min(len(m.spark), room-ansi.StringWidth(label(9999, len(m.spark))))
		if n >= 8 {
			recent := m.spark[len(m.spark)-n:]
			total := 0
			for _, c := range recent {
				total += c
			}
			lb := label(total, n)
			l1.add(plain, spaces(l1.room()-n-ansi.StringWidth(lb)))
			l1.add(st.spark, sparkline(recent))
			l1.add(st.dim, lb)
		}
	}

	c := m.counts
	l2 := newRow(m.width)
	l2.add(plain, " runners ")
	l2.add(st.countNum, strconv.Itoa(c.live)).add(plain, " live ")
	lost := st.forRunner(wire.RunnerLost)
	if c.lost == 0 {
		lost = st.dim
	}
	l2.add(lost, strconv.Itoa(c.lost)+" lost")
	l2.add(plain, "   jobs ")
	for i, p := range []struct {
		n     int
		state wire.State
		name  string
	}{
		{c.queued, wire.StateQueued, "queued"},
		{c.running, wire.StateRunning, "running"},
		{c.passed, wire.StatusPassed, "passed"},
		{c.failed, wire.StatusFailed, "failed"},
		{c.errors, wire.StatusError, "error"},
	} {
		if i > 0 {
			l2.add(plain, " ")
		}
		s := st.forJob(p.state)
		if p.n == 0 {
			s = st.dim
		}
		l2.add(s, strconv.Itoa(p.n)+" "+p.name)
	}
	return []string{l1.String(), l2.String()}
}

func (m *Model) footer() []string {
	var out []string
	if m.help.ShowAll {
		out = append(out, m.fullHelp()...)
	}
	st := &m.st
	r := newRow(m.width)
	switch {
	case m.confirm != nil:
		r.add(st.prompt, " "+m.confirm.text)
	case m.input != inputNone:
		what := "filter jobs"
		switch {
		case m.input == inputSearch:
			what = "search log"
		case m.focus == paneRunners:
			what = "filter runners"
		}
		r.add(st.dim, " "+what+": ")
		r.add(st.input, m.inputText+"█")
		if r.room() > 40 {
			r.add(st.dim, "   enter to keep · esc to clear")
		}
	case m.status != "":
		s := st.status
		if m.statusErr {
			s = st.errText
		}
		r.add(s, " "+m.status)
	case m.help.ShowAll:
		r.add(st.dim, " ? to close the help")
	default:
		return append(out, m.shortHelp())
	}
	return append(out, r.String())
}

// helpCache keeps the rendered help: it changes only with the pane and the
// width, and rendering it is a good part of a frame's cost.
type helpCache struct {
	focus pane
	width int
	full  bool
	lines []string
}

func (m *Model) helpLines(full bool) []string {
	c := &m.helpCache
	if c.lines != nil && c.focus == m.focus && c.width == m.width && c.full == full {
		return c.lines
	}
	keys := paneKeys{&m.keys, m.focus}
	m.help.SetWidth(m.width - 1)
	var text string
	if full {
		text = m.help.FullHelpView(keys.FullHelp())
	} else {
		text = m.help.ShortHelpView(keys.ShortHelp())
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = cut(" "+l, m.width)
	}
	*c = helpCache{focus: m.focus, width: m.width, full: full, lines: lines}
	return lines
}

func (m *Model) shortHelp() string { return m.helpLines(false)[0] }

func (m *Model) fullHelp() []string { return m.helpLines(true) }

func (m *Model) bodyHeight() int {
	return max(0, m.height-headerRows-len(m.footer()))
}

// listRows shares the list screen between the runners and jobs tables: the
// runners get up to a third, the jobs the rest, since there are more of them.
func (m *Model) listRows(body int) (runRows, jobRows int) {
	rows := max(0, body-4) // a title and a column header each
	nr := max(1, len(m.runnersView))
	runRows = min(nr, max(1, rows/3))
	if rows < 2 {
		runRows = 0
	}
	return runRows, max(0, rows-runRows)
}

// layout fits the scroll positions and the viewport to the screen after a change.
func (m *Model) layout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	body := m.bodyHeight()
	runRows, jobRows := m.listRows(body)
	scrollTo(&m.runners, len(m.runnersView), runRows)
	scrollTo(&m.jobs, len(m.jobsView), jobRows)
	m.help.SetWidth(m.width - 1)
	if m.detail != nil {
		info := len(m.detailInfo(body))
		m.vp.SetWidth(m.width)
		m.vp.SetHeight(max(1, body-info-2))
		if m.detail.follow {
			m.vp.GotoBottom()
		}
	}
}

// scrollTo keeps the cursor inside the visible rows.
func scrollTo(l *listState, n, rows int) {
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

func (m *Model) paneTitle(title, right string, focused bool) string {
	st := &m.st
	r := newRow(m.width)
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

func (m *Model) listBody(body int) []string {
	runRows, jobRows := m.listRows(body)
	out := make([]string, 0, body)

	// Runners.
	title := "Runners " + countOf(len(m.runnersView), len(m.mirror.rorder))
	if m.runners.filter != "" {
		title += " /" + cut(m.runners.filter, 20)
	}
	out = append(out, m.paneTitle(title, position(m.runners.cursor, len(m.runnersView)), m.focus == paneRunners))
	rc := runnerColumns(m.width)
	if runRows > 0 {
		out = append(out, m.runnerHeader(rc))
	}
	for i := 0; i < runRows; i++ {
		n := m.runners.offset + i
		switch {
		case n < len(m.runnersView):
			out = append(out, m.runnerRow(rc, m.runnersView[n], n == m.runners.cursor && m.focus == paneRunners))
		case i == 0 && len(m.mirror.rorder) == 0:
			out = append(out, m.st.dim.Render(cut("  no runners connected", m.width)))
		case i == 0:
			out = append(out, m.st.dim.Render(cut("  no runner matches the filter", m.width)))
		default:
			out = append(out, "")
		}
	}

	// Jobs.
	title = "Jobs " + countOf(len(m.jobsView), len(m.mirror.order))
	if s := m.jobs.state; s != 0 {
		title += " · " + stateFilters[s].name
	}
	if m.jobs.filter != "" {
		title += " /" + cut(m.jobs.filter, 20)
	}
	if m.followNew {
		title += " · following newest"
	}
	out = append(out, m.paneTitle(title, position(m.jobs.cursor, len(m.jobsView)), m.focus == paneJobs))
	jc := jobColumns(m.width)
	out = append(out, m.jobHeader(jc))
	for i := 0; i < jobRows; i++ {
		n := m.jobs.offset + i
		switch {
		case n < len(m.jobsView):
			out = append(out, m.jobRow(jc, m.jobsView[n], n == m.jobs.cursor && m.focus == paneJobs))
		case i == 0 && len(m.mirror.order) == 0:
			out = append(out, m.st.dim.Render(cut("  no jobs yet", m.width)))
		case i == 0:
			out = append(out, m.st.dim.Render(cut("  no job matches the filter", m.width)))
		}
	}
	for len(out) < body {
		out = append(out, "")
	}
	return out[:max(0, min(len(out), body))]
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

func jobColumns(w int) jobCols {
	c := jobCols{commit: 7, branch: 12, state: 9, runner: 10, att: 3, dur: 7, age: 4}
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

func (m *Model) jobHeader(c jobCols) string {
	var b strings.Builder
	b.WriteString("  ")
	for _, p := range []struct {
		s string
		w int
	}{{"COMMIT", c.commit}, {"BRANCH", c.branch}, {"MESSAGE", c.msg}, {"STATE", c.state}, {"RUNNER", c.runner}, {"#", c.att}} {
		if p.w > 0 {
			b.WriteString(fit(p.s, p.w))
			b.WriteByte(' ')
		}
	}
	b.WriteString(fitRight("TIME", c.dur))
	b.WriteByte(' ')
	b.WriteString(fitRight("AGE", c.age))
	return m.st.colHead.Render(fit(b.String(), m.width))
}

func (m *Model) jobRow(c jobCols, e *jobEntry, selected bool) string {
	j := &e.info
	now := m.now()
	var pre strings.Builder
	pre.Grow(m.width)
	if selected {
		pre.WriteString("> ")
	} else {
		pre.WriteString("  ")
	}
	pre.WriteString(fit(e.commit, c.commit))
	pre.WriteByte(' ')
	if c.branch > 0 {
		pre.WriteString(fit(e.branch, c.branch))
		pre.WriteByte(' ')
	}
	pre.WriteString(fit(e.msg, c.msg))
	pre.WriteByte(' ')
	state := fit(string(j.State), c.state)

	var post strings.Builder
	waiting := j.State == wire.StateQueued
	post.WriteByte(' ')
	if waiting {
		w := c.runner + c.att + c.dur + 2
		if c.runner == 0 {
			w--
		}
		text := e.wait
		if text == "" {
			text = "waiting"
		}
		post.WriteString(fit(text, w))
	} else {
		if c.runner > 0 {
			post.WriteString(fit(e.runner, c.runner))
			post.WriteByte(' ')
		}
		att := ""
		if j.Attempt > 0 {
			att = "#" + strconv.Itoa(j.Attempt)
		}
		post.WriteString(fit(att, c.att))
		post.WriteByte(' ')
		post.WriteString(fitRight(jobDuration(j, now), c.dur))
	}
	post.WriteByte(' ')
	post.WriteString(fitRight(age(now.Sub(j.QueuedAt)), c.age))

	if selected {
		return m.st.selected.Render(fitRow(pre.String()+state+post.String(), c.total(), m.width))
	}
	st := m.st.forJob(j.State)
	if c.total() > m.width {
		// Narrower than the columns: cut the plain text, at the cost of colour.
		return fit(pre.String()+state+post.String(), m.width)
	}
	if waiting {
		return pre.String() + st.Render(state) + m.st.waiting.Render(post.String())
	}
	return pre.String() + st.Render(state) + post.String()
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

type runnerCols struct {
	name, state, beat, job, slots, done, labels int
}

func (c runnerCols) total() int {
	return 2 + c.name + 1 + c.state + 1 + c.beat + 1 + c.job + 1 + c.slots + 1 + c.done + 1 + c.labels
}

func runnerColumns(w int) runnerCols {
	c := runnerCols{state: 8, beat: 5, job: 16, slots: 5, done: 5}
	flex := w - (2 + 6 + c.state + c.beat + c.job + c.slots + c.done)
	c.name = max(8, min(24, flex/2))
	c.labels = max(0, flex-c.name)
	return c
}

func (m *Model) runnerHeader(c runnerCols) string {
	s := "  " + fit("RUNNER", c.name) + " " + fit("STATE", c.state) + " " + fitRight("BEAT", c.beat) + " " +
		fit("JOB", c.job) + " " + fitRight("SLOTS", c.slots) + " " + fitRight("DONE", c.done) + " " + fit("LABELS", c.labels)
	return m.st.colHead.Render(fit(s, m.width))
}

func (m *Model) runnerRow(c runnerCols, e *runnerEntry, selected bool) string {
	r := &e.info
	var pre strings.Builder
	if selected {
		pre.WriteString("> ")
	} else {
		pre.WriteString("  ")
	}
	pre.WriteString(fit(e.name, c.name))
	pre.WriteByte(' ')
	state := fit(r.State, c.state)
	beat := "-"
	if !r.LastSeen.IsZero() {
		beat = age(m.now().Sub(r.LastSeen))
	}
	job := ""
	if len(r.Jobs) > 0 {
		job = shortID(r.Jobs[0])
		if j := m.mirror.jobs[r.Jobs[0]]; j != nil && j.commit != "" {
			job = j.commit
			if j.branch != "" {
				job += " " + j.branch
			}
		}
		if more := len(r.Jobs) - 1; more > 0 {
			job = cut(job, c.job-3) + " +" + strconv.Itoa(more)
		}
	}
	post := " " + fitRight(beat, c.beat) + " " + fit(job, c.job) + " " +
		fitRight(strconv.Itoa(len(r.Jobs))+"/"+strconv.Itoa(r.Slots), c.slots) + " " +
		fitRight(strconv.Itoa(r.Done), c.done) + " " + fit(e.labels, c.labels)
	if selected {
		return m.st.selected.Render(fitRow(pre.String()+state+post, c.total(), m.width))
	}
	if c.total() > m.width {
		return fit(pre.String()+state+post, m.width)
	}
	return pre.String() + m.st.forRunner(r.State).Render(state) + post
}

// detailInfo is the part of the detail view above the log, fitted to the
// body's height so that the log keeps at least half of it.
func (m *Model) detailInfo(body int) []string {
	d := m.detail
	st := &m.st
	j := &d.job
	now := m.now()
	budget := max(3, body-2-max(3, body/2))
	var out []string
	line := func() *row { return newRow(m.width) }

	l := line()
	l.add(plain, " ")
	l.add(st.address, shortCommit(clean(j.Commit))+" ")
	if b := clean(j.Branch); b != "" {
		l.add(st.dim, b+" ")
	}
	l.add(plain, " "+firstLine(j.Message))
	if a := clean(j.Author); a != "" {
		l.add(st.dim, " — "+a)
	}
	out = append(out, l.String())

	l = line()
	l.add(plain, " ")
	state := string(j.State)
	if state == "" {
		state = "unknown"
	}
	js := st.forJob(j.State)
	l.add(js, state)
	switch {
	case j.Attempt > 0 && j.State == wire.StateQueued:
		// Retried: the next attempt gets its number when a runner takes it.
		l.add(plain, " · attempt "+strconv.Itoa(j.Attempt+1)+" next")
	case j.Attempt > 0:
		l.add(plain, " · attempt "+strconv.Itoa(j.Attempt))
	}
	if j.Runner != "" {
		l.add(plain, " · runner "+clean(j.Runner))
	}
	if dur := jobDuration(j, now); dur != "" {
		l.add(plain, " · took "+dur)
	}
	if !j.QueuedAt.IsZero() {
		l.add(st.dim, " · queued "+age(now.Sub(j.QueuedAt))+" ago")
	}
	if j.ExitCode != 0 {
		l.add(plain, " · exit "+strconv.Itoa(j.ExitCode))
	}
	out = append(out, l.String())

	if j.State == wire.StateQueued {
		w := clean(j.Waiting)
		if w == "" {
			w = "in the queue"
		}
		l = line()
		l.add(plain, " waiting: ").add(st.waiting, w)
		out = append(out, l.String())
	} else if r := clean(j.Reason); r != "" {
		l = line()
		l.add(plain, " reason: ").add(st.dim, r)
		out = append(out, l.String())
	}

	l = line()
	l.add(plain, " tests: ")
	if s := j.Summary; s != nil {
		for i, p := range []struct {
			n     int
			name  string
			state wire.State
		}{{s.Passed, "passed", wire.StatusPassed}, {s.Failed, "failed", wire.StatusFailed}, {s.Errors, "errors", wire.StatusError}, {s.Skipped, "skipped", ""}} {
			if i > 0 {
				l.add(st.dim, " · ")
			}
			ps := st.forJob(p.state)
			if p.n == 0 || p.state == "" {
				ps = st.dim
			}
			l.add(ps, strconv.Itoa(p.n)+" "+p.name)
		}
	} else if j.State.Final() {
		l.add(st.dim, "no summary")
	} else {
		l.add(st.dim, "not yet")
	}
	out = append(out, l.String())

	if d.jobErr != nil {
		l = line()
		l.add(st.errText, " job: "+clean(d.jobErr.Error()))
		out = append(out, l.String())
	}

	left := budget - len(out)
	attemptLines := min(len(d.attempts), max(1, left/2))
	if s := j.Summary; s != nil && len(s.Failing) > 0 && left > attemptLines {
		n := min(len(s.Failing), left-attemptLines)
		for i := 0; i < n; i++ {
			l = line()
			if i == 0 {
				l.add(plain, " failing: ")
			} else {
				l.add(plain, "          ")
			}
			if i == n-1 && n < len(s.Failing) {
				l.add(st.dim, fmt.Sprintf("… and %d more", len(s.Failing)-i))
			} else {
				l.add(st.failing, clean(s.Failing[i]))
			}
			out = append(out, l.String())
		}
	}

	left = budget - len(out)
	if n := min(len(d.attempts), left); n > 0 {
		first := len(d.attempts) - n
		for i, a := range d.attempts[first:] {
			l = line()
			if i == 0 {
				l.add(plain, " attempts: ")
			} else {
				l.add(plain, "           ")
			}
			if i == 0 && first > 0 {
				l.add(st.dim, fmt.Sprintf("(%d earlier) ", first))
			}
			m.attemptLine(l, a, now)
			out = append(out, l.String())
		}
	}
	return out
}

func (m *Model) attemptLine(l *row, a wire.AttemptInfo, now time.Time) {
	st := &m.st
	l.add(plain, "#"+strconv.Itoa(a.N)+" "+clean(a.Runner)+" ")
	outcome := a.Outcome
	if outcome == "" {
		outcome = wire.StateRunning
	}
	oc := st.forJob(wire.State(outcome))
	if wire.State(outcome).Final() || outcome == wire.StateRunning {
		l.add(oc, outcome)
	} else {
		l.add(st.warn, outcome)
	}
	end := a.Ended
	if end.IsZero() {
		end = now
	}
	if !a.Assigned.IsZero() {
		l.add(st.dim, " after "+span(end.Sub(a.Assigned)))
	}
	if a.LogBytes > 0 {
		l.add(st.dim, " · "+bytesText(a.LogBytes)+" log")
	}
	if r := clean(a.Reason); r != "" {
		l.add(st.dim, " · "+r)
	}
}

func (m *Model) detailBody(body int) []string {
	d := m.detail
	st := &m.st
	out := make([]string, 0, body)
	title := "Job " + clean(d.id)
	out = append(out, m.paneTitle(title, "esc back", true))
	out = append(out, m.detailInfo(body)...)

	l := &d.log
	var parts []string
	if l.attempt > 0 {
		parts = append(parts, "attempt "+strconv.Itoa(l.attempt))
	}
	switch {
	case l.err != nil:
		parts = append(parts, "log: "+clean(l.err.Error()))
	case !l.loaded:
		parts = append(parts, "loading…")
	case l.final:
		parts = append(parts, "ended")
	default:
		parts = append(parts, "live")
	}
	if d.follow {
		parts = append(parts, "following")
	}
	if l.end > 0 {
		parts = append(parts, bytesText(l.end))
	}
	if d.search != "" {
		parts = append(parts, fmt.Sprintf("/%s: %s", cut(d.search, 20), plural(d.matches, "match", "matches")))
	}
	r := newRow(m.width)
	r.add(st.dim, "─")
	r.add(st.pane, " Log ")
	r.add(st.dim, "─ ")
	r.add(plain, strings.Join(parts, " · ")+" ")
	r.fill(st.dim, "─")
	out = append(out, r.String())

	if d.log.loaded && len(d.log.lines) == 0 {
		out = append(out, st.dim.Render(" no output yet"))
	} else {
		out = append(out, strings.Split(m.vp.View(), "\n")...)
	}
	for len(out) < body {
		out = append(out, "")
	}
	return out[:max(0, min(len(out), body))]
}
