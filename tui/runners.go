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

// runnersPane is the table of runners, by name: its cursor and filter, the
// runners that pass it, and the keys that act on the selected runner.
type runnersPane struct {
	c *common
	// The runners shown are by name.
	table[*runnerEntry]
}

// refresh works out the runners shown after the mirror or the filter changed.
func (p *runnersPane) refresh() {
	p.show(p.c.mirror.runnersView(p.shown, p.filter))
}

func (p *runnersPane) setFilter(text string) {
	p.filter = text
	p.refresh()
}

func (p *runnersPane) update(k tea.KeyPressMsg) tea.Cmd {
	keys, host := &p.c.keys, p.c.host
	if p.moveKey(keys, k) {
		return nil
	}
	sel, ok := p.selected()
	switch {
	case key.Matches(k, keys.Open):
		if !ok {
			return nil
		}
		if len(sel.info.Jobs) == 0 {
			host.setStatus("runner " + sel.name + " has no job")
			return nil
		}
		return host.openJob(sel.info.Jobs[0])
	case key.Matches(k, keys.Back):
		if p.filter != "" {
			p.setFilter("")
			host.setStatus("filter cleared")
		}
	case key.Matches(k, keys.Filter):
		host.startInput(inputFilter, p.filter)
	case key.Matches(k, keys.Drain):
		if ok {
			p.askDrain(sel)
		}
	case key.Matches(k, keys.Cancel):
		if ok {
			p.askCancel(sel)
		}
	case key.Matches(k, keys.Revoke):
		if ok {
			p.askRevoke(sel)
		}
	case key.Matches(k, keys.Retry):
		host.setStatus("r retries a job: select one in the jobs pane (tab)")
	case key.Matches(k, keys.Follow), key.Matches(k, keys.StateFilter), key.Matches(k, keys.Flaky):
		host.setStatus("that key works in the jobs pane (tab)")
	}
	return nil
}

func (p *runnersPane) askDrain(r *runnerEntry) {
	switch r.info.State {
	case wire.RunnerDraining:
		p.c.host.setStatus("runner " + r.name + " is already draining")
	case wire.RunnerLost:
		p.c.host.setStatus("runner " + r.name + " is lost")
	default:
		name := r.info.Name
		p.c.host.ask(fmt.Sprintf("Drain runner %s? It finishes its jobs and takes no more. [y/n]", cut(r.name, 30)), func() tea.Cmd { return p.c.drain(name) })
	}
}

// askRevoke offers to revoke the runner's identity.
func (p *runnersPane) askRevoke(r *runnerEntry) {
	if r.info.Identity == "" {
		p.c.host.setStatus("runner " + r.name + " has no identity to revoke (a dispatcher older than protocol 8)")
		return
	}
	name, id := r.info.Name, r.info.Identity
	p.c.host.ask(fmt.Sprintf("Revoke runner %s (identity %s)? It is cut off for good, its jobs queued again. [y/n]",
		cut(r.name, 30), shortID(id)), func() tea.Cmd { return p.c.revoke(name, id) })
}

// askCancel offers to cancel the runner's first job.
func (p *runnersPane) askCancel(r *runnerEntry) {
	if len(r.info.Jobs) == 0 {
		p.c.host.setStatus("runner " + r.name + " has no job to cancel")
		return
	}
	info := wire.JobInfo{ID: r.info.Jobs[0], State: wire.StateRunning}
	if e := p.c.mirror.jobs[info.ID]; e != nil {
		info = e.info
	}
	p.c.askCancel(info)
}

func (p *runnersPane) ShortHelp() []key.Binding {
	k := &p.c.keys
	return []key.Binding{k.Help, k.Quit, k.NextPane, k.Open, k.Drain, k.Cancel, k.Revoke, k.Filter}
}

func (p *runnersPane) FullHelp() [][]key.Binding {
	k := &p.c.keys
	return [][]key.Binding{k.moveKeys(), {k.Open, k.Drain, k.Cancel, k.Revoke, k.Retry}, {k.Filter, k.Back}, k.generalKeys()}
}

func (p *runnersPane) view(focused bool) []string {
	st := &p.c.st
	total := len(p.c.mirror.rorder)
	title := "Runners " + countOf(len(p.shown), total)
	if p.filter != "" {
		title += " /" + cut(p.filter, 20)
	}
	out := make([]string, 0, p.rows+2)
	out = append(out, st.paneTitle(p.width, title, position(p.cursor, len(p.shown)), focused))
	rc := runnerColumns(p.width)
	if p.rows > 0 {
		out = append(out, p.header(rc))
	}
	for i := 0; i < p.rows; i++ {
		n := p.offset + i
		switch {
		case n < len(p.shown):
			out = append(out, p.row(rc, p.shown[n], n == p.cursor && focused))
		case i == 0 && total == 0:
			out = append(out, st.dim.Render(cut("  no runners connected", p.width)))
		case i == 0:
			out = append(out, st.dim.Render(cut("  no runner matches the filter", p.width)))
		default:
			out = append(out, "")
		}
	}
	return out
}

type runnerCols struct {
	name, state, beat, job, slots, done, ident, enrolled, labels int
}

func (c runnerCols) total() int {
	t := 2 + c.name + 1 + c.state + 1 + c.beat + 1 + c.job + 1 + c.slots + 1 + c.done + 1 + c.labels
	if c.ident > 0 {
		t += c.ident + 1 + c.enrolled + 1
	}
	return t
}

func runnerColumns(w int) runnerCols {
	c := runnerCols{state: 8, beat: 5, job: 16, slots: 5, done: 5, ident: 8, enrolled: 8}
	flex := w - (2 + 8 + c.state + c.beat + c.job + c.slots + c.done + c.ident + c.enrolled)
	if flex < 32 { // narrow: the names and labels matter more than the identity
		c.ident, c.enrolled = 0, 0
		flex = w - (2 + 6 + c.state + c.beat + c.job + c.slots + c.done)
	}
	c.name = max(8, min(24, flex/2))
	c.labels = max(0, flex-c.name)
	return c
}

func (p *runnersPane) header(c runnerCols) string {
	s := "  " + fit("RUNNER", c.name) + " " + fit("STATE", c.state) + " " + fitRight("BEAT", c.beat) + " " +
		fit("JOB", c.job) + " " + fitRight("SLOTS", c.slots) + " " + fitRight("DONE", c.done) + " " +
		c.identity("IDENTITY", "ENROLLED") + fit("LABELS", c.labels)
	return p.c.st.colHead.Render(fit(s, p.width))
}

func (p *runnersPane) row(c runnerCols, e *runnerEntry, selected bool) string {
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
		beat = age(p.c.now().Sub(r.LastSeen))
	}
	post := " " + fitRight(beat, c.beat) + " " + fit(p.jobText(r, c.job), c.job) + " " +
		fitRight(strconv.Itoa(len(r.Jobs))+"/"+strconv.Itoa(r.Slots), c.slots) + " " +
		fitRight(strconv.Itoa(r.Done), c.done) + " " + c.identity(shortID(r.Identity), enrolledText(p.c.now(), r.Enrolled)) +
		fit(e.labels, c.labels)
	if selected {
		return p.c.st.selected.Render(fitRow(pre.String()+state+post, c.total(), p.width))
	}
	if c.total() > p.width {
		return fit(pre.String()+state+post, p.width)
	}
	return pre.String() + p.c.st.forRunner(r.State).Render(state) + post
}

// jobText names the runner's first job by commit and branch, and counts the
// others, in w cells.
func (p *runnersPane) jobText(r *wire.RunnerInfo, w int) string {
	if len(r.Jobs) == 0 {
		return ""
	}
	job := shortID(r.Jobs[0])
	if j := p.c.mirror.jobs[r.Jobs[0]]; j != nil && j.commit != "" {
		job = j.commit
		if j.branch != "" {
			job += " " + j.branch
		}
	}
	if more := len(r.Jobs) - 1; more > 0 {
		job = cut(job, w-3) + " +" + strconv.Itoa(more)
	}
	return job
}

// enrolledText says how long ago a runner's identity enrolled ("-" when the
// dispatcher does not say).
func enrolledText(now, at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	return age(now.Sub(at)) + " ago"
}

// identity is the identity and enrolment columns with their separator, or
// nothing where they do not fit.
func (c runnerCols) identity(id, enrolled string) string {
	if c.ident == 0 {
		return ""
	}
	return fit(id, c.ident) + " " + fitRight(enrolled, c.enrolled) + " "
}
