package tui

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/eventide-ci/eventide/net/wire"
)

func stripANSI(s string) string { return ansi.Strip(s) }

func (hs *harness) wantScreen(subs ...string) {
	hs.t.Helper()
	s := hs.screen()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			hs.t.Fatalf("screen lacks %q:\n%s", sub, s)
		}
	}
}

func (hs *harness) noScreen(subs ...string) {
	hs.t.Helper()
	s := hs.screen()
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			hs.t.Fatalf("screen has %q:\n%s", sub, s)
		}
	}
}

func (hs *harness) wantActions(want ...string) {
	hs.t.Helper()
	if got := hs.b.actions(); !slices.Equal(got, want) {
		hs.t.Fatalf("backend actions = %q, want %q", got, want)
	}
}

func (hs *harness) selJob() string { return hs.m.jobs.sel }

// selectJob moves the jobs cursor onto a job.
func (hs *harness) selectJob(id string) {
	hs.t.Helper()
	hs.press("g")
	for range len(hs.m.jobs.shown) {
		if hs.selJob() == id {
			return
		}
		hs.press("j")
	}
	hs.t.Fatalf("job %s is not in view", id)
}

func (hs *harness) selectRunner(name string) {
	hs.t.Helper()
	for hs.m.focus != paneRunners {
		hs.press("tab")
	}
	hs.press("g")
	for range len(hs.m.runners.shown) {
		if hs.m.runners.sel == name {
			return
		}
		hs.press("j")
	}
	hs.t.Fatalf("runner %s is not in view", name)
}

func (hs *harness) waitStatus(sub string) {
	hs.t.Helper()
	hs.waitFor("status "+sub, func() bool { return strings.Contains(hs.m.bar.status, sub) })
}

func TestSnapshotOnScreen(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.wantScreen(
		"127.0.0.1:7700", "up 2h03m",
		"runners 3 live 1 lost", "1 queued 1 running 1 passed 2 failed 1 error",
		"runner-1", "busy", "1111111 main", "1/2", "linux,amd64", "runner-old", "lost",
		"Add retry button to the console", "no runner with labels gpu", "#2", "1m02s",
	)
	if hs.m.jobs.sel != idRunning {
		t.Fatalf("selected %s, want the newest job %s", hs.m.jobs.sel, idRunning)
	}
	// Newest first.
	var ids []string
	for _, e := range hs.m.jobs.shown {
		ids = append(ids, e.info.ID)
	}
	want := []string{idRunning, idQueued, idFailed, idPassed, idError, idCancelled, idFailed2}
	if !slices.Equal(ids, want) {
		t.Fatalf("order %v, want %v", ids, want)
	}
}

func TestMoveKeys(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	steps := []struct {
		key  string
		want int
	}{{"j", 1}, {"down", 2}, {"k", 1}, {"up", 0}, {"up", 0}, {"G", 6}, {"j", 6}, {"g", 0}, {"pgdown", 6}, {"pgup", 0}}
	for _, s := range steps {
		hs.press(s.key)
		if hs.m.jobs.cursor != s.want {
			t.Fatalf("after %s: cursor %d, want %d", s.key, hs.m.jobs.cursor, s.want)
		}
		if hs.selJob() != hs.m.jobs.shown[s.want].info.ID {
			t.Fatalf("after %s: selected %s", s.key, hs.selJob())
		}
	}
	hs.press("tab")
	for _, s := range []struct {
		key  string
		want int
	}{{"j", 1}, {"G", 3}, {"k", 2}, {"g", 0}} {
		hs.press(s.key)
		if hs.m.runners.cursor != s.want {
			t.Fatalf("runners, after %s: cursor %d, want %d", s.key, hs.m.runners.cursor, s.want)
		}
	}
	if hs.m.jobs.cursor != 0 {
		t.Fatalf("moving in the runners pane moved the jobs cursor")
	}
}

func TestTabCyclesPanes(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	seq := func(keys []string, want []pane) {
		t.Helper()
		for i, k := range keys {
			hs.press(k)
			if hs.m.focus != want[i] {
				t.Fatalf("after %s: focus %d, want %d", k, hs.m.focus, want[i])
			}
		}
	}
	if hs.m.focus != paneJobs {
		t.Fatalf("starts on pane %d, want jobs", hs.m.focus)
	}
	seq([]string{"tab", "tab", "shift+tab", "shift+tab"}, []pane{paneRunners, paneJobs, paneRunners, paneJobs})
	hs.press("enter")
	seq([]string{"tab", "tab", "tab", "shift+tab"}, []pane{paneRunners, paneJobs, paneDetail, paneJobs})
	hs.press("tab", "esc")
	if hs.m.focus != paneJobs || hs.m.detail != nil {
		t.Fatalf("esc in the detail: focus %d, detail open %v", hs.m.focus, hs.m.detail != nil)
	}
	seq([]string{"tab", "tab", "tab"}, []pane{paneRunners, paneJobs, paneRunners})
}

func TestRetrySelectedJob(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.selectJob(idFailed)
	hs.press("r")
	hs.waitStatus("retrying")
	hs.wantActions("retry " + idFailed)
	e := hs.m.c.mirror.jobs[idFailed]
	if e.info.Attempt != 2 || e.info.State != wire.StateQueued {
		t.Fatalf("after retry: attempt %d state %s, want 2 (the last) and queued", e.info.Attempt, e.info.State)
	}
	hs.wantScreen("attempt 3 queued")

	// A failing request says so and changes nothing.
	hs.b.mu.Lock()
	hs.b.actionErr = errors.New("dispatcher says no")
	hs.b.mu.Unlock()
	hs.selectJob(idPassed)
	hs.press("r")
	hs.waitStatus("retry failed: dispatcher says no")
	if hs.m.c.mirror.jobs[idPassed].info.Attempt != 1 {
		t.Fatalf("failed retry changed the job")
	}
	if !hs.m.bar.statusErr {
		t.Fatalf("an error is not shown as one")
	}
}

func TestRetryFailedConfirm(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.press("R")
	if hs.m.bar.confirm == nil {
		t.Fatalf("R did not ask")
	}
	hs.wantScreen("Retry 2 failed jobs in view? [y/n]")
	hs.press("j") // other keys are ignored while asking
	if hs.m.bar.confirm == nil || hs.m.jobs.cursor != 0 {
		t.Fatalf("a key other than y/n answered the prompt or moved")
	}
	hs.press("n")
	if hs.m.bar.confirm != nil {
		t.Fatalf("n did not close the prompt")
	}
	hs.wantScreen("nothing done")
	hs.wantActions()

	hs.press("R", "y")
	hs.waitStatus("retried 2 jobs")
	hs.wantActions("retry "+idFailed, "retry "+idFailed2)

	// Only the jobs in view: after the two retries nothing failed is left.
	hs.press("R")
	hs.waitStatus("no failed jobs in view")
}

func TestRetryFailedRespectsFilter(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.press("/")
	for _, c := range "frame" {
		hs.press(string(c))
	}
	hs.press("enter", "R")
	hs.wantScreen("Retry 1 failed job in view?")
	hs.press("y")
	hs.waitStatus("retried 1 job")
	hs.wantActions("retry " + idFailed2)
}

func TestCancelConfirm(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.selectJob(idRunning)
	hs.press("x")
	hs.wantScreen("Cancel job 1111111 “Add retry button to the console”? [y/n]")
	hs.press("esc")
	if hs.m.bar.confirm != nil {
		t.Fatalf("esc did not close the prompt")
	}
	hs.wantActions()
	hs.press("x", "y")
	hs.waitStatus("cancel requested for 1111111")
	hs.wantActions("stop " + idRunning)

	hs.selectJob(idPassed)
	hs.press("x")
	if hs.m.bar.confirm != nil {
		t.Fatalf("asked to cancel a finished job")
	}
	hs.wantScreen("already passed")
}

func TestDrainConfirm(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.press("d")
	hs.wantScreen("d drains a runner")
	hs.selectRunner("runner-2")
	hs.press("d")
	hs.wantScreen("Drain runner runner-2? It finishes its jobs and takes no more. [y/n]")
	hs.press("n")
	hs.wantActions()
	hs.press("d", "Y")
	hs.waitStatus("draining runner runner-2")
	hs.wantActions("drain runner-2")

	hs.selectRunner("runner-3")
	hs.press("d")
	hs.wantScreen("already draining")
	hs.selectRunner("runner-old")
	hs.press("d")
	hs.wantScreen("runner-old is lost")
	if hs.m.bar.confirm != nil {
		t.Fatalf("asked to drain a lost runner")
	}
}

func TestRevokeConfirm(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.selectRunner("runner-2")
	hs.wantScreen("2d000000   3m ago")
	hs.press("X")
	hs.wantScreen("Revoke runner runner-2 (identity 2d000000)?")
	hs.press("n")
	hs.wantActions()
	hs.press("X", "y")
	hs.waitStatus("revoked runner runner-2: 1 job(s) queued again")
	hs.wantActions("revoke 2d00000000000002")

	hs.selectRunner("runner-old")
	hs.press("X")
	hs.wantScreen("runner-old has no identity to revoke")
	if hs.m.bar.confirm != nil {
		t.Fatalf("asked to revoke a runner without an identity")
	}
}

func TestRunnersPaneKeys(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.selectRunner("runner-2")
	hs.press("enter")
	hs.wantScreen("runner-2 has no job")
	hs.press("x")
	hs.wantScreen("runner-2 has no job to cancel")
	hs.press("r")
	hs.wantScreen("r retries a job")

	hs.selectRunner("runner-1")
	hs.press("x")
	hs.wantScreen("Cancel job 1111111")
	hs.press("y")
	hs.waitStatus("cancel requested")
	hs.wantActions("stop " + idRunning)

	hs.press("enter")
	if hs.m.focus != paneDetail || hs.m.detail.id != idRunning {
		t.Fatalf("enter on a busy runner did not open its job")
	}
	hs.press("esc", "tab")

	hs.press("/", "g", "p", "u", "enter")
	if len(hs.m.runners.shown) != 1 || hs.m.runners.shown[0].info.Name != "runner-3" {
		t.Fatalf("runner filter gpu: %d runners", len(hs.m.runners.shown))
	}
	if len(hs.m.jobs.shown) != 7 {
		t.Fatalf("the runner filter filtered the jobs")
	}
	hs.wantScreen("Runners (1 of 4) /gpu")
	hs.press("esc")
	if len(hs.m.runners.shown) != 4 {
		t.Fatalf("esc did not clear the runner filter")
	}
}

func TestFilter(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.press("/", "M", "a", "I", "n")
	if hs.m.bar.input != inputFilter {
		t.Fatalf("/ did not start the filter")
	}
	hs.wantScreen("filter jobs: MaIn█")
	if len(hs.m.jobs.shown) != 4 {
		t.Fatalf("filter main (as typed, any case): %d jobs, want 4", len(hs.m.jobs.shown))
	}
	hs.press("space", "p", "a", "r", "s", "e")
	if len(hs.m.jobs.shown) != 1 || hs.m.jobs.shown[0].info.ID != idFailed {
		t.Fatalf("filter 'main parse': %d jobs", len(hs.m.jobs.shown))
	}
	hs.press("backspace", "backspace", "backspace", "backspace", "backspace", "backspace", "enter")
	if hs.m.bar.input != inputNone || hs.m.jobs.filter != "MaIn" || len(hs.m.jobs.shown) != 4 {
		t.Fatalf("enter: input %d filter %q, %d jobs", hs.m.bar.input, hs.m.jobs.filter, len(hs.m.jobs.shown))
	}
	hs.wantScreen("Jobs (4 of 7) /MaIn")
	if hs.selJob() != idFailed {
		t.Fatalf("widening the filter lost the selection")
	}
	hs.press("j", "r") // keys work on the filtered list
	hs.waitStatus("retrying")
	hs.wantActions("retry " + idPassed)

	hs.press("esc")
	if hs.m.jobs.filter != "" || len(hs.m.jobs.shown) != 7 {
		t.Fatalf("esc did not clear the filter")
	}
	hs.press("/", "z", "z", "z")
	hs.wantScreen("no job matches the filter")
	hs.press("esc")
	if hs.m.bar.input != inputNone || hs.m.jobs.filter != "" {
		t.Fatalf("esc while typing did not clear the filter")
	}
}

func TestStateFilter(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	want := map[string]int{"active": 2, "queued": 1, "running": 1, "passed": 1, "failed": 2, "error": 1, "cancelled": 1, "all": 7}
	for range stateFilters {
		hs.press("s")
		name := stateFilters[hs.m.jobs.state].name
		if got := len(hs.m.jobs.shown); got != want[name] {
			t.Fatalf("state %s: %d jobs, want %d", name, got, want[name])
		}
		for _, e := range hs.m.jobs.shown {
			if f := stateFilters[hs.m.jobs.state].match; f != nil && !f(e.info.State) {
				t.Fatalf("state %s shows a %s job", name, e.info.State)
			}
		}
	}
	hs.press("s", "s", "s", "s", "s")
	hs.wantScreen("Jobs (2 of 7) · failed")
	hs.press("esc")
	if hs.m.jobs.state != 0 {
		t.Fatalf("esc did not clear the state filter")
	}
}

func TestEventsKeepSelection(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.selectJob(idFailed)
	newJob := wire.JobInfo{ID: "b000000000000001", Commit: "8888888", Branch: "main", Message: "Brand new", State: wire.StateQueued, QueuedAt: t0, Waiting: "1st in queue"}
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &newJob})
	hs.waitFor("the new job", func() bool { return hs.m.c.mirror.jobs[newJob.ID] != nil })
	if hs.m.jobs.shown[0].info.ID != newJob.ID {
		t.Fatalf("the new job is not first")
	}
	if hs.selJob() != idFailed {
		t.Fatalf("the selection moved to %s", hs.selJob())
	}
	hs.wantScreen("Brand new", "1st in queue", "2 queued")

	// A state change and a runner change.
	running := newJob
	running.State, running.Runner, running.Attempt, running.StartedAt = wire.StateRunning, "runner-2", 1, t0
	r2 := wire.RunnerInfo{Name: "runner-2", State: wire.RunnerBusy, Slots: 1, Jobs: []string{newJob.ID}, LastSeen: t0}
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &running}, wire.Event{Kind: wire.EventRunner, Runner: &r2})
	hs.waitFor("the runner change", func() bool { return hs.m.c.mirror.runners["runner-2"].info.State == wire.RunnerBusy })
	hs.wantScreen("1 queued 2 running", "8888888 main")

	// f keeps the newest job selected as jobs arrive.
	hs.press("f")
	if hs.selJob() != newJob.ID {
		t.Fatalf("f did not select the newest job")
	}
	newer := wire.JobInfo{ID: "b000000000000002", Commit: "9999999", State: wire.StateQueued, QueuedAt: t0.Add(time.Second)}
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &newer})
	hs.waitFor("the newer job", func() bool { return hs.m.c.mirror.jobs[newer.ID] != nil })
	if hs.selJob() != newer.ID {
		t.Fatalf("following: selected %s, want the newest", hs.selJob())
	}
	hs.press("j")
	if hs.m.jobs.follow {
		t.Fatalf("moving down did not stop following")
	}
}

func TestBoundedHistory(t *testing.T) {
	snap := &wire.Snapshot{StartedAt: t0}
	for i := range 50 {
		st := wire.State(wire.StatusPassed)
		if i%10 == 0 {
			st = wire.StateRunning
		}
		snap.Jobs = append(snap.Jobs, wire.JobInfo{ID: fmt.Sprintf("%016x", 1000-i), State: st, QueuedAt: t0.Add(-time.Duration(i) * time.Minute)})
	}
	m := New(newFake(snap), Options{Now: fixedNow, MaxFinished: 20})
	m.c.mirror.reset(snap)
	m.refresh()
	fin, act := 0, 0
	for _, e := range m.c.mirror.order {
		if e.finished() {
			fin++
		} else {
			act++
		}
	}
	if fin != 20 || act != 5 {
		t.Fatalf("kept %d finished and %d active, want 20 and 5", fin, act)
	}
	// The newest finished jobs are the ones kept.
	if _, ok := m.c.mirror.jobs[fmt.Sprintf("%016x", 1000-1)]; !ok {
		t.Fatalf("the newest finished job was dropped")
	}
	if _, ok := m.c.mirror.jobs[fmt.Sprintf("%016x", 1000-49)]; ok {
		t.Fatalf("the oldest finished job was kept")
	}
	if _, ok := m.c.mirror.jobs[fmt.Sprintf("%016x", 1000-40)]; !ok {
		t.Fatalf("an old active job was dropped")
	}
}

func TestDetailView(t *testing.T) {
	b := newFake(sample())
	b.logs[idFailed] = "=== RUN TestParseLimits\n    limits_test.go:12: got 3, want 4\n--- FAIL: TestParseLimits (0.00s)\nFAIL\n"
	b.final[idFailed] = true
	hs := newHarness(t, b, 100, 30)
	hs.selectJob(idFailed)
	hs.press("enter")
	hs.waitFor("the log and attempts", func() bool { return hs.m.detail.log.final && len(hs.m.detail.attempts) == 2 })
	hs.wantScreen("Job "+idFailed, "Parse limits from the config — Grace", "failed · attempt 2 · runner runner-2",
		"tests: 40 passed · 2 failed · 0 errors · 1 skipped", "failing: TestParseLimits", "TestDefaults/zero",
		"#1 runner-2 retried", "#2 runner-2 failed", "limits_test.go:12: got 3, want 4", "ended")

	hs.press("r")
	hs.waitStatus("retrying")
	hs.wantActions("retry " + idFailed)
	hs.waitFor("the job queued again", func() bool { return hs.m.c.mirror.jobs[idFailed].info.State == wire.StateQueued })
	// Until a runner takes it, the last attempt's log stays on show.
	hs.wantScreen("queued · attempt 3 next", "waiting: 1st in queue", "limits_test.go:12: got 3, want 4")

	hs.press("x")
	hs.wantScreen("Cancel job 3333333")
	hs.press("y")
	hs.waitStatus("cancel requested")
	hs.wantActions("retry "+idFailed, "stop "+idFailed)

	hs.press("d")
	hs.wantScreen("that key works in the lists")
}

// logLines makes n numbered lines of output.
func logLines(from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "line %03d\n", i)
	}
	return b.String()
}

func TestDetailFollowAndPaging(t *testing.T) {
	b := newFake(sample())
	b.logs[idRunning] = logLines(0, 100)
	b.logLimit = 256 // several pages
	hs := newHarness(t, b, 100, 30)
	hs.press("enter")
	d := hs.m.detail
	hs.waitFor("the whole stored log", func() bool { return d.log.end == int64(len(b.logs[idRunning])) && !d.log.fetching })
	if n := strings.Count(strings.Join(b.allCalls(), ","), "log "+idRunning); n < 4 {
		t.Fatalf("%d log requests, want paging", n)
	}
	if len(d.log.lines) != 100 || d.log.lines[99] != "line 099" {
		t.Fatalf("log has %d lines, last %q", len(d.log.lines), d.log.lines[len(d.log.lines)-1])
	}
	if !d.follow || !hs.m.detail.vp.AtBottom() {
		t.Fatalf("a running job's log does not start at the tail")
	}
	hs.wantScreen("line 099", "live", "following")

	// Output events extend the log and the view follows.
	off := int64(len(b.logs[idRunning]))
	hs.output(idRunning, "line 100\nline 1")
	hs.waitFor("the event's output", func() bool { return d.log.end == off+15 })
	hs.output(idRunning, "01\n")
	hs.waitFor("the rest of the line", func() bool { return d.log.end == off+18 })
	hs.wantScreen("line 100", "line 101")
	if !hs.m.detail.vp.AtBottom() {
		t.Fatalf("not following the tail")
	}
	// A repeated chunk is not shown twice.
	hs.b.push(wire.Event{Kind: wire.EventOutput, Output: &wire.Output{JobID: idRunning, Attempt: 1, Offset: off, Data: "line 100\n"}})
	hs.output(idRunning, "line 102\n")
	hs.waitFor("line 102", func() bool { return d.log.end == off+27 })
	if len(d.log.lines) != 103 {
		t.Fatalf("log has %d lines after a repeat, want 103", len(d.log.lines))
	}

	// Scrolling up stops following; new output then leaves the view alone.
	hs.press("k", "k")
	if d.follow {
		t.Fatalf("k did not stop following")
	}
	y := hs.m.detail.vp.YOffset()
	hs.output(idRunning, "line 103\n")
	hs.waitFor("line 103", func() bool { return d.log.end == off+36 })
	if hs.m.detail.vp.YOffset() != y || hs.m.detail.vp.AtBottom() {
		t.Fatalf("the view moved while not following")
	}
	hs.wantScreen("live ·")
	hs.noScreen("following")
	hs.press("f")
	if !d.follow || !hs.m.detail.vp.AtBottom() {
		t.Fatalf("f did not follow the tail")
	}
	hs.wantScreen("following", "line 103")
	hs.press("f")
	if d.follow {
		t.Fatalf("f did not toggle follow off")
	}
	hs.press("g")
	if hs.m.detail.vp.YOffset() != 0 {
		t.Fatalf("g did not go to the top")
	}
	hs.press("G")
	if !d.follow || !hs.m.detail.vp.AtBottom() {
		t.Fatalf("G did not go to the tail and follow")
	}

	// Output past a gap (an event the console missed) is fetched from the store.
	b.mu.Lock()
	b.logs[idRunning] += "line 104\n"
	b.mu.Unlock()
	hs.output(idRunning, "line 105\n")
	hs.waitFor("the gap filled", func() bool { return d.log.end == off+54 && !d.log.fetching })
	hs.wantScreen("line 104", "line 105")

	// Output of other jobs is not this log's.
	hs.b.push(wire.Event{Kind: wire.EventOutput, Output: &wire.Output{JobID: idQueued, Attempt: 1, Offset: 0, Data: "not mine\n"}})
	marker := wire.JobInfo{ID: "c000000000000001", State: wire.StateQueued, QueuedAt: t0}
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &marker})
	hs.waitFor("the marker job", func() bool { return hs.m.c.mirror.jobs[marker.ID] != nil })
	hs.noScreen("not mine")

	// The job ends: the tail is fetched once more and the log is final.
	b.mu.Lock()
	b.logs[idRunning] += "PASS\n"
	b.final[idRunning] = true
	j := b.jobs[idRunning]
	j.State, j.FinishedAt, j.Summary = wire.StatusPassed, t0, &wire.Summary{Passed: 7}
	b.jobs[idRunning] = j
	b.mu.Unlock()
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &j})
	hs.waitFor("the final log", func() bool { return d.log.final })
	hs.wantScreen("PASS", "ended", "tests: 7 passed")
}

// output appends to a job's stored log and sends it as an event, as a
// dispatcher does.
func (hs *harness) output(id, data string) {
	hs.b.mu.Lock()
	off := int64(len(hs.b.logs[id]))
	hs.b.logs[id] += data
	attempt := hs.b.jobs[id].Attempt
	hs.b.mu.Unlock()
	hs.b.push(wire.Event{Kind: wire.EventOutput, Output: &wire.Output{JobID: id, Attempt: attempt, Offset: off, Data: data}})
}

func TestDetailSearch(t *testing.T) {
	b := newFake(sample())
	b.logs[idRunning] = logLines(0, 60) + "panic: WANT this\n" + logLines(60, 60)
	hs := newHarness(t, b, 100, 30)
	hs.press("enter")
	d := hs.m.detail
	hs.waitFor("the log", func() bool { return d.log.loaded && !d.log.fetching })
	hs.press("/", "w", "a", "n", "t")
	hs.wantScreen("search log: want█")
	hs.press("enter")
	if d.matches != 1 || d.follow {
		t.Fatalf("search: %d matches, follow %v", d.matches, d.follow)
	}
	hs.wantScreen("panic: WANT this", "/want: 1 match")
	hs.press("/", "backspace", "backspace", "backspace", "backspace", "l", "i", "n", "e", " ", "0", "5", "enter")
	if d.matches != 10 { // line 050 to line 059
		t.Fatalf("search 'line 05': %d matches", d.matches)
	}
	hs.press("n", "N")
	hs.press("esc")
	if d.search != "" || d.matches != 0 {
		t.Fatalf("esc did not clear the search")
	}
	hs.press("esc")
	if hs.m.detail != nil {
		t.Fatalf("a second esc did not close the detail")
	}
}

func TestFindFold(t *testing.T) {
	got, last := findFold([]string{"abc ABC", "", "xAbCx"}, "aBc")
	want := [][]int{{0, 3}, {4, 7}, {10, 13}}
	if fmt.Sprint(got) != fmt.Sprint(want) || last != 2 {
		t.Fatalf("findFold = %v, %d, want %v, 2", got, last, want)
	}
}

func TestDetailLongLogStartsAtTail(t *testing.T) {
	b := newFake(sample())
	b.logs[idPassed] = strings.Repeat("x", 2*maxLogBytes) + "\n" + logLines(0, 10)
	b.final[idPassed] = true
	b.logLimit = wire.MaxLogRead
	hs := newHarness(t, b, 100, 30)
	hs.selectJob(idPassed)
	hs.press("enter")
	d := hs.m.detail
	hs.waitFor("the tail", func() bool { return d.log.final })
	if d.log.lines[0] != "… 1.0 MiB of earlier output not shown" {
		t.Fatalf("first line %q, want a note of what was left out", d.log.lines[0])
	}
	hs.wantScreen("line 009")
	if n := strings.Count(strings.Join(b.allCalls(), ","), "log "+idPassed); n != 5 {
		t.Fatalf("%d log requests, want 5: one to learn the size, four pages of the tail", n)
	}
}

func TestResize(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	check := func(w, h int) {
		t.Helper()
		hs.update(tea.WindowSizeMsg{Width: w, Height: h})
		lines := strings.Split(hs.m.render(), "\n")
		if len(lines) != h {
			t.Fatalf("%dx%d: %d lines", w, h, len(lines))
		}
		for i, l := range lines {
			if lw := ansi.StringWidth(l); lw > w {
				t.Fatalf("%dx%d: line %d is %d wide: %q", w, h, i, lw, stripANSI(l))
			}
		}
	}
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {200, 60}, {81, 25}, {60, 16}, {40, 12}} {
		check(sz[0], sz[1])
		hs.press("?")
		check(sz[0], sz[1])
		hs.press("?", "enter")
		check(sz[0], sz[1])
		hs.press("esc")
	}
	hs.update(tea.WindowSizeMsg{Width: 30, Height: 8})
	hs.wantScreen("terminal too small", "30x8, need 40x12")

	// Shrinking keeps the cursor on screen.
	snap := sample()
	for i := range 200 {
		snap.Jobs = append(snap.Jobs, wire.JobInfo{ID: fmt.Sprintf("d%015x", i), Message: fmt.Sprintf("job %d", i), State: wire.StatusPassed, QueuedAt: t0.Add(-3*time.Hour - time.Duration(i)*time.Second)})
	}
	hs2 := newHarness(t, newFake(snap), 120, 50)
	hs2.press("G")
	hs2.wantScreen("job 199")
	hs2.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	hs2.wantScreen("job 199", "207/207")
	hs2.press("pgup")
	_, rows := hs2.m.listRows(hs2.m.bodyHeight())
	if want := 206 - rows; hs2.m.jobs.cursor != want {
		t.Fatalf("pgup: cursor %d, want %d", hs2.m.jobs.cursor, want)
	}
	hs2.wantScreen(fmt.Sprintf("%d/207", 207-rows))
}

func TestReconnect(t *testing.T) {
	b := newFake(sample())
	hs := newHarness(t, b, 100, 30)
	hs.selectJob(idFailed)
	hs.b.drop()
	hs.waitFor("the loss", func() bool { return hs.m.conn.state == connLost })
	hs.wantScreen("connection lost, reconnecting…", "Parse limits") // the last state stays
	if len(hs.timers) == 0 {
		t.Fatalf("no reconnection scheduled")
	}

	// Meanwhile the dispatcher moved on.
	b.mu.Lock()
	b.snap.Jobs = append([]wire.JobInfo{{ID: "e000000000000001", Commit: "abcdef0", Message: "Seen after the reconnect", State: wire.StateQueued, QueuedAt: t0}}, b.snap.Jobs...)
	b.snap.Runners = b.snap.Runners[:2]
	b.mu.Unlock()
	hs.fire()
	hs.waitFor("the new snapshot", func() bool { return hs.m.conn.state == connUp })
	hs.noScreen("connection lost")
	hs.wantScreen("Seen after the reconnect", "runners 2 live 0 lost")
	if hs.selJob() != idFailed {
		t.Fatalf("the selection did not survive the reconnect")
	}
	if n := strings.Count(strings.Join(b.allCalls(), ","), "subscribe"); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	// Events flow on the new subscription.
	j := wire.JobInfo{ID: "e000000000000002", Message: "After", State: wire.StateQueued, QueuedAt: t0.Add(time.Second)}
	hs.b.push(wire.Event{Kind: wire.EventJob, Job: &j})
	hs.waitFor("an event after the reconnect", func() bool { return hs.m.c.mirror.jobs[j.ID] != nil })
}

func TestSubscribeFailsThenRetries(t *testing.T) {
	b := newFake(sample())
	b.subErr = errors.New("connection refused")
	hs := &harness{t: t, b: b, msgs: make(chan tea.Msg, 64), done: make(chan struct{})}
	hs.m = New(b, Options{Now: fixedNow, NoColor: true})
	hs.m.after = func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		hs.timers = append(hs.timers, fn)
		return nil
	}
	t.Cleanup(func() { hs.m.Close(); close(hs.done) })
	hs.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	hs.run(hs.m.Init())
	hs.waitFor("the failure", func() bool { return hs.m.conn.state == connLost })
	hs.wantScreen("cannot connect, retrying… connection refused", "no jobs yet", "no runners connected")
	first := hs.m.conn.backoff
	hs.fire()
	hs.waitFor("the second failure", func() bool { return hs.m.conn.backoff > first })
	b.mu.Lock()
	b.subErr = nil
	b.mu.Unlock()
	hs.fire()
	hs.waitFor("the connection", func() bool { return hs.m.conn.state == connUp })
	hs.wantScreen("10.0.0.5:7700", "Add retry button")
	if hs.m.conn.backoff != 0 {
		t.Fatalf("the backoff was not reset")
	}
}

func TestDroppedEventsResubscribe(t *testing.T) {
	b := newFake(sample())
	hs := newHarness(t, b, 100, 30)
	b.mu.Lock()
	ch := b.subs[0]
	b.mu.Unlock()
	ch <- wire.Events{Dropped: 12}
	hs.waitFor("a second snapshot", func() bool { return hs.m.conn.snapshots == 2 })
	if n := strings.Count(strings.Join(b.allCalls(), ","), "subscribe"); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		hs := newHarness(t, newFake(sample()), 100, 30)
		hs.press(k)
		if !hs.m.quitting {
			t.Fatalf("%s did not quit", k)
		}
		var ids []string
		for _, j := range hs.m.Unfinished() {
			ids = append(ids, j.ID)
		}
		if !slices.Equal(ids, []string{idRunning, idQueued}) {
			t.Fatalf("unfinished = %v", ids)
		}
	}
	// ctrl+c quits while typing a filter, q does not.
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.press("/", "q")
	if hs.m.quitting || hs.m.jobs.filter != "q" {
		t.Fatalf("q while typing: quitting %v, filter %q", hs.m.quitting, hs.m.jobs.filter)
	}
	hs.press("ctrl+c")
	if !hs.m.quitting {
		t.Fatalf("ctrl+c while typing did not quit")
	}
}

func TestHelpToggle(t *testing.T) {
	hs := newHarness(t, newFake(sample()), 100, 30)
	hs.wantScreen("? help", "q quit")
	hs.press("?")
	hs.wantScreen("S-tab prev pane", "R     retry failed", "s   state", "? to close the help")
	hs.press("?")
	hs.noScreen("S-tab prev pane")
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-7]|4[0-7]|38;|48;|9[0-7])[0-9;]*m`)

func TestNoColor(t *testing.T) {
	for _, noColor := range []bool{true, false} {
		m := New(newFake(sample()), Options{Now: fixedNow, NoColor: noColor})
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
		m.c.mirror.reset(sample())
		m.refresh()
		m.layout()
		m.conn.state = connUp
		out := m.render()
		if got := colourSGR.MatchString(out); got == noColor {
			t.Fatalf("NoColor=%v: colour codes present: %v", noColor, got)
		}
		if !strings.Contains(out, "\x1b[") {
			t.Fatalf("NoColor=%v: no styling at all", noColor)
		}
	}
	t.Setenv("NO_COLOR", "1")
	if m := New(newFake(sample()), Options{}); m.color {
		t.Fatalf("NO_COLOR is not respected")
	}
	m := New(newFake(sample()), Options{})
	m.Update(tea.ColorProfileMsg{})
	if m.color {
		t.Fatalf("colour on an ASCII terminal")
	}
}

func TestUntrustedTextIsCleaned(t *testing.T) {
	snap := sample()
	snap.Jobs[0].Message = "evil \x1b[2J\x1b]0;title\x07cleared\tscreen"
	snap.Runners[0].Name = "r\x1b[31mred"
	b := newFake(snap)
	b.logs[idRunning] = "progress 10%\rprogress 100%\r\nbell\x07 and \x1b[1mbold\x1b[0m\n"
	hs := newHarness(t, b, 100, 30)
	hs.wantScreen("evil cleared    screen", "rred")
	hs.press("enter")
	hs.waitFor("the log", func() bool { return hs.m.detail.log.loaded })
	hs.wantScreen("progress 100%", "bell and bold")
	if strings.Contains(hs.m.render(), "\x1b[2J") || strings.Contains(hs.m.render(), "\x07") {
		t.Fatalf("control sequences reached the screen")
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0.0s",
		4200 * time.Millisecond:       "4.2s",
		42 * time.Second:              "42s",
		65 * time.Second:              "1m05s",
		2*time.Hour + 3*time.Minute:   "2h03m",
		76*time.Hour + 10*time.Minute: "3d04h",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
	for s, want := range map[string]string{
		"plain":              "plain",
		"tab\there":          "tab     here",
		"a\x1b[31mred\x1b[m": "ared",
		"bar 10%\rbar 100%":  "bar 100%",
		"bad \xff byte":      "bad ? byte",
		"nul\x00\x7f\u0085":  "nul",
	} {
		if got := clean(s); got != want {
			t.Errorf("clean(%q) = %q, want %q", s, got, want)
		}
	}
	for _, c := range []struct {
		s    string
		w    int
		want string
	}{{"abc", 5, "abc  "}, {"abcdef", 4, "abc…"}, {"“quoted”", 9, "“quoted” "}, {"日本語", 4, "日… "}} {
		if got := fit(c.s, c.w); got != c.want {
			t.Errorf("fit(%q, %d) = %q, want %q", c.s, c.w, got, c.want)
		}
	}
	if got := sparkline([]int{0, 1, 7, 0}); got != "▁▂█▁" {
		t.Errorf("sparkline = %q", got)
	}
}

// A log reply for an earlier opening of the same job is dropped: the detail
// pane is new each time a job opens, but its logs are numbered across openings.
func TestDetailReopenDropsStaleLog(t *testing.T) {
	b := newFake(sample())
	b.logs[idRunning] = logLines(0, 3)
	hs := newHarness(t, b, 100, 30)
	hs.press("enter")
	hs.waitFor("the log", func() bool { return hs.m.detail.log.loaded && !hs.m.detail.log.fetching })
	stale := hs.m.detail.log.gen
	hs.press("esc", "enter")
	d := hs.m.detail
	hs.waitFor("the log again", func() bool { return d.log.loaded && !d.log.fetching })
	end := d.log.end
	hs.update(logMsg{id: idRunning, gen: stale, chunk: wire.LogChunk{JobID: idRunning, Attempt: 1, Offset: end, End: end + 6, Data: "stale\n"}})
	if d.log.end != end || d.log.fetching {
		t.Fatalf("a reply for the earlier opening was taken: end %d, want %d", d.log.end, end)
	}
	hs.noScreen("stale")
}
