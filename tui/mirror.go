package tui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// jobEntry is a job as the console keeps it: the wire form plus the cleaned
// texts the table shows and the filter searches, worked out once per change
// rather than on every frame.
type jobEntry struct {
	info   wire.JobInfo
	commit string
	branch string
	msg    string
	runner string
	wait   string
	state  string // the state as shown, with the flaky mark
	hay    string
}

func (e *jobEntry) set(j wire.JobInfo) {
	j.Attempts = nil // only the detail view needs them, and it asks for them
	e.info = j
	e.commit = shortCommit(clean(j.Commit))
	e.branch = clean(j.Branch)
	e.msg = firstLine(j.Message)
	e.runner = clean(j.Runner)
	e.wait = clean(j.Waiting)
	e.state = stateText(&j)
	// The state as shown, so that "flaky" finds the flaky jobs.
	e.hay = strings.ToLower(strings.Join([]string{j.ID, j.Commit, e.branch, e.msg, clean(j.Author), e.runner, e.state, clean(j.Repo)}, "\x00"))
}

func (e *jobEntry) finished() bool { return e.info.State.Final() }

func (e *jobEntry) key() string { return e.info.ID }

// runnerEntry is a runner with its cleaned texts.
type runnerEntry struct {
	info   wire.RunnerInfo
	name   string
	labels string
	hay    string
}

func (e *runnerEntry) set(r wire.RunnerInfo) {
	e.info = r
	e.name = clean(r.Name)
	ls := make([]string, len(r.Labels))
	for i, l := range r.Labels {
		ls[i] = clean(l)
	}
	e.labels = strings.Join(ls, ",")
	e.hay = strings.ToLower(strings.Join([]string{e.name, r.State, e.labels, clean(r.Remote), strings.Join(r.Jobs, " ")}, "\x00"))
}

func (e *runnerEntry) key() string { return e.info.Name }

// counts are the header's figures.
type counts struct {
	live, lost                                         int
	queued, running, passed, failed, errors, cancelled int
}

// mirror is the console's local copy of the dispatcher's jobs and runners:
// replaced by each snapshot, kept current by the events that follow it. It is
// not a store: nothing is written back, and what it drops the dispatcher still
// has. Finished jobs are kept up to a bound, oldest dropped first, so a console
// left open for weeks does not grow without end; active jobs are always kept.
type mirror struct {
	jobs        map[string]*jobEntry
	order       []*jobEntry // oldest first, so that new jobs append
	unsorted    bool
	runners     map[string]*runnerEntry
	rorder      []*runnerEntry // by name
	runUnsorted bool
	maxFinished int
	maxRunners  int
}

func newMirror(maxFinished int) *mirror {
	return &mirror{
		jobs:        map[string]*jobEntry{},
		runners:     map[string]*runnerEntry{},
		maxFinished: maxFinished,
		maxRunners:  maxRunnersKept,
	}
}

// maxRunnersKept bounds the runners shown; past it, the longest-lost go first.
const maxRunnersKept = 2000

// reset replaces the state with a snapshot.
func (s *mirror) reset(snap *wire.Snapshot) {
	s.jobs = make(map[string]*jobEntry, len(snap.Jobs))
	s.order = s.order[:0]
	s.runners = make(map[string]*runnerEntry, len(snap.Runners))
	s.rorder = s.rorder[:0]
	// The snapshot lists jobs newest first; walking it backwards appends in order.
	for i := len(snap.Jobs) - 1; i >= 0; i-- {
		s.putJob(snap.Jobs[i])
	}
	for _, r := range snap.Runners {
		s.putRunner(r)
	}
	s.tidy()
}

func (s *mirror) putJob(j wire.JobInfo) *jobEntry {
	if j.ID == "" {
		return nil
	}
	if e, ok := s.jobs[j.ID]; ok {
		if !e.info.QueuedAt.Equal(j.QueuedAt) {
			s.unsorted = true
		}
		e.set(j)
		return e
	}
	e := &jobEntry{}
	e.set(j)
	if n := len(s.order); n > 0 && jobLess(e, s.order[n-1]) {
		s.unsorted = true
	}
	s.jobs[j.ID] = e
	s.order = append(s.order, e)
	return e
}

// putNewer records a job from a request's reply unless the event stream has
// already brought the same attempt or a later one: replies can be older than
// events, and the stream is the authority.
func (s *mirror) putNewer(j wire.JobInfo) *jobEntry {
	if e, ok := s.jobs[j.ID]; ok {
		// A retry queues a finished job again under the same attempt number (the
		// next one is given when a runner takes it): that is newer too.
		requeued := j.Attempt == e.info.Attempt && j.State == wire.StateQueued && e.info.State.Final()
		if e.info.Attempt > j.Attempt || e.info.Attempt == j.Attempt && !requeued {
			return e
		}
	}
	return s.putJob(j)
}

func jobLess(a, b *jobEntry) bool {
	if c := a.info.QueuedAt.Compare(b.info.QueuedAt); c != 0 {
		return c < 0
	}
	return a.info.ID < b.info.ID
}

func (s *mirror) putRunner(r wire.RunnerInfo) {
	if r.Name == "" {
		return
	}
	if e, ok := s.runners[r.Name]; ok {
		e.set(r)
		return
	}
	e := &runnerEntry{}
	e.set(r)
	s.runners[r.Name] = e
	s.rorder = append(s.rorder, e)
	s.runUnsorted = true
}

// tidy restores the orders and bounds after a batch of changes: sorting once per
// batch is cheaper than keeping order on every insert of a burst.
func (s *mirror) tidy() {
	if s.unsorted {
		slices.SortFunc(s.order, func(a, b *jobEntry) int {
			if jobLess(a, b) {
				return -1
			}
			if jobLess(b, a) {
				return 1
			}
			return 0
		})
		s.unsorted = false
	}
	finished := 0
	for _, e := range s.order {
		if e.finished() {
			finished++
		}
	}
	if over := finished - s.maxFinished; over > 0 {
		kept := s.order[:0]
		for _, e := range s.order {
			if over > 0 && e.finished() {
				over--
				delete(s.jobs, e.info.ID)
				continue
			}
			kept = append(kept, e)
		}
		clear(s.order[len(kept):])
		s.order = kept
	}
	if over := len(s.rorder) - s.maxRunners; over > 0 {
		lost := make([]*runnerEntry, 0, len(s.rorder))
		for _, e := range s.rorder {
			if e.info.State == wire.RunnerLost {
				lost = append(lost, e)
			}
		}
		slices.SortFunc(lost, func(a, b *runnerEntry) int { return a.info.LastSeen.Compare(b.info.LastSeen) })
		for _, e := range lost[:min(over, len(lost))] {
			delete(s.runners, e.info.Name)
		}
		kept := s.rorder[:0]
		for _, e := range s.rorder {
			if _, ok := s.runners[e.info.Name]; ok {
				kept = append(kept, e)
			}
		}
		clear(s.rorder[len(kept):])
		s.rorder = kept
	}
	if s.runUnsorted {
		slices.SortFunc(s.rorder, func(a, b *runnerEntry) int { return cmp.Compare(a.info.Name, b.info.Name) })
		s.runUnsorted = false
	}
}

func (s *mirror) counts() counts {
	var c counts
	for _, e := range s.rorder {
		if e.info.State == wire.RunnerLost {
			c.lost++
		} else {
			c.live++
		}
	}
	for _, e := range s.order {
		switch e.info.State {
		case wire.StateQueued:
			c.queued++
		case wire.StateAssigned, wire.StateRunning:
			c.running++
		case wire.StatusPassed:
			c.passed++
		case wire.StatusFailed:
			c.failed++
		case wire.StatusError:
			c.errors++
		case wire.StatusCancelled:
			c.cancelled++
		}
	}
	return c
}

// Throughput is counted in buckets of sparkBucket, sparkBuckets of them.
const (
	sparkBucket  = 10 * time.Second
	sparkBuckets = 30
)

// throughput counts jobs finished in each bucket up to now, oldest first.
func (s *mirror) throughput(now time.Time) []int {
	out := make([]int, sparkBuckets)
	end := now.Truncate(sparkBucket).Add(sparkBucket)
	start := end.Add(-sparkBuckets * sparkBucket)
	for _, e := range s.order {
		f := e.info.FinishedAt
		if !e.finished() || f.IsZero() || f.Before(start) || !f.Before(end) {
			continue
		}
		out[int(f.Sub(start)/sparkBucket)]++
	}
	return out
}

// terms splits a filter into lower-case words that must all match.
func terms(text string) []string {
	return strings.Fields(strings.ToLower(text))
}

func matchAll(hay string, ts []string) bool {
	for _, t := range ts {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

// jobsView lists the jobs that pass the filters, newest first, reusing buf; a
// nil match lets every state through.
func (s *mirror) jobsView(buf []*jobEntry, text string, match func(wire.State) bool) []*jobEntry {
	buf = buf[:0]
	ts := terms(text)
	for i := len(s.order) - 1; i >= 0; i-- {
		e := s.order[i]
		if match != nil && !match(e.info.State) {
			continue
		}
		if len(ts) > 0 && !matchAll(e.hay, ts) {
			continue
		}
		buf = append(buf, e)
	}
	return buf
}

// runnersView lists the runners that pass the filter, by name, reusing buf.
func (s *mirror) runnersView(buf []*runnerEntry, text string) []*runnerEntry {
	buf = buf[:0]
	ts := terms(text)
	for _, e := range s.rorder {
		if len(ts) > 0 && !matchAll(e.hay, ts) {
			continue
		}
		buf = append(buf, e)
	}
	return buf
}

// active lists the jobs not yet finished, newest first.
func (s *mirror) active() []wire.JobInfo {
	var out []wire.JobInfo
	for i := len(s.order) - 1; i >= 0; i-- {
		if e := s.order[i]; e.info.State.Active() {
			out = append(out, e.info)
		}
	}
	return out
}
