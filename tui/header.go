package tui

import (
	"fmt"
	"strconv"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/eventide-ci/eventide/net/wire"
)

// header is what the two lines at the top show: the dispatcher, the state of
// the connection to it, throughput, and counts of runners and jobs.
type header struct {
	// address and hosted come from Options: an address given there wins
	// over what the dispatcher reports.
	address string
	hosted  bool
	tls     string // Options.TLS
	server  string
	addr    string
	started time.Time
	counts  counts
	spark   []int
	sparkAt time.Time
}

// refresh recounts after the mirror changed.
func (h *header) refresh(mr *mirror, now time.Time) {
	h.counts = mr.counts()
	h.sparkAt = now.Truncate(sparkBucket)
	h.spark = mr.throughput(now)
}

// tick moves the sparkline on when a new bucket starts.
func (h *header) tick(mr *mirror, now time.Time) {
	if b := now.Truncate(sparkBucket); !b.Equal(h.sparkAt) {
		h.sparkAt = b
		h.spark = mr.throughput(now)
	}
}

func (h *header) view(width int, st *styles, conn *connection, now time.Time) []string {
	return []string{h.top(width, st, conn, now), h.countsLine(width, st)}
}

// headerTop names the dispatcher and says how the connection to it is, with
// the throughput on the right.
func (h *header) top(width int, st *styles, conn *connection, now time.Time) string {
	addr := h.address
	if addr == "" {
		addr = h.addr
	}
	if addr == "" {
		addr = h.server
	}
	l := newRow(width)
	l.add(st.brand, " eventide ")
	l.add(st.address, " "+addr)
	if h.hosted {
		l.add(st.dim, " (hosted)")
	}
	if !h.started.IsZero() {
		l.add(st.dim, "  up ").add(plain, span(now.Sub(h.started)))
	}
	switch conn.state {
	case connConnecting:
		l.add(st.warn, "  connecting…")
	case connLost:
		if conn.connected {
			l.add(st.warn, "  connection lost, reconnecting…")
		} else {
			l.add(st.warn, "  cannot connect, retrying…")
		}
		if conn.err != nil {
			l.add(st.dim, " "+clean(conn.err.Error()))
		}
	}
	if h.tls != "" {
		// Whole, when the line has room: it is what a runner elsewhere pins.
		l.add(st.dim, "  tls "+h.tls)
	}
	h.addSpark(l, st)
	return l.String()
}

// addSpark puts the sparkline in the room the line leaves, up to all its
// buckets.
func (h *header) addSpark(l *row, st *styles) {
	room := l.room() - 2
	if h.spark == nil || room <= 0 {
		return
	}
	label := func(n, buckets int) string {
		return fmt.Sprintf(" %d done in %s ", n, span(time.Duration(buckets)*sparkBucket))
	}
	n := min(len(h.spark), room-ansi.StringWidth(label(9999, len(h.spark))))
	if n < 8 {
		return
	}
	recent := h.spark[len(h.spark)-n:]
	total := 0
	for _, c := range recent {
		total += c
	}
	lb := label(total, n)
	l.add(plain, spaces(l.room()-n-ansi.StringWidth(lb)))
	l.add(st.spark, sparkline(recent))
	l.add(st.dim, lb)
}

// countsLine counts runners and jobs by state.
func (h *header) countsLine(width int, st *styles) string {
	c := h.counts
	l := newRow(width)
	l.add(plain, " runners ")
	l.add(st.countNum, strconv.Itoa(c.live)).add(plain, " live ")
	lost := st.forRunner(wire.RunnerLost)
	if c.lost == 0 {
		lost = st.dim
	}
	l.add(lost, strconv.Itoa(c.lost)+" lost")
	l.add(plain, "   jobs ")
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
			l.add(plain, " ")
		}
		s := st.forJob(p.state)
		if p.n == 0 {
			s = st.dim
		}
		l.add(s, strconv.Itoa(p.n)+" "+p.name)
	}
	return l.String()
}
