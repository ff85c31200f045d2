package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/wire"
)

// t0 is the tests' fixed "now".
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// fakeBackend is a dispatcher for the tests: it records every call and lets the
// test push events into, or close, each subscription.
type fakeBackend struct {
	mu        sync.Mutex
	snap      *wire.Snapshot
	subErr    error
	subGate   chan struct{} // when set, Subscribe waits for it (or for ctx)
	subs      []chan wire.Events
	calls     []string
	jobs      map[string]wire.JobInfo
	logs      map[string]string      // by job id, the current attempt's output
	gaps      map[string]wire.LogGap // by job id: output dropped from the log, as a store does
	logLimit  int
	final     map[string]bool
	actionErr error
	// tests are by job id the current attempt's per-test records, in the
	// order reported; testsErr fails every page while set.
	tests    map[string][]wire.TestRecord
	testsErr error
	pageCap  int                         // when > 0, a page holds at most this many, as one cut to fit a frame
	flaky    map[string][]wire.FlakyTest // by repository
	flakyErr error
}

func newFake(snap *wire.Snapshot) *fakeBackend {
	b := &fakeBackend{
		snap:  snap,
		jobs:  map[string]wire.JobInfo{},
		logs:  map[string]string{},
		final: map[string]bool{},
		tests: map[string][]wire.TestRecord{},
		flaky: map[string][]wire.FlakyTest{},
	}
	for _, j := range snap.Jobs {
		b.jobs[j.ID] = j
	}
	return b
}

func (b *fakeBackend) record(format string, args ...any) {
	b.calls = append(b.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls made so far, other than Subscribe, Job and Log.
func (b *fakeBackend) actions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, c := range b.calls {
		if strings.HasPrefix(c, "retry") || strings.HasPrefix(c, "stop") || strings.HasPrefix(c, "drain") || strings.HasPrefix(c, "revoke") {
			out = append(out, c)
		}
	}
	return out
}

func (b *fakeBackend) allCalls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *fakeBackend) Subscribe(ctx context.Context) (*wire.Snapshot, <-chan wire.Events, error) {
	b.mu.Lock()
	gate := b.subGate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("subscribe")
	if b.subErr != nil {
		return nil, nil, b.subErr
	}
	ch := make(chan wire.Events, 16)
	b.subs = append(b.subs, ch)
	snap := *b.snap
	snap.Jobs = slices.Clone(b.snap.Jobs)
	snap.Runners = slices.Clone(b.snap.Runners)
	return &snap, ch, nil
}

// push sends a batch to the latest subscription.
func (b *fakeBackend) push(evs ...wire.Event) {
	b.mu.Lock()
	ch := b.subs[len(b.subs)-1]
	b.mu.Unlock()
	ch <- wire.Events{Events: evs}
}

// drop ends the latest subscription as a lost connection would.
func (b *fakeBackend) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.subs[len(b.subs)-1])
}

func (b *fakeBackend) JobGet(ctx context.Context, q wire.JobGet) (wire.JobInfo, error) {
	if err := q.Validate(); err != nil {
		return wire.JobInfo{}, err
	}
	if q.TestsLimit > 0 {
		return b.testPage(ctx, q)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id := q.JobID
	b.record("job %s", id)
	j, ok := b.jobs[id]
	if !ok {
		return wire.JobInfo{}, errors.New("no such job")
	}
	if j.Attempts == nil && j.Attempt > 0 {
		for n := 1; n <= j.Attempt; n++ {
			a := wire.AttemptInfo{N: n, Runner: j.Runner, Assigned: j.QueuedAt.Add(time.Duration(n) * time.Second)}
			if n < j.Attempt {
				a.Outcome, a.Ended, a.Reason = "retried", a.Assigned.Add(20*time.Second), "retry requested"
			} else if j.State.Final() {
				a.Outcome, a.Ended = string(j.State), j.FinishedAt
			}
			j.Attempts = append(j.Attempts, a)
		}
	}
	return j, nil
}

// testPage answers a job.get that asks for tests as the dispatcher does: a
// page of the attempt's records in the order asked, slowest first with the
// tests without a duration last.
func (b *fakeBackend) testPage(ctx context.Context, q wire.JobGet) (wire.JobInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("tests %s@%d attempt %d", q.JobID, q.TestsOffset, q.Attempt)
	if b.testsErr != nil {
		return wire.JobInfo{}, b.testsErr
	}
	j, ok := b.jobs[q.JobID]
	if !ok {
		return wire.JobInfo{}, errors.New("no such job")
	}
	if q.Attempt != 0 && q.Attempt != j.Attempt {
		return wire.JobInfo{}, fmt.Errorf("attempt %d has no records here", q.Attempt)
	}
	all := slices.Clone(b.tests[q.JobID])
	if q.TestsOrder == wire.TestsSlowest {
		slices.SortStableFunc(all, func(x, y wire.TestRecord) int {
			switch {
			case x.DurationMS == nil && y.DurationMS == nil:
				return 0
			case x.DurationMS == nil:
				return 1
			case y.DurationMS == nil:
				return -1
			}
			return int(*y.DurationMS - *x.DurationMS)
		})
	}
	p := &wire.TestPage{Attempt: j.Attempt, Total: len(all), Offset: q.TestsOffset}
	limit := q.TestsLimit
	if b.pageCap > 0 {
		limit = min(limit, b.pageCap)
	}
	end := min(len(all), q.TestsOffset+limit)
	if q.TestsOffset < end {
		p.Tests = all[q.TestsOffset:end]
	}
	if end < len(all) {
		p.Next = end
	}
	j.Tests, j.TestsTotal = p, len(all)
	return j, nil
}

func (b *fakeBackend) FlakyTests(ctx context.Context, q wire.FlakyQuery) (wire.FlakyList, error) {
	if err := q.Validate(); err != nil {
		return wire.FlakyList{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("flaky %s", q.Repo)
	if b.flakyErr != nil {
		return wire.FlakyList{}, b.flakyErr
	}
	return wire.FlakyList{Repo: q.Repo, Tests: slices.Clone(b.flaky[q.Repo])}, nil
}

func (b *fakeBackend) Log(ctx context.Context, q wire.LogQuery) (wire.LogChunk, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("log %s@%d", q.JobID, q.Offset)
	data := b.logs[q.JobID]
	if g, ok := b.gaps[q.JobID]; ok {
		return gapLog(q, data, g, b.final[q.JobID]), nil
	}
	c := wire.LogChunk{JobID: q.JobID, Attempt: b.jobs[q.JobID].Attempt, Offset: q.Offset, End: int64(len(data)), Final: b.final[q.JobID]}
	if q.Offset < int64(len(data)) {
		c.Data = data[q.Offset:]
		if b.logLimit > 0 && len(c.Data) > b.logLimit {
			c.Data = c.Data[:b.logLimit]
		}
	}
	return c, nil
}

// gapLog reads data from q.Offset to its end as a store with the hole g does.
func gapLog(q wire.LogQuery, data string, g wire.LogGap, final bool) wire.LogChunk {
	c := wire.LogChunk{JobID: q.JobID, Offset: q.Offset, Next: int64(len(data)), End: int64(len(data)), Final: final, Gap: &g}
	off := q.Offset
	if off < g.Offset {
		c.Data, off = data[off:g.Offset], g.Offset
	}
	if end := g.Offset + g.Length; off < end {
		c.Data += fmt.Sprintf("\n[eventide: %d bytes of output were dropped here; a log keeps its start and its end]\n", end-off)
		off = end
	}
	c.Data += data[min(off, int64(len(data))):]
	return c
}

func (b *fakeBackend) Retry(ctx context.Context, id string) (wire.JobInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("retry %s", id)
	if b.actionErr != nil {
		return wire.JobInfo{}, b.actionErr
	}
	j, ok := b.jobs[id]
	if !ok {
		return wire.JobInfo{}, errors.New("no such job")
	}
	// As the dispatcher does: the attempt number goes up when a runner takes it.
	j.State, j.Runner, j.Summary, j.StartedAt, j.FinishedAt, j.Waiting = wire.StateQueued, "", nil, time.Time{}, time.Time{}, "1st in queue"
	b.jobs[id] = j
	b.logs[id] = ""
	return j, nil
}

func (b *fakeBackend) Stop(ctx context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("stop %s", id)
	return b.actionErr
}

func (b *fakeBackend) Drain(ctx context.Context, runner string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("drain %s", runner)
	return b.actionErr
}

func (b *fakeBackend) Revoke(ctx context.Context, identity string) (wire.Revoked, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("revoke %s", identity)
	return wire.Revoked{Identity: identity, Requeued: 1}, b.actionErr
}

// Job ids of the sample state, newest job first.
const (
	idRunning   = "a000000000000001"
	idQueued    = "a000000000000002"
	idFailed    = "a000000000000003"
	idPassed    = "a000000000000004"
	idError     = "a000000000000005"
	idCancelled = "a000000000000006"
	idFailed2   = "a000000000000007"
)

// sample is a small dispatcher state with a job in every state and a runner in
// every state.
func sample() *wire.Snapshot {
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	return &wire.Snapshot{
		Server:    "eventide-dispatcher/1",
		Address:   "10.0.0.5:7700",
		StartedAt: ago(2*time.Hour + 3*time.Minute),
		Runners: []wire.RunnerInfo{
			{Name: "runner-1", State: wire.RunnerBusy, Slots: 2, Jobs: []string{idRunning}, Done: 41, LastSeen: ago(2 * time.Second), Labels: []string{"linux", "amd64"},
				Identity: "1d00000000000001", Enrolled: ago(26 * time.Hour)},
			{Name: "runner-2", State: wire.RunnerIdle, Slots: 1, Done: 17, LastSeen: ago(time.Second), Labels: []string{"linux", "arm64"},
				Identity: "2d00000000000002", Enrolled: ago(3 * time.Minute)},
			{Name: "runner-3", State: wire.RunnerDraining, Slots: 4, Done: 3, LastSeen: ago(4 * time.Second), Labels: []string{"gpu"}},
			{Name: "runner-old", State: wire.RunnerLost, Slots: 1, Done: 9, LastSeen: ago(5 * time.Minute)},
		},
		Jobs: []wire.JobInfo{
			{ID: idRunning, Repo: "/src/app", Commit: "1111111aaaaaaaa", Branch: "main", Author: "Ada", Message: "Add retry button to the console\n\nLonger body.", State: wire.StateRunning, Attempt: 1, Runner: "runner-1", QueuedAt: ago(50 * time.Second), StartedAt: ago(45 * time.Second)},
			{ID: idQueued, Repo: "/src/app", Commit: "2222222bbbbbbbb", Branch: "feature/gpu", Message: "Train on the GPU runner", State: wire.StateQueued, QueuedAt: ago(70 * time.Second), Waiting: "no runner with labels gpu"},
			{ID: idFailed, Repo: "/src/app", Commit: "3333333cccccccc", Branch: "main", Author: "Grace", Message: "Parse limits from the config", State: wire.StatusFailed, Attempt: 2, Runner: "runner-2", QueuedAt: ago(3 * time.Minute), StartedAt: ago(170 * time.Second), FinishedAt: ago(108 * time.Second), ExitCode: 1, CPUMS: new(int64(61234)),
				Summary: &wire.Summary{Passed: 40, Failed: 2, Skipped: 1, Failing: []string{"TestParseLimits", "TestDefaults/zero"}}},
			{ID: idPassed, Repo: "/src/app", Commit: "4444444dddddddd", Branch: "main", Message: "Document the console keys", State: wire.StatusPassed, Attempt: 1, Runner: "runner-2", QueuedAt: ago(5 * time.Minute), StartedAt: ago(290 * time.Second), FinishedAt: ago(280 * time.Second),
				Summary: &wire.Summary{Passed: 43}},
			{ID: idError, Repo: "/src/app", Commit: "5555555eeeeeeee", Branch: "fix/flaky", Message: "Make the slow test faster", State: wire.StatusError, Attempt: 1, Runner: "runner-old", Reason: "runner lost", QueuedAt: ago(9 * time.Minute), StartedAt: ago(530 * time.Second), FinishedAt: ago(300 * time.Second)},
			{ID: idCancelled, Repo: "/src/app", Commit: "6666666ffffffff", Branch: "wip", Message: "Try another layout", State: wire.StatusCancelled, Attempt: 1, QueuedAt: ago(20 * time.Minute), FinishedAt: ago(19 * time.Minute)},
			{ID: idFailed2, Repo: "/src/app", Commit: "7777777aaaaaaaa", Branch: "main", Message: "Bump the frame limit", State: wire.StatusFailed, Attempt: 1, Runner: "runner-1", QueuedAt: ago(2 * time.Hour), StartedAt: ago(2*time.Hour - time.Second), FinishedAt: ago(2*time.Hour - 30*time.Second),
				Summary: &wire.Summary{Passed: 12, Failed: 1, Failing: []string{"TestFrameLimit"}}},
		},
	}
}

// harness drives a Model the way a tea.Program does, but in the test's
// goroutine: commands run in goroutines and their messages come back through a
// channel, so the test waits for what it expects instead of sleeping. Timers do
// not run by themselves: the test fires them.
type harness struct {
	t      *testing.T
	m      *Model
	b      *fakeBackend
	msgs   chan tea.Msg
	done   chan struct{}
	timers []func(time.Time) tea.Msg
	quit   bool
}

func newHarness(t *testing.T, b *fakeBackend, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, b: b, msgs: make(chan tea.Msg, 64), done: make(chan struct{})}
	hs.m = New(b, Options{Now: fixedNow, Address: "127.0.0.1:7700", NoColor: true})
	hs.m.after = func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		hs.timers = append(hs.timers, fn)
		return nil
	}
	t.Cleanup(func() {
		hs.m.Close()
		close(hs.done)
	})
	hs.update(tea.WindowSizeMsg{Width: w, Height: h})
	hs.run(hs.m.Init())
	hs.waitFor("the first snapshot", func() bool { return hs.m.conn.state == connUp })
	return hs
}

func (hs *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		select {
		case hs.msgs <- msg:
		case <-hs.done:
		}
	}()
}

func (hs *harness) update(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			hs.run(c)
		}
		return
	case tea.QuitMsg:
		hs.quit = true
		return
	}
	_, cmd := hs.m.Update(msg)
	hs.run(cmd)
}

// waitFor handles messages until cond holds.
func (hs *harness) waitFor(what string, cond func() bool) {
	hs.t.Helper()
	deadline := time.After(testkit.Patience)
	for !cond() {
		select {
		case msg := <-hs.msgs:
			hs.update(msg)
		case <-deadline:
			hs.t.Fatalf("timed out waiting for %s; screen:\n%s", what, hs.screen())
		}
	}
}

// press sends keys: names such as "enter", "shift+tab" and "ctrl+c", or
// single characters.
func (hs *harness) press(keys ...string) {
	for _, k := range keys {
		hs.update(keyMsg(k))
	}
}

// fire runs the timers set so far.
func (hs *harness) fire() {
	ts := hs.timers
	hs.timers = nil
	for _, fn := range ts {
		hs.update(fn(t0))
	}
}

func (hs *harness) screen() string { return stripANSI(hs.m.render()) }

func keyMsg(k string) tea.KeyPressMsg {
	named := map[string]tea.KeyPressMsg{
		"tab":       {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
		"enter":     {Code: tea.KeyEnter},
		"esc":       {Code: tea.KeyEscape},
		"up":        {Code: tea.KeyUp},
		"down":      {Code: tea.KeyDown},
		"pgdown":    {Code: tea.KeyPgDown},
		"pgup":      {Code: tea.KeyPgUp},
		"backspace": {Code: tea.KeyBackspace},
		"ctrl+c":    {Code: 'c', Mod: tea.ModCtrl},
		"space":     {Code: tea.KeySpace, Text: " "},
	}
	if m, ok := named[k]; ok {
		return m
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}
