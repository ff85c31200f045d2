package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

type connState int

const (
	connConnecting connState = iota
	connUp
	connLost
)

// Reconnection backs off from minBackoff, doubling up to maxBackoff.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// connection is the root's subscription to the dispatcher. Each subscription
// has a generation, so that the messages of one that was replaced are dropped.
type connection struct {
	state     connState
	connected bool // at least once, to tell "connecting" from "lost"
	err       error
	gen       int
	cancel    context.CancelFunc
	backoff   time.Duration
	snapshots int // snapshots received
}

type (
	subscribedMsg struct {
		gen  int
		snap *wire.Snapshot
		ch   <-chan wire.Events
		err  error
	}
	eventsMsg struct {
		gen     int
		ch      <-chan wire.Events
		batches []wire.Events
		closed  bool
	}
	reconnectMsg struct{ gen int }
)

// maxCoalesce bounds the events gathered into one message, so that one Update
// stays short even when the dispatcher floods.
const maxCoalesce = 4096

func (m *Model) subscribe() tea.Cmd {
	if m.conn.cancel != nil {
		m.conn.cancel()
	}
	m.conn.gen++
	gen := m.conn.gen
	ctx, cancel := context.WithCancel(m.c.ctx)
	m.conn.cancel = cancel
	b := m.c.b
	return func() tea.Msg {
		snap, ch, err := b.Subscribe(ctx)
		return subscribedMsg{gen: gen, snap: snap, ch: ch, err: err}
	}
}

// listen waits for the next batch, then takes whatever else is already queued,
// so that a burst becomes one update and one frame.
func listen(gen int, ch <-chan wire.Events) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{gen: gen, ch: ch, closed: true}
		}
		msg := eventsMsg{gen: gen, ch: ch, batches: []wire.Events{ev}}
		n := len(ev.Events)
		for n < maxCoalesce {
			select {
			case ev, ok := <-ch:
				if !ok {
					msg.closed = true
					return msg
				}
				msg.batches = append(msg.batches, ev)
				n += len(ev.Events)
			default:
				return msg
			}
		}
		return msg
	}
}

func (m *Model) onSubscribed(msg subscribedMsg) tea.Cmd {
	if msg.gen != m.conn.gen || m.quitting {
		return nil
	}
	if msg.err == nil && (msg.snap == nil || msg.ch == nil) {
		msg.err = fmt.Errorf("subscribe: no snapshot")
	}
	if msg.err != nil {
		return m.lost(msg.err)
	}
	c := &m.conn
	c.state, c.connected, c.err, c.backoff = connUp, true, nil, 0
	c.snapshots++
	m.head.server, m.head.addr, m.head.started = clean(msg.snap.Server), clean(msg.snap.Address), msg.snap.StartedAt
	m.c.mirror.reset(msg.snap)
	m.refresh()
	cmds := []tea.Cmd{listen(msg.gen, msg.ch)}
	if m.detail != nil {
		cmds = append(cmds, m.detail.resync()...)
	}
	return tea.Batch(cmds...)
}

// lost shows the connection as lost and schedules another subscription. The
// state on screen stays until a new snapshot replaces it, so the user still sees
// the last known picture.
func (m *Model) lost(err error) tea.Cmd {
	c := &m.conn
	c.state, c.err = connLost, err
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	d := max(c.backoff, minBackoff)
	c.backoff = min(2*d, maxBackoff)
	gen := c.gen
	return m.after(d, func(time.Time) tea.Msg { return reconnectMsg{gen: gen} })
}

func (m *Model) onReconnect(msg reconnectMsg) tea.Cmd {
	if msg.gen == m.conn.gen && m.conn.state == connLost && !m.quitting {
		return m.subscribe()
	}
	return nil
}

func (m *Model) onEvents(msg eventsMsg) tea.Cmd {
	if msg.gen != m.conn.gen || m.quitting {
		return nil
	}
	var cmds []tea.Cmd
	dropped := false
	for _, batch := range msg.batches {
		for i := range batch.Events {
			cmds = append(cmds, m.apply(&batch.Events[i]))
		}
		if batch.Dropped > 0 {
			dropped = true
		}
	}
	m.refresh()
	switch {
	case msg.closed:
		cmds = append(cmds, m.lost(nil))
	case dropped:
		// The dispatcher left events out because the console fell behind: only a
		// fresh snapshot is sure to be right.
		cmds = append(cmds, m.subscribe())
	default:
		cmds = append(cmds, listen(msg.gen, msg.ch))
	}
	return tea.Batch(cmds...)
}

// apply takes one event into the mirror, and to the detail pane when it is
// about the open job.
func (m *Model) apply(ev *wire.Event) tea.Cmd {
	switch ev.Kind {
	case wire.EventJob:
		if ev.Job == nil {
			return nil
		}
		m.c.mirror.putJob(*ev.Job)
		if m.detail != nil && m.detail.id == ev.Job.ID {
			return m.detail.jobChanged(*ev.Job)
		}
	case wire.EventRunner:
		if ev.Runner != nil {
			m.c.mirror.putRunner(*ev.Runner)
		}
	case wire.EventOutput:
		if ev.Output != nil && m.detail != nil && m.detail.id == ev.Output.JobID {
			return m.detail.output(ev.Output)
		}
	}
	return nil
}
