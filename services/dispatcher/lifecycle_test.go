package dispatcher

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

var (
	allStates = []State{stateNew, wire.StateQueued, wire.StateAssigned, wire.StateRunning,
		wire.StatusPassed, wire.StatusFailed, wire.StatusError, wire.StatusCancelled}
	allEvents = []event{evSubmit, evLease, evStart, evReclaim, evLeaseRefused, evInfra, evRunnerLost,
		evOrphanLost, evExhausted, evStopped, evFinish, evCancel, evRetry, evRerun}
)

// stateTable is the transition table as docs/ARCHITECTURE.md shows it: a row per
// state, a column per event, the state it leads to, or nothing where the event is
// refused.
const stateTable = `| state \ event | submit | lease | start | reclaim | lease refused | infra retry | runner lost | orphan lost | attempts exhausted | stopped | finish | cancel | retry | rerun |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| (new) | queued |  |  |  |  |  |  |  |  |  |  |  |  |  |
| queued |  | assigned |  |  |  |  |  |  |  |  |  | cancelled |  |  |
| assigned |  |  | running | running | queued | queued | queued | queued | error | cancelled | passed, failed, error, cancelled | assigned |  | queued |
| running |  |  |  | running |  | queued | queued | queued | error | cancelled | passed, failed, error, cancelled | running |  | queued |
| passed |  |  |  |  |  |  |  |  |  |  |  |  | queued |  |
| failed |  |  |  |  |  |  |  |  |  |  |  |  | queued |  |
| error |  |  |  |  |  |  |  |  |  |  |  |  | queued |  |
| cancelled |  |  |  |  |  |  |  |  |  |  |  |  | queued |  |
`

func renderTable() string {
	var b strings.Builder
	b.WriteString(`| state \ event |`)
	for _, ev := range allEvents {
		fmt.Fprintf(&b, " %s |", ev)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(allEvents)) + "\n")
	for _, from := range allStates {
		name := string(from)
		if from == stateNew {
			name = "(new)"
		}
		fmt.Fprintf(&b, "| %s |", name)
		for _, ev := range allEvents {
			var tos []string
			for _, tr := range transitions {
				if tr.from == from && tr.ev == ev {
					tos = append(tos, string(tr.to))
				}
			}
			fmt.Fprintf(&b, " %s |", strings.Join(tos, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestTransitionTableIsDocumented(t *testing.T) {
	t.Parallel()
	if got := renderTable(); got != stateTable {
		t.Errorf("the transition table changed; update stateTable and docs/ARCHITECTURE.md:\n%s", got)
	}
	for _, tr := range transitions {
		if tr.from != stateNew && !wire.ValidState(string(tr.from)) || !wire.ValidState(string(tr.to)) {
			t.Errorf("row %+v names a state wire does not know", tr)
		}
	}
}

// lifecycleBench builds jobs in any state through the transition functions
// themselves, on a runner the scheduler does not know (so it never leases them
// on its own).
type lifecycleBench struct {
	d *Dispatcher
	r *runner
	n int
}

func newLifecycleBench(t *testing.T, maxAttempts int) *lifecycleBench {
	d := newTestDispatcher(t, Config{MaxAttempts: maxAttempts, NoResultFiles: true})
	return &lifecycleBench{d: d, r: &runner{name: "r1", slots: 1, jobs: make(map[string]*job)}}
}

func (b *lifecycleBench) result(j *job, status State) *wire.Result {
	now := time.Now()
	return &wire.Result{JobID: j.ID, Attempt: j.Attempt, Status: string(status), StartedAt: now, FinishedAt: now}
}

// reach returns a job in state s; called with d.mu held.
func (b *lifecycleBench) reach(t *testing.T, s State) *job {
	t.Helper()
	b.n++
	j := &job{Job: Job{ID: b.d.newJobIDLocked(), Repo: "/r", Commit: fmt.Sprintf("%040x", b.n)}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("reaching %s: %v", s, err)
		}
	}
	steps := map[State]func(){
		wire.StateQueued:   func() { _, err := b.d.submitLocked(j); must(err) },
		wire.StateAssigned: func() { _, err := b.d.leaseLocked(j, b.r); must(err) },
		wire.StateRunning:  func() { must(b.d.startLocked(j)) },
	}
	path := []State{wire.StateQueued, wire.StateAssigned, wire.StateRunning}
	for _, p := range path {
		if s == stateNew {
			break
		}
		steps[p]()
		if p == s {
			return j
		}
	}
	if s.Final() {
		must(b.d.finishLocked(j, b.r, b.result(j, s), string(s), nil))
	}
	if j.State != s {
		t.Fatalf("reached %q, want %q", j.State, s)
	}
	return j
}

// apply makes ev happen to j through its function; to picks the result's status
// for finish.
func (b *lifecycleBench) apply(j *job, ev event, to State) error {
	d := b.d
	switch ev {
	case evSubmit:
		_, err := d.submitLocked(j)
		return err
	case evLease:
		_, err := d.leaseLocked(j, b.r)
		return err
	case evStart:
		return d.startLocked(j)
	case evReclaim:
		return d.reclaimLocked(j, b.r)
	case evLeaseRefused:
		return d.leaseRefusedLocked(j, "test")
	case evInfra:
		return d.retryInfraLocked(j, "test")
	case evRunnerLost:
		return d.runnerLostLocked(j, "test")
	case evOrphanLost:
		return d.orphanLostLocked(j, "test")
	case evExhausted: // a bench with MaxAttempts 1: the first loss is the last
		return d.runnerLostLocked(j, "test")
	case evStopped:
		j.stopping = true // what cancelLocked marks on a job with a runner
		return d.runnerLostLocked(j, "test")
	case evFinish:
		if !to.Final() {
			to = wire.StatusPassed
		}
		return d.finishLocked(j, b.r, b.result(j, to), string(to), nil)
	case evCancel:
		_, err := d.cancelLocked(j)
		return err
	case evRetry:
		_, err := d.retryLocked(j)
		return err
	case evRerun:
		res := b.result(j, wire.StatusFailed)
		res.RetryFailed = 1
		return d.rerunLocked(j, b.r, res, nil)
	}
	panic("unknown event " + ev)
}

// Every row of the table is reachable through the real functions, and every
// event a state has no row for is refused without changing the job.
func TestTransitions(t *testing.T) {
	t.Parallel()
	many, one := newLifecycleBench(t, 100), newLifecycleBench(t, 1)
	bench := func(ev event) *lifecycleBench {
		if ev == evExhausted {
			return one
		}
		return many
	}
	for _, tr := range transitions {
		t.Run(fmt.Sprintf("%s/%s/%s", tr.from, tr.ev, tr.to), func(t *testing.T) {
			b := bench(tr.ev)
			b.d.mu.Lock()
			defer b.d.mu.Unlock()
			j := b.reach(t, tr.from)
			if err := b.apply(j, tr.ev, tr.to); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if j.State != tr.to {
				t.Fatalf("%s from %s: %s, want %s", tr.ev, tr.from, j.State, tr.to)
			}
		})
	}
	for _, from := range allStates {
		for _, ev := range allEvents {
			has := false
			for _, tr := range transitions {
				has = has || tr.from == from && tr.ev == ev
			}
			if has {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/refused", from, ev), func(t *testing.T) {
				b := bench(ev)
				b.d.mu.Lock()
				defer b.d.mu.Unlock()
				j := b.reach(t, from)
				before := j.copy()
				err := b.apply(j, ev, "")
				if !errors.Is(err, errTransition) {
					t.Fatalf("%s from %s: error %v, want a refusal", ev, from, err)
				}
				if j.State != from || j.Attempt != before.Attempt || j.Runner != before.Runner || len(j.Attempts) != len(before.Attempts) {
					t.Fatalf("a refused %s changed the job: %+v, was %+v", ev, j.Job, before)
				}
			})
		}
	}
}
