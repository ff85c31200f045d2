package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/eventide-ci/eventide/net/wire"
)

// The log kept for the detail view is bounded: the viewport measures every
// line on each change, and the head of a huge log is rarely what anyone wants.
const (
	maxLogLines  = 5000
	maxLogBytes  = 1 << 20 // read at most this much of a log's tail
	maxLineBytes = 64 << 10
	maxLineCells = 1000
	maxMatches   = 10000
)

// detailState is the job open in the detail view.
type detailState struct {
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
}

// logState is the part of an attempt's output held for the viewport. Output is
// placed by offset, so a chunk that arrives both as an event and in a fetched
// page is shown once, and a gap is filled by fetching.
type logState struct {
	gen      int // bumped when the log is reset, to drop stale replies
	attempt  int
	lines    []string
	tail     string // raw bytes of the unfinished last line
	hasTail  bool   // lines ends with the cleaned tail
	end      int64  // offset of the next byte expected
	stored   int64  // end of the stored output, as last reported
	loaded   bool   // a first page arrived
	fetching bool
	again    bool // fetch once more when the current fetch returns
	final    bool
	err      error
}

func (m *Model) openDetail(id string) tea.Cmd {
	d := &detailState{id: id, follow: true}
	if e := m.mirror.jobs[id]; e != nil {
		d.job = e.info
	} else {
		d.job = wire.JobInfo{ID: id}
	}
	m.detail = d
	m.focus = paneDetail
	m.search("")
	m.resetLog(d.job.Attempt)
	return tea.Batch(m.fetchJob(), m.loadLog())
}

// loadLog starts reading the log, unless the job is queued and so has no
// output yet: its output events will start the log when it runs.
func (m *Model) loadLog() tea.Cmd {
	d := m.detail
	if d.job.State == wire.StateQueued {
		d.log.loaded = true
		m.logChanged()
		return nil
	}
	return m.fetchLog()
}

func (m *Model) closeDetail() {
	m.detail = nil
	m.focus = paneJobs
	m.vp.SetContentLines(nil)
	m.vp.GotoTop()
}

func (m *Model) resetLog(attempt int) {
	d := m.detail
	m.logGen++
	d.log = logState{gen: m.logGen, attempt: attempt}
	m.vp.SetContentLines(nil)
	m.vp.GotoTop()
	m.vp.SetXOffset(0)
	d.matches = 0
}

// detailResync catches up after a new snapshot: events may have been missed.
func (m *Model) detailResync() []tea.Cmd {
	d := m.detail
	if e := m.mirror.jobs[d.id]; e != nil {
		if c := m.detailJobChanged(e.info); c != nil {
			return []tea.Cmd{c, m.fetchJob()}
		}
	}
	return []tea.Cmd{m.fetchJob(), m.loadLog()}
}

func (m *Model) fetchJob() tea.Cmd {
	d := m.detail
	if d.fetchingJob {
		d.jobAgain = true
		return nil
	}
	d.fetchingJob, d.jobAgain = true, false
	b, ctx, id := m.b, m.ctx, d.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := b.Job(ctx, id)
		return jobMsg{id: id, info: info, err: err}
	}
}

func (m *Model) fetchLog() tea.Cmd {
	d := m.detail
	l := &d.log
	if l.fetching {
		l.again = true
		return nil
	}
	l.fetching, l.again = true, false
	b, ctx, gen := m.b, m.ctx, l.gen
	q := wire.LogQuery{JobID: d.id, Attempt: l.attempt, Offset: l.end}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		c, err := b.Log(ctx, q)
		return logMsg{id: q.JobID, gen: gen, chunk: c, err: err}
	}
}

func (m *Model) onJob(msg jobMsg) tea.Cmd {
	d := m.detail
	if d == nil || d.id != msg.id {
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
		if e := m.mirror.jobs[d.id]; e != nil {
			d.job = e.info
		} else {
			msg.info.Attempts = nil
			cmd = m.detailJobChanged(msg.info)
		}
	}
	if d.jobAgain {
		return tea.Batch(cmd, m.fetchJob())
	}
	return cmd
}

// detailJobChanged follows the open job through its states and attempts.
func (m *Model) detailJobChanged(j wire.JobInfo) tea.Cmd {
	d := m.detail
	old := d.job
	d.job = j
	var cmds []tea.Cmd
	if j.Attempt != old.Attempt || j.State != old.State {
		// Each change adds to or ends an attempt in the history.
		cmds = append(cmds, m.fetchJob())
	}
	if j.Attempt > d.log.attempt {
		m.resetLog(j.Attempt)
		cmds = append(cmds, m.loadLog())
	} else if j.State.Final() && j.Attempt > 0 && !d.log.final {
		// The last output may have been stored after the last event we saw.
		cmds = append(cmds, m.fetchLog())
	}
	return tea.Batch(cmds...)
}

func (m *Model) detailOutput(o *wire.Output) tea.Cmd {
	d := m.detail
	l := &d.log
	if l.attempt == 0 {
		l.attempt = o.Attempt
	}
	switch {
	case o.Attempt < l.attempt:
		return nil
	case o.Attempt > l.attempt:
		m.resetLog(o.Attempt)
		return m.fetchLog()
	case !l.loaded || o.Offset > l.end:
		// Output before the first page or past a gap: the store has it all.
		return m.fetchLog()
	}
	m.appendLog(o.Offset, o.Data)
	return nil
}

func (m *Model) onLog(msg logMsg) tea.Cmd {
	d := m.detail
	if d == nil || d.id != msg.id || d.log.gen != msg.gen {
		return nil
	}
	l := &d.log
	l.fetching = false
	if msg.err != nil {
		l.err = msg.err
		if l.again {
			return m.fetchLog()
		}
		return nil
	}
	l.err = nil
	c := msg.chunk
	if l.attempt == 0 {
		l.attempt = c.Attempt
	}
	l.stored = c.End
	if !l.loaded {
		l.loaded = true
		if from := c.End - maxLogBytes; from > max(l.end, c.Start, c.Offset) {
			// Too long to hold: keep the tail, where the failures are.
			m.appendLog(from, "")
			if c.Offset+int64(len(c.Data)) <= from {
				return m.fetchLog()
			}
		}
	}
	m.appendLog(c.Offset, c.Data)
	l.final = c.Final && l.end >= c.End
	if (len(c.Data) > 0 && l.end < c.End) || l.again {
		return m.fetchLog()
	}
	return nil
}

// appendLog places data, which starts at offset off, in the log.
func (m *Model) appendLog(off int64, data string) {
	l := &m.detail.log
	changed := false
	if off > l.end {
		l.endLine()
		l.lines = append(l.lines, fmt.Sprintf("… %s of earlier output not shown", bytesText(off-l.end)))
		l.end = off
		changed = true
	}
	if off < l.end {
		skip := l.end - off
		if skip >= int64(len(data)) {
			data = ""
		} else {
			data = data[skip:]
		}
	}
	if data != "" {
		l.end += int64(len(data))
		l.add(data)
		changed = true
	}
	if changed {
		m.logChanged()
	}
}

// endLine finishes an unfinished last line, before a marker.
func (l *logState) endLine() {
	l.tail, l.hasTail = "", false
}

func (l *logState) add(data string) {
	if l.hasTail {
		l.lines = l.lines[:len(l.lines)-1]
	}
	s := l.tail + data
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, logLine(s[:i]))
		s = s[i+1:]
	}
	if len(s) > maxLineBytes {
		l.lines = append(l.lines, logLine(s))
		s = ""
	}
	l.tail, l.hasTail = s, s != ""
	if l.hasTail {
		l.lines = append(l.lines, logLine(s))
	}
	if over := len(l.lines) - maxLogLines; over > 0 {
		l.lines = slices.Clone(l.lines[over:])
	}
}

func logLine(s string) string {
	s = clean(strings.TrimSuffix(s, "\r"))
	if len(s) > maxLineCells && ansi.StringWidth(s) > maxLineCells {
		s = ansi.Truncate(s, maxLineCells, "…")
	}
	return s
}

// logChanged hands the log to the viewport.
func (m *Model) logChanged() {
	d := m.detail
	m.vp.SetContentLines(d.log.lines)
	if d.search != "" {
		m.highlight()
	}
	if d.follow {
		m.vp.GotoBottom()
	}
}

// search highlights a text in the log; "" clears it.
func (m *Model) search(text string) {
	d := m.detail
	if d == nil {
		return
	}
	d.search = text
	if text == "" {
		m.vp.ClearHighlights()
		d.matches = 0
		return
	}
	m.highlight()
	if d.matches > 0 {
		d.follow = false
	}
}

func (m *Model) highlight() {
	d := m.detail
	matches, last := findFold(d.log.lines, d.search)
	d.matches = len(matches)
	m.vp.ClearHighlights()
	m.vp.SetHighlights(matches)
	if len(matches) > 0 && last < m.vp.YOffset() {
		// The viewport looks for a match from where it is down; with none
		// below, wrap around to the first, as less does.
		m.vp.HighlightNext()
	}
}

// findFold finds needle in the lines as the viewport joins them, ignoring ASCII
// case; byte offsets stay those of the original text, as the viewport needs.
// It also returns the line of the last match.
func findFold(lines []string, needle string) (out [][]int, last int) {
	if needle == "" {
		return nil, -1
	}
	n := []byte(needle)
	for i, c := range n {
		n[i] = lower(c)
	}
	base := 0
	last = -1
	for ln, line := range lines {
		for i := 0; i+len(n) <= len(line); i++ {
			if !hasFold(line[i:], n) {
				continue
			}
			out = append(out, []int{base + i, base + i + len(n)})
			last = ln
			if len(out) >= maxMatches {
				return out, last
			}
			i += len(n) - 1
		}
		base += len(line) + 1
	}
	return out, last
}

func hasFold(s string, lowerPrefix []byte) bool {
	for j, c := range lowerPrefix {
		if lower(s[j]) != c {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (m *Model) detailKey(k tea.KeyPressMsg) tea.Cmd {
	d := m.detail
	vp := &m.vp
	switch {
	case key.Matches(k, m.keys.Back):
		if d.search != "" {
			m.search("")
			return nil
		}
		m.closeDetail()
	case key.Matches(k, m.keys.Up):
		vp.ScrollUp(1)
		d.follow = false
	case key.Matches(k, m.keys.Down):
		vp.ScrollDown(1)
	case key.Matches(k, m.keys.Top):
		vp.GotoTop()
		d.follow = false
	case key.Matches(k, m.keys.Bottom):
		vp.GotoBottom()
		d.follow = true
	case key.Matches(k, m.keys.PageUp):
		vp.PageUp()
		d.follow = false
	case key.Matches(k, m.keys.PageDown):
		vp.PageDown()
	case key.Matches(k, m.keys.HalfUp):
		vp.HalfPageUp()
		d.follow = false
	case key.Matches(k, m.keys.HalfDown):
		vp.HalfPageDown()
	case key.Matches(k, m.keys.Left):
		vp.ScrollLeft(8)
	case key.Matches(k, m.keys.Right):
		vp.ScrollRight(8)
	case key.Matches(k, m.keys.Follow):
		d.follow = !d.follow
		if d.follow {
			vp.GotoBottom()
			m.setStatus("following the log")
		} else {
			m.setStatus("stopped following the log")
		}
	case key.Matches(k, m.keys.Search):
		m.startInput(inputSearch, d.search)
	case key.Matches(k, m.keys.NextMatch):
		vp.HighlightNext()
		d.follow = false
	case key.Matches(k, m.keys.PrevMatch):
		vp.HighlightPrevious()
		d.follow = false
	case key.Matches(k, m.keys.Retry):
		return m.retry(d.id)
	case key.Matches(k, m.keys.Cancel):
		m.askCancel(d.job)
	case key.Matches(k, m.keys.Open):
	case key.Matches(k, m.keys.Drain), key.Matches(k, m.keys.RetryFailed):
		m.setStatus("that key works in the lists: esc to go back")
	}
	return nil
}
