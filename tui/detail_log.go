package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

type logMsg struct {
	id    string
	gen   int
	chunk wire.LogChunk
	err   error
}

func (d *detailPane) resetLog(attempt int) {
	d.c.logGen++
	d.log = logState{gen: d.c.logGen, attempt: attempt}
	d.vp.SetContentLines(nil)
	d.vp.GotoTop()
	d.vp.SetXOffset(0)
	d.matches = 0
}

// loadLog starts reading the log, unless the job is queued and so has no
// output yet: its output events will start the log when it runs.
func (d *detailPane) loadLog() tea.Cmd {
	if d.job.State == wire.StateQueued {
		d.log.loaded = true
		d.logChanged()
		return nil
	}
	return d.fetchLog()
}

func (d *detailPane) fetchLog() tea.Cmd {
	l := &d.log
	if l.fetching {
		l.again = true
		return nil
	}
	l.fetching, l.again = true, false
	b, ctx, gen := d.c.b, d.c.ctx, l.gen
	q := wire.LogQuery{JobID: d.id, Attempt: l.attempt, Offset: l.end}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		c, err := b.Log(ctx, q)
		return logMsg{id: q.JobID, gen: gen, chunk: c, err: err}
	}
}

// output takes the job's output as the event stream brings it.
func (d *detailPane) output(o *wire.Output) tea.Cmd {
	l := &d.log
	if l.attempt == 0 {
		l.attempt = o.Attempt
	}
	switch {
	case o.Attempt < l.attempt:
		return nil
	case o.Attempt > l.attempt:
		d.resetLog(o.Attempt)
		return d.fetchLog()
	case !l.loaded || o.Offset > l.end:
		// Output before the first page or past a gap: the store has it all.
		return d.fetchLog()
	}
	d.appendLog(o.Offset, o.Data)
	return nil
}

func (d *detailPane) onLog(msg logMsg) tea.Cmd {
	if d.id != msg.id || d.log.gen != msg.gen {
		return nil
	}
	l := &d.log
	l.fetching = false
	if msg.err != nil {
		l.err = msg.err
		if l.again {
			return d.fetchLog()
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
			d.appendLog(from, "")
			if c.Offset+int64(len(c.Data)) <= from {
				return d.fetchLog()
			}
		}
	}
	start := l.end
	d.appendLog(c.Offset, c.Data)
	if c.Offset >= start && c.Next > start {
		// Data may hold a marker (output dropped or lost): read on from Next.
		l.end = c.Next
	}
	l.final = c.Final && l.end >= c.End
	if (len(c.Data) > 0 && l.end < c.End) || l.again {
		return d.fetchLog()
	}
	return nil
}

// appendLog places data, which starts at offset off, in the log.
func (d *detailPane) appendLog(off int64, data string) {
	l := &d.log
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
		d.logChanged()
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
func (d *detailPane) logChanged() {
	d.vp.SetContentLines(d.log.lines)
	if d.search != "" {
		d.highlight()
	}
	if d.follow {
		d.vp.GotoBottom()
	}
}

// setSearch highlights a text in the log; "" clears it.
func (d *detailPane) setSearch(text string) {
	d.search = text
	if text == "" {
		d.vp.ClearHighlights()
		d.matches = 0
		return
	}
	d.highlight()
	if d.matches > 0 {
		d.follow = false
	}
}

func (d *detailPane) highlight() {
	matches, last := findFold(d.log.lines, d.search)
	d.matches = len(matches)
	d.vp.ClearHighlights()
	d.vp.SetHighlights(matches)
	if len(matches) > 0 && last < d.vp.YOffset() {
		// The viewport looks for a match from where it is down; with none
		// below, wrap around to the first, as less does.
		d.vp.HighlightNext()
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
