package tui

import (
	"context"
	"os"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/eventide-ci/eventide/net/wire"
)

// Options configure a console.
type Options struct {
	// Address is the dispatcher's address for the header; empty means the one
	// the dispatcher reports in its snapshot.
	Address string
	// Hosted says the console hosts the dispatcher, so quitting stops it: the
	// header says so, and Unfinished tells the caller what was cut short.
	Hosted bool
	// TLS is how the header names the connection's TLS: the dispatcher
	// certificate's fingerprint (sha256:…), which clients elsewhere pin, or
	// how it is verified; empty for plaintext.
	TLS string
	// Now is the clock for ages and durations; nil means time.Now.
	Now func() time.Time
	// NoColor draws without colour, keeping bold, faint and reverse. The NO_COLOR
	// environment variable has the same effect.
	NoColor bool
	// Profile forces a colour profile on Run; the zero value (Unknown) detects
	// it from the terminal and the environment.
	Profile colorprofile.Profile
	// MaxFinished bounds the finished jobs kept in memory; 0 means 10,000.
	MaxFinished int
}

// DefaultMaxFinished is how many finished jobs a console keeps by default.
const DefaultMaxFinished = 10000

// pane names the part of the screen that has the focus.
type pane int

const (
	paneRunners pane = iota
	paneJobs
	paneDetail
)

// Model is the console, a tea.Model. Build it with New; it works through a
// pointer, so the model Run returns is the one that was passed in.
//
// The root holds the connection, the focus and what is drawn around the
// panes; each pane (jobsPane, runnersPane, detailPane) holds its own state,
// keys, help and drawing, and reaches the root only through host.
type Model struct {
	c      common
	o      Options
	cancel context.CancelFunc
	// after schedules a message; tests replace it to fire timers by hand.
	after func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	width, height int
	color         bool
	help          helpView
	bar           statusBar
	conn          connection
	head          header

	focus   pane
	jobs    jobsPane
	runners runnersPane
	detail  *detailPane // while a job is open

	quitting   bool
	unfinished []wire.JobInfo
}

// New builds a console over a backend. Nothing touches the network until the
// model runs.
func New(b Backend, o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxFinished <= 0 {
		o.MaxFinished = DefaultMaxFinished
	}
	if os.Getenv("NO_COLOR") != "" {
		o.NoColor = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{
		o:      o,
		cancel: cancel,
		after:  tea.Tick,
		help:   helpView{model: help.New()},
		head:   header{address: o.Address, hosted: o.Hosted, tls: o.TLS},
		focus:  paneJobs,
	}
	m.c = common{
		keys:   newKeyMap(),
		now:    o.Now,
		mirror: newMirror(o.MaxFinished),
		b:      b,
		ctx:    ctx,
		host:   m,
	}
	m.jobs.c, m.runners.c = &m.c, &m.c
	m.setColor(!o.NoColor && (o.Profile == colorprofile.Unknown || o.Profile > colorprofile.ASCII))
	return m
}

func (m *Model) setColor(on bool) {
	m.color = on
	m.c.st = newStyles(on)
	m.help.model.Styles = m.c.st.help
	m.help.lines = nil
	if m.detail != nil {
		m.detail.setStyles()
	}
}

// Unfinished lists the jobs that were queued or running when the console ended,
// newest first; read it after Run returns. A console that hosts the dispatcher
// uses it to say what its shutdown cut short.
func (m *Model) Unfinished() []wire.JobInfo { return m.unfinished }

// Close stops the model's subscription and requests. Run calls it.
func (m *Model) Close() { m.cancel() }

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.subscribe(), m.tick())
}

type tickMsg time.Time

func (m *Model) tick() tea.Cmd {
	return m.after(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update implements tea.Model. It routes: keys to the focused pane, replies to
// whoever asked, and after each message fits the panes to the screen.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.ColorProfileMsg:
		m.setColor(!m.o.NoColor && msg.Profile > colorprofile.ASCII)
	case tea.KeyPressMsg:
		cmd = m.onKey(msg)
	case subscribedMsg:
		cmd = m.onSubscribed(msg)
	case eventsMsg:
		cmd = m.onEvents(msg)
	case reconnectMsg:
		cmd = m.onReconnect(msg)
	case tickMsg:
		if !m.quitting {
			m.head.tick(m.c.mirror, m.c.now())
			cmd = m.tick()
		}
	case jobMsg:
		if m.detail != nil {
			cmd = m.detail.onJob(msg)
		}
	case logMsg:
		if m.detail != nil {
			cmd = m.detail.onLog(msg)
		}
	case actionMsg:
		cmd = m.onAction(msg)
	case bulkMsg:
		m.onBulk(msg)
	}
	m.layout()
	return m, cmd
}

// refresh recomputes what the header and the tables show after the mirror or
// a filter changed, once per message, so that View only draws.
func (m *Model) refresh() {
	m.c.mirror.tidy()
	m.head.refresh(m.c.mirror, m.c.now())
	m.jobs.refresh()
	m.runners.refresh()
}

// focused is the pane that has the focus.
func (m *Model) focused() component {
	switch {
	case m.focus == paneRunners:
		return &m.runners
	case m.focus == paneDetail && m.detail != nil:
		return m.detail
	}
	return &m.jobs
}

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	if m.bar.confirm != nil {
		return m.onConfirmKey(k)
	}
	if m.bar.input != inputNone {
		return m.onInputKey(k)
	}
	m.bar.status = ""
	keys := &m.c.keys
	switch {
	case key.Matches(k, keys.Quit):
		return m.quit()
	case key.Matches(k, keys.Help):
		m.help.model.ShowAll = !m.help.model.ShowAll
		return nil
	case key.Matches(k, keys.NextPane):
		m.cyclePane(1)
		return nil
	case key.Matches(k, keys.PrevPane):
		m.cyclePane(-1)
		return nil
	case key.Matches(k, keys.RetryFailed) && m.focus == paneRunners:
		// R works from either list, on the failed jobs the jobs table shows.
		m.jobs.askRetryFailed()
		return nil
	}
	return m.focused().update(k)
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	m.unfinished = m.c.mirror.active()
	m.cancel()
	return tea.Quit
}

func (m *Model) cyclePane(d int) {
	panes := []pane{paneRunners, paneJobs}
	if m.detail != nil {
		panes = append(panes, paneDetail)
	}
	i := 0
	for j, p := range panes {
		if p == m.focus {
			i = j
		}
	}
	m.focus = panes[(i+d+len(panes))%len(panes)]
}

// openJob implements host.
func (m *Model) openJob(id string) tea.Cmd {
	d, cmd := newDetailPane(&m.c, id)
	m.detail, m.focus = d, paneDetail
	return cmd
}

// closeJob implements host.
func (m *Model) closeJob() {
	m.detail, m.focus = nil, paneJobs
}
