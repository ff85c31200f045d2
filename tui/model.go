package tui

import (
	"context"
	"fmt"
	"os"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
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

type pane int

const (
	paneRunners pane = iota
	paneJobs
	paneDetail
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
	// requestTimeout bounds a request so that a dispatcher that stopped answering
	// does not leave goroutines behind.
	requestTimeout = 30 * time.Second
)

// listState is a table's cursor and filter. The selection is remembered by id
// as well as by row, so that a burst of new jobs does not slide a different job
// under the cursor just before the user presses x.
type listState struct {
	cursor int
	offset int
	sel    string
	filter string
	state  int // index into stateFilters; jobs only
}

type inputKind int

const (
	inputNone inputKind = iota
	inputFilter
	inputSearch
)

type confirmState struct {
	text string
	yes  func() tea.Cmd
}

// Model is the console, a tea.Model. Build it with New; it works through a
// pointer, so the model Run returns is the one that was passed in.
type Model struct {
	b      Backend
	o      Options
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc
	// after schedules a message; tests replace it to fire timers by hand.
	after func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	width, height int
	color         bool
	st            styles
	keys          keyMap
	help          help.Model
	helpCache     helpCache

	conn      connState
	connected bool // at least once, to tell "connecting" from "lost"
	connErr   error
	subGen    int
	subCancel context.CancelFunc
	backoff   time.Duration
	snapshots int // snapshots received

	server  string
	addr    string
	started time.Time

	mirror      *mirror
	jobsView    []*jobEntry
	runnersView []*runnerEntry
	counts      counts
	spark       []int
	sparkAt     time.Time

	focus      pane
	jobs       listState
	runners    listState
	followNew  bool // the jobs cursor stays on the newest job
	input      inputKind
	inputText  string
	confirm    *confirmState
	status     string
	statusErr  bool
	detail     *detailState
	logGen     int
	vp         viewport.Model
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
		b:      b,
		o:      o,
		now:    o.Now,
		ctx:    ctx,
		cancel: cancel,
		after:  tea.Tick,
		keys:   newKeyMap(),
		help:   help.New(),
		mirror: newMirror(o.MaxFinished),
		focus:  paneJobs,
		vp:     viewport.New(),
	}
	m.setColor(!o.NoColor && (o.Profile == colorprofile.Unknown || o.Profile > colorprofile.ASCII))
	return m
}

func (m *Model) setColor(on bool) {
	m.color = on
	m.st = newStyles(on)
	m.help.Styles = m.st.help
	m.helpCache = helpCache{}
	m.vp.HighlightStyle = m.st.logMatch
	m.vp.SelectedHighlightStyle = m.st.logMatchSel
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
	tickMsg      time.Time
	jobMsg       struct {
		id   string
		info wire.JobInfo
		err  error
	}
	logMsg struct {
		id    string
		gen   int
		chunk wire.LogChunk
		err   error
	}
	actionMsg struct {
		verb   string // retry, cancel, drain
		target string // a job id or a runner name
		info   *wire.JobInfo
		err    error
	}
	bulkMsg struct {
		ok    []wire.JobInfo
		fails int
		err   error
	}
)

// maxCoalesce bounds the events gathered into one message, so that one Update
// stays short even when the dispatcher floods.
const maxCoalesce = 4096

func (m *Model) subscribe() tea.Cmd {
	if m.subCancel != nil {
		m.subCancel()
	}
	m.subGen++
	gen := m.subGen
	ctx, cancel := context.WithCancel(m.ctx)
	m.subCancel = cancel
	b := m.b
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

func (m *Model) tick() tea.Cmd {
	return m.after(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update implements tea.Model.
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
		if msg.gen == m.subGen && m.conn == connLost && !m.quitting {
			cmd = m.subscribe()
		}
	case tickMsg:
		if !m.quitting {
			m.onTick()
			cmd = m.tick()
		}
	case jobMsg:
		cmd = m.onJob(msg)
	case logMsg:
		cmd = m.onLog(msg)
	case actionMsg:
		cmd = m.onAction(msg)
	case bulkMsg:
		m.onBulk(msg)
	}
	m.layout()
	return m, cmd
}

func (m *Model) onSubscribed(msg subscribedMsg) tea.Cmd {
	if msg.gen != m.subGen || m.quitting {
		return nil
	}
	if msg.err == nil && (msg.snap == nil || msg.ch == nil) {
		msg.err = fmt.Errorf("subscribe: no snapshot")
	}
	if msg.err != nil {
		return m.lost(msg.err)
	}
	m.conn, m.connected, m.connErr, m.backoff = connUp, true, nil, 0
	m.snapshots++
	m.server, m.addr, m.started = clean(msg.snap.Server), clean(msg.snap.Address), msg.snap.StartedAt
	m.mirror.reset(msg.snap)
	m.refresh()
	cmds := []tea.Cmd{listen(msg.gen, msg.ch)}
	if m.detail != nil {
		cmds = append(cmds, m.detailResync()...)
	}
	return tea.Batch(cmds...)
}

// lost shows the connection as lost and schedules another subscription. The
// state on screen stays until a new snapshot replaces it, so the user still sees
// the last known picture.
func (m *Model) lost(err error) tea.Cmd {
	m.conn, m.connErr = connLost, err
	if m.subCancel != nil {
		m.subCancel()
		m.subCancel = nil
	}
	d := max(m.backoff, minBackoff)
	m.backoff = min(2*d, maxBackoff)
	gen := m.subGen
	return m.after(d, func(time.Time) tea.Msg { return reconnectMsg{gen: gen} })
}

func (m *Model) onEvents(msg eventsMsg) tea.Cmd {
	if msg.gen != m.subGen || m.quitting {
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

func (m *Model) apply(ev *wire.Event) tea.Cmd {
	switch ev.Kind {
	case wire.EventJob:
		if ev.Job == nil {
			return nil
		}
		m.mirror.putJob(*ev.Job)
		if m.detail != nil && m.detail.id == ev.Job.ID {
			return m.detailJobChanged(*ev.Job)
		}
	case wire.EventRunner:
		if ev.Runner != nil {
			m.mirror.putRunner(*ev.Runner)
		}
	case wire.EventOutput:
		if ev.Output != nil && m.detail != nil && m.detail.id == ev.Output.JobID {
			return m.detailOutput(ev.Output)
		}
	}
	return nil
}

// refresh recomputes what the tables show after the data or a filter changed,
// once per message, so that View only draws.
func (m *Model) refresh() {
	m.mirror.tidy()
	m.counts = m.mirror.counts()
	m.sparkAt = m.now().Truncate(sparkBucket)
	m.spark = m.mirror.throughput(m.now())
	m.jobsView = m.mirror.jobsView(m.jobsView, m.jobs.filter, m.jobs.state)
	m.runnersView = m.mirror.runnersView(m.runnersView, m.runners.filter)
	if m.followNew {
		m.jobs.sel, m.jobs.cursor = "", 0
	}
	reselect(&m.jobs, len(m.jobsView), func(i int) string { return m.jobsView[i].info.ID })
	reselect(&m.runners, len(m.runnersView), func(i int) string { return m.runnersView[i].info.Name })
}

// reselect finds the selected item again after the list changed.
func reselect(l *listState, n int, id func(int) string) {
	if l.sel != "" {
		if l.cursor < n && id(l.cursor) == l.sel {
			return
		}
		for i := 0; i < n; i++ {
			if id(i) == l.sel {
				l.cursor = i
				return
			}
		}
	}
	l.cursor = max(0, min(l.cursor, n-1))
	l.sel = ""
	if n > 0 {
		l.sel = id(l.cursor)
	}
}

func (m *Model) onTick() {
	if b := m.now().Truncate(sparkBucket); !b.Equal(m.sparkAt) {
		m.sparkAt = b
		m.spark = m.mirror.throughput(m.now())
	}
}

func (m *Model) selectedJob() *jobEntry {
	if m.jobs.cursor < len(m.jobsView) {
		return m.jobsView[m.jobs.cursor]
	}
	return nil
}

func (m *Model) selectedRunner() *runnerEntry {
	if m.runners.cursor < len(m.runnersView) {
		return m.runnersView[m.runners.cursor]
	}
	return nil
}

func (m *Model) setStatus(s string) { m.status, m.statusErr = s, false }

func (m *Model) setError(s string) { m.status, m.statusErr = s, true }

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	if m.confirm != nil {
		return m.onConfirmKey(k)
	}
	if m.input != inputNone {
		return m.onInputKey(k)
	}
	m.status = ""
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.help.ShowAll = !m.help.ShowAll
		return nil
	case key.Matches(k, m.keys.NextPane):
		m.cyclePane(1)
		return nil
	case key.Matches(k, m.keys.PrevPane):
		m.cyclePane(-1)
		return nil
	}
	switch m.focus {
	case paneRunners:
		return m.runnersKey(k)
	case paneDetail:
		return m.detailKey(k)
	}
	return m.jobsKey(k)
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	m.unfinished = m.mirror.active()
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

func (m *Model) onConfirmKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Yes):
		c := m.confirm
		m.confirm = nil
		return c.yes()
	case key.Matches(k, m.keys.No):
		m.confirm = nil
		m.setStatus("nothing done")
	case k.String() == "ctrl+c":
		m.confirm = nil
		return m.quit()
	}
	return nil
}

func (m *Model) ask(text string, yes func() tea.Cmd) {
	m.confirm = &confirmState{text: text, yes: yes}
}

func (m *Model) onInputKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "ctrl+c":
		m.input = inputNone
		return m.quit()
	case "enter":
		kind := m.input
		m.input = inputNone
		if kind == inputSearch {
			m.search(m.inputText)
		}
		return nil
	case "esc":
		kind := m.input
		m.input = inputNone
		m.inputText = ""
		if kind == inputFilter {
			m.setFilter("")
		} else {
			m.search("")
		}
		return nil
	case "backspace", "ctrl+h":
		if r := []rune(m.inputText); len(r) > 0 {
			m.inputText = string(r[:len(r)-1])
		}
	case "ctrl+u":
		m.inputText = ""
	default:
		if k.Text == "" || len(m.inputText) > 200 {
			return nil
		}
		m.inputText += clean(k.Text)
	}
	if m.input == inputFilter {
		m.setFilter(m.inputText)
	}
	return nil
}

// setFilter applies a filter to the focused table as it is typed.
func (m *Model) setFilter(text string) {
	if m.focus == paneRunners {
		m.runners.filter = text
	} else {
		m.jobs.filter = text
	}
	m.refresh()
}

func (m *Model) startInput(kind inputKind, text string) {
	m.input, m.inputText = kind, text
}

// move handles the keys that move a table's cursor; it reports whether k was one.
func (m *Model) move(l *listState, n, rows int, k tea.KeyPressMsg) bool {
	c := l.cursor
	switch {
	case key.Matches(k, m.keys.Up):
		c--
	case key.Matches(k, m.keys.Down):
		c++
	case key.Matches(k, m.keys.Top):
		c = 0
	case key.Matches(k, m.keys.Bottom):
		c = n - 1
	case key.Matches(k, m.keys.PageUp):
		c -= max(1, rows)
	case key.Matches(k, m.keys.PageDown):
		c += max(1, rows)
	case key.Matches(k, m.keys.HalfUp):
		c -= max(1, rows/2)
	case key.Matches(k, m.keys.HalfDown):
		c += max(1, rows/2)
	default:
		return false
	}
	l.cursor = max(0, min(c, n-1))
	return true
}

func (m *Model) jobsKey(k tea.KeyPressMsg) tea.Cmd {
	_, jobRows := m.listRows(m.bodyHeight())
	if m.move(&m.jobs, len(m.jobsView), jobRows, k) {
		if len(m.jobsView) > 0 {
			m.jobs.sel = m.jobsView[m.jobs.cursor].info.ID
		}
		if m.followNew && m.jobs.cursor != 0 {
			m.followNew = false
		}
		return nil
	}
	sel := m.selectedJob()
	switch {
	case key.Matches(k, m.keys.Open):
		if sel != nil {
			return m.openDetail(sel.info.ID)
		}
	case key.Matches(k, m.keys.Back):
		if m.jobs.filter != "" || m.jobs.state != 0 {
			m.jobs.filter, m.jobs.state = "", 0
			m.refresh()
			m.setStatus("filter cleared")
		}
	case key.Matches(k, m.keys.Filter):
		m.startInput(inputFilter, m.jobs.filter)
	case key.Matches(k, m.keys.StateFilter):
		m.jobs.state = (m.jobs.state + 1) % len(stateFilters)
		m.refresh()
	case key.Matches(k, m.keys.Retry):
		if sel != nil {
			return m.retry(sel.info.ID)
		}
	case key.Matches(k, m.keys.RetryFailed):
		m.askRetryFailed()
	case key.Matches(k, m.keys.Cancel):
		if sel != nil {
			m.askCancel(sel.info)
		}
	case key.Matches(k, m.keys.Follow):
		m.followNew = !m.followNew
		if m.followNew {
			m.refresh()
			m.setStatus("following the newest job")
		} else {
			m.setStatus("stopped following the newest job")
		}
	case key.Matches(k, m.keys.Drain):
		m.setStatus("d drains a runner: select one in the runners pane (tab)")
	}
	return nil
}

func (m *Model) runnersKey(k tea.KeyPressMsg) tea.Cmd {
	runRows, _ := m.listRows(m.bodyHeight())
	if m.move(&m.runners, len(m.runnersView), runRows, k) {
		if len(m.runnersView) > 0 {
			m.runners.sel = m.runnersView[m.runners.cursor].info.Name
		}
		return nil
	}
	sel := m.selectedRunner()
	switch {
	case key.Matches(k, m.keys.Open):
		if sel == nil {
			return nil
		}
		if len(sel.info.Jobs) == 0 {
			m.setStatus("runner " + sel.name + " has no job")
			return nil
		}
		return m.openDetail(sel.info.Jobs[0])
	case key.Matches(k, m.keys.Back):
		if m.runners.filter != "" {
			m.runners.filter = ""
			m.refresh()
			m.setStatus("filter cleared")
		}
	case key.Matches(k, m.keys.Filter):
		m.startInput(inputFilter, m.runners.filter)
	case key.Matches(k, m.keys.Drain):
		if sel == nil {
			return nil
		}
		switch sel.info.State {
		case wire.RunnerDraining:
			m.setStatus("runner " + sel.name + " is already draining")
		case wire.RunnerLost:
			m.setStatus("runner " + sel.name + " is lost")
		default:
			name := sel.info.Name
			m.ask(fmt.Sprintf("Drain runner %s? It finishes its jobs and takes no more. [y/n]", cut(sel.name, 30)), func() tea.Cmd { return m.drain(name) })
		}
	case key.Matches(k, m.keys.Cancel):
		if sel == nil {
			return nil
		}
		if len(sel.info.Jobs) == 0 {
			m.setStatus("runner " + sel.name + " has no job to cancel")
			return nil
		}
		info := wire.JobInfo{ID: sel.info.Jobs[0], State: wire.StateRunning}
		if e := m.mirror.jobs[info.ID]; e != nil {
			info = e.info
		}
		m.askCancel(info)
	case key.Matches(k, m.keys.RetryFailed):
		m.askRetryFailed()
	case key.Matches(k, m.keys.Retry):
		m.setStatus("r retries a job: select one in the jobs pane (tab)")
	case key.Matches(k, m.keys.Follow), key.Matches(k, m.keys.StateFilter):
		m.setStatus("that key works in the jobs pane (tab)")
	}
	return nil
}

func (m *Model) askCancel(j wire.JobInfo) {
	if j.State.Final() {
		m.setStatus(fmt.Sprintf("job %s already %s", jobName(j), j.State))
		return
	}
	id := j.ID
	m.ask(fmt.Sprintf("Cancel job %s? [y/n]", jobName(j)), func() tea.Cmd { return m.stop(id) })
}

// jobName is how prompts and messages name a job: its short commit and subject.
func jobName(j wire.JobInfo) string {
	name := shortCommit(clean(j.Commit))
	if name == "" {
		name = shortID(j.ID)
	}
	if s := firstLine(j.Message); s != "" {
		name += " “" + cut(s, 40) + "”"
	}
	return name
}

func (m *Model) askRetryFailed() {
	var ids []string
	for _, e := range m.jobsView {
		if e.info.State == wire.StatusFailed {
			ids = append(ids, e.info.ID)
		}
	}
	if len(ids) == 0 {
		m.setStatus("no failed jobs in view")
		return
	}
	m.ask(fmt.Sprintf("Retry %s in view? [y/n]", plural(len(ids), "failed job", "failed jobs")), func() tea.Cmd { return m.retryAll(ids) })
}

func (m *Model) retry(id string) tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := b.Retry(ctx, id)
		return actionMsg{verb: "retry", target: id, info: &info, err: err}
	}
}

func (m *Model) stop(id string) tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return actionMsg{verb: "cancel", target: id, err: b.Stop(ctx, id)}
	}
}

func (m *Model) drain(name string) tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return actionMsg{verb: "drain", target: name, err: b.Drain(ctx, name)}
	}
}

// retryAll retries jobs one after another: a dispatcher is not helped by a
// thousand simultaneous requests, and the user sees one summary at the end.
func (m *Model) retryAll(ids []string) tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		var out bulkMsg
		for _, id := range ids {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			info, err := b.Retry(rctx, id)
			cancel()
			if err != nil {
				out.fails++
				if out.err == nil {
					out.err = err
				}
				if ctx.Err() != nil {
					break
				}
				continue
			}
			out.ok = append(out.ok, info)
		}
		return out
	}
}

func (m *Model) onAction(msg actionMsg) tea.Cmd {
	if msg.err != nil {
		m.setError(fmt.Sprintf("%s failed: %v", msg.verb, msg.err))
		return nil
	}
	switch msg.verb {
	case "retry":
		if msg.info != nil && msg.info.ID != "" {
			e := m.mirror.putNewer(*msg.info)
			m.refresh()
			// A retried job waits in the queue; its attempt number goes up when a
			// runner takes it.
			next := msg.info.Attempt
			if msg.info.State == wire.StateQueued {
				next++
			}
			m.setStatus(fmt.Sprintf("retrying %s: attempt %d queued", jobName(*msg.info), next))
			if m.detail != nil && m.detail.id == msg.info.ID && e != nil {
				return m.detailJobChanged(e.info)
			}
			return nil
		}
		m.setStatus("retry requested")
	case "cancel":
		name := shortID(msg.target)
		if e := m.mirror.jobs[msg.target]; e != nil {
			name = jobName(e.info)
		}
		m.setStatus("cancel requested for " + name)
	case "drain":
		m.setStatus("draining runner " + clean(msg.target))
	}
	return nil
}

func (m *Model) onBulk(msg bulkMsg) {
	for _, j := range msg.ok {
		m.mirror.putNewer(j)
	}
	m.refresh()
	if msg.fails > 0 {
		m.setError(fmt.Sprintf("retried %d, %d failed: %v", len(msg.ok), msg.fails, msg.err))
		return
	}
	m.setStatus("retried " + plural(len(msg.ok), "job", "jobs"))
}
