package tui

import (
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// bigSnapshot is a busy dispatcher: 500 runners and 10,000 jobs, most finished.
func bigSnapshot() *wire.Snapshot {
	snap := &wire.Snapshot{Address: "ci.example.com:7700", StartedAt: t0.Add(-72 * time.Hour)}
	states := []string{wire.StatusPassed, wire.StatusPassed, wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled}
	for i := range 500 {
		r := wire.RunnerInfo{Name: fmt.Sprintf("runner-%03d", i), State: wire.RunnerIdle, Slots: 4, Done: i * 7, LastSeen: t0.Add(-time.Duration(i%30) * time.Second), Labels: []string{"linux", "amd64"}}
		if i%5 == 0 {
			r.State, r.Jobs = wire.RunnerBusy, []string{fmt.Sprintf("%016x", 10000-i/5)}
		}
		if i%97 == 0 {
			r.State = wire.RunnerLost
		}
		snap.Runners = append(snap.Runners, r)
	}
	for i := range 10000 {
		j := wire.JobInfo{
			ID: fmt.Sprintf("%016x", 10000-i), Repo: "/src/app", Commit: fmt.Sprintf("%040x", i*7919),
			Branch: []string{"main", "feature/console", "fix/flaky-test"}[i%3], Author: "Ada",
			Message: fmt.Sprintf("Change number %d to the thing that needs changing", 10000-i),
			Attempt: 1 + i%3, Runner: fmt.Sprintf("runner-%03d", i%500),
			QueuedAt: t0.Add(-time.Duration(i) * 17 * time.Second),
		}
		j.StartedAt = j.QueuedAt.Add(2 * time.Second)
		switch {
		case i < 100:
			j.State = wire.StateRunning
		case i < 150:
			j.State, j.Runner, j.Attempt, j.StartedAt, j.Waiting = wire.StateQueued, "", 0, time.Time{}, "all 2000 slots busy"
		default:
			j.State = wire.State(states[i%len(states)])
			j.FinishedAt = j.StartedAt.Add(time.Duration(30+i%90) * time.Second)
			j.Summary = &wire.Summary{Passed: 120, Failed: i % 2}
		}
		snap.Jobs = append(snap.Jobs, j)
	}
	return snap
}

func benchModel(b *testing.B, w, h int, noColor bool) *Model {
	m := New(newFake(&wire.Snapshot{}), Options{Now: fixedNow, NoColor: noColor})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(subscribedMsg{gen: m.conn.gen, snap: bigSnapshot(), ch: make(chan wire.Events)})
	if len(m.jobs.shown) != 10000 || len(m.runners.shown) != 500 {
		b.Fatalf("%d jobs and %d runners", len(m.jobs.shown), len(m.runners.shown))
	}
	return m
}

// BenchmarkView draws the list screen of a console holding 10,000 jobs and 500
// runners, with the cursor in the middle of the jobs.
func BenchmarkView(b *testing.B) {
	for _, c := range []struct {
		name    string
		w, h    int
		noColor bool
	}{{"120x40", 120, 40, false}, {"80x24", 80, 24, false}, {"200x60", 200, 60, false}, {"120x40-nocolor", 120, 40, true}} {
		b.Run(c.name, func(b *testing.B) {
			m := benchModel(b, c.w, c.h, c.noColor)
			for range 5000 {
				m.Update(keyMsg("j"))
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// BenchmarkEventBatch applies a coalesced batch of 100 job changes to a console
// holding 10,000 jobs: the cost of an update, which is paid per batch.
func BenchmarkEventBatch(b *testing.B) {
	m := benchModel(b, 120, 40, false)
	ch := make(chan wire.Events)
	var evs []wire.Event
	for i := range 100 {
		j := m.jobs.shown[i].info
		j.State = wire.StatusPassed
		j.FinishedAt = t0
		evs = append(evs, wire.Event{Kind: wire.EventJob, Job: &j})
	}
	msg := eventsMsg{gen: m.conn.gen, ch: ch, batches: []wire.Events{{Events: evs}}}
	b.ReportAllocs()
	for b.Loop() {
		m.Update(msg)
	}
}
