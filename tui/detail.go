package tui

import (
	"context"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// detailPane is one job opened full screen: what is known of it, its
// attempts, and its log in a viewport. It exists while the job is open.
type detailPane struct {
	c        *common
	id       string
	job      wire.JobInfo
	attempts []wire.AttemptInfo
	jobErr   error
	// fetchingJob and again keep at most one job.get in flight, and one more
	// queued behind it when the job changed meanwhile.
	fetchingJob bool
	jobAgain    bool
	log         logState
	follow      bool
	search      string
	matches     int
	vp          viewport.Model
	width       int
	height      int
}

// newDetailPane opens job id, starting from what the mirror holds of it, and
// returns the requests that fetch the rest.
func newDetailPane(c *common, id string) (*detailPane, tea.Cmd) {
	d := &detailPane{c: c, id: id, follow: true, vp: viewport.New()}
	d.setStyles()
	if e := c.mirror.jobs[id]; e != nil {
		d.job = e.info
	} else {
		d.job = wire.JobInfo{ID: id}
	}
	d.resetLog(d.job.Attempt)
	return d, tea.Batch(d.fetchJob(), d.loadLog())
}

// setStyles gives the viewport the current styles for matches.
func (d *detailPane) setStyles() {
	d.vp.HighlightStyle = d.c.st.logMatch
	d.vp.SelectedHighlightStyle = d.c.st.logMatchSel
}

// setSize leaves the log what the job's summary above it does not take.
func (d *detailPane) setSize(width, height int) {
	d.width, d.height = width, height
	d.vp.SetWidth(width)
	d.vp.SetHeight(max(1, height-len(d.info())-2))
	if d.follow {
		d.vp.GotoBottom()
	}
}

// resync catches up after a new snapshot: events may have been missed.
func (d *detailPane) resync() []tea.Cmd {
	if e := d.c.mirror.jobs[d.id]; e != nil {
		if c := d.jobChanged(e.info); c != nil {
			return []tea.Cmd{c, d.fetchJob()}
		}
	}
	return []tea.Cmd{d.fetchJob(), d.loadLog()}
}

type jobMsg struct {
	id   string
	info wire.JobInfo
	err  error
}

func (d *detailPane) fetchJob() tea.Cmd {
	if d.fetchingJob {
		d.jobAgain = true
		return nil
	}
	d.fetchingJob, d.jobAgain = true, false
	b, ctx, id := d.c.b, d.c.ctx, d.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := b.JobGet(ctx, wire.JobGet{JobID: id})
		return jobMsg{id: id, info: info, err: err}
	}
}

func (d *detailPane) onJob(msg jobMsg) tea.Cmd {
	if d.id != msg.id {
		return nil
	}
	d.fetchingJob = false
	var cmd tea.Cmd
	if msg.err != nil {
		d.jobErr = msg.err
	} else {
		d.jobErr = nil
		d.attempts = msg.info.Attempts
		// The event stream is the authority on the job's state; the reply only
		// stands in for a job the console does not hold.
		if e := d.c.mirror.jobs[d.id]; e != nil {
			d.job = e.info
		} else {
			msg.info.Attempts = nil
			cmd = d.jobChanged(msg.info)
		}
	}
	if d.jobAgain {
		return tea.Batch(cmd, d.fetchJob())
	}
	return cmd
}

// jobChanged follows the open job through its states and attempts.
func (d *detailPane) jobChanged(j wire.JobInfo) tea.Cmd {
	old := d.job
	d.job = j
	var cmds []tea.Cmd
	if j.Attempt != old.Attempt || j.State != old.State {
		// Each change adds to or ends an attempt in the history.
		cmds = append(cmds, d.fetchJob())
	}
	if j.Attempt > d.log.attempt {
		d.resetLog(j.Attempt)
		cmds = append(cmds, d.loadLog())
	} else if j.State.Final() && j.Attempt > 0 && !d.log.final {
		// The last output may have been stored after the last event we saw.
		cmds = append(cmds, d.fetchLog())
	}
	return tea.Batch(cmds...)
}

func (d *detailPane) update(k tea.KeyPressMsg) tea.Cmd {
	keys := &d.c.keys
	if d.scroll(k) {
		return nil
	}
	switch {
	case key.Matches(k, keys.Back):
		if d.search != "" {
			d.setSearch("")
			return nil
		}
		d.c.host.closeJob()
	case key.Matches(k, keys.Follow):
		d.toggleFollow()
	case key.Matches(k, keys.Search):
		d.c.host.startInput(inputSearch, d.search)
	case key.Matches(k, keys.Retry):
		return d.c.retry(d.id)
	case key.Matches(k, keys.Cancel):
		d.c.askCancel(d.job)
	case key.Matches(k, keys.Tests):
		return d.c.host.openTests(d.job)
	case key.Matches(k, keys.Flaky):
		return d.c.host.openFlaky(d.job.Repo)
	case key.Matches(k, keys.Open):
	case key.Matches(k, keys.Drain), key.Matches(k, keys.RetryFailed):
		d.c.host.setStatus("that key works in the lists: esc to go back")
	}
	return nil
}

// scroll handles the keys that move through the log; it reports whether k was
// one. Moving up stops following the tail; going to the bottom follows it.
func (d *detailPane) scroll(k tea.KeyPressMsg) bool {
	keys, vp := &d.c.keys, &d.vp
	switch {
	case key.Matches(k, keys.Up):
		vp.ScrollUp(1)
		d.follow = false
	case key.Matches(k, keys.Down):
		vp.ScrollDown(1)
	case key.Matches(k, keys.Top):
		vp.GotoTop()
		d.follow = false
	case key.Matches(k, keys.Bottom):
		vp.GotoBottom()
		d.follow = true
	case key.Matches(k, keys.PageUp):
		vp.PageUp()
		d.follow = false
	case key.Matches(k, keys.PageDown):
		vp.PageDown()
	case key.Matches(k, keys.HalfUp):
		vp.HalfPageUp()
		d.follow = false
	case key.Matches(k, keys.HalfDown):
		vp.HalfPageDown()
	case key.Matches(k, keys.Left):
		vp.ScrollLeft(8)
	case key.Matches(k, keys.Right):
		vp.ScrollRight(8)
	case key.Matches(k, keys.NextMatch):
		vp.HighlightNext()
		d.follow = false
	case key.Matches(k, keys.PrevMatch):
		vp.HighlightPrevious()
		d.follow = false
	default:
		return false
	}
	return true
}

func (d *detailPane) toggleFollow() {
	d.follow = !d.follow
	if d.follow {
		d.vp.GotoBottom()
		d.c.host.setStatus("following the log")
	} else {
		d.c.host.setStatus("stopped following the log")
	}
}

func (d *detailPane) ShortHelp() []key.Binding {
	k := &d.c.keys
	return []key.Binding{k.Help, k.Quit, k.Back, k.Tests, k.Flaky, k.Follow, k.Retry, k.Cancel, k.Search, k.NextMatch}
}

func (d *detailPane) FullHelp() [][]key.Binding {
	k := &d.c.keys
	return [][]key.Binding{
		k.moveKeys(),
		{k.HalfUp, k.HalfDown, k.Left, k.Right, k.Follow},
		{k.Search, k.NextMatch, k.Retry, k.Cancel, k.Back},
		{k.Tests, k.Flaky},
		k.generalKeys(),
	}
}
