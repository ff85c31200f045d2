package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// view draws the job's summary above its log.
func (d *detailPane) view(bool) []string {
	st := &d.c.st
	out := make([]string, 0, d.height)
	out = append(out, st.paneTitle(d.width, "Job "+clean(d.id), "esc back", true))
	out = append(out, d.info()...)
	out = append(out, d.logTitle())
	if d.log.loaded && len(d.log.lines) == 0 {
		out = append(out, st.dim.Render(" no output yet"))
	} else {
		out = append(out, strings.Split(d.vp.View(), "\n")...)
	}
	return out
}

// info is the part of the view above the log, fitted to the pane's height so
// that the log keeps at least half of it. The lines that must be there come
// first; failing tests and attempts share what is left.
func (d *detailPane) info() []string {
	now := d.c.now()
	budget := max(3, d.height-2-max(3, d.height/2))
	out := []string{d.subjectLine(), d.stateLine(now)}
	if l := d.waitLine(); l != "" {
		out = append(out, l)
	}
	out = append(out, d.testsLine())
	if d.jobErr != nil {
		out = append(out, d.line().add(d.c.st.errText, " job: "+clean(d.jobErr.Error())).String())
	}
	// Failing tests first, then the flaky ones and the attempts, each of
	// which keeps a share of what is left.
	left := budget - len(out)
	keepA, keepF := min(len(d.attempts), max(1, left/2)), 0
	if fl := d.flakyTests(); len(fl) > 0 {
		keepA, keepF = min(len(d.attempts), max(1, left/3)), min(len(fl), max(1, left/3))
	}
	out = append(out, d.failingLines(left, keepA+keepF)...)
	out = append(out, d.flakyLines(budget-len(out)-keepA)...)
	return append(out, d.attemptLines(budget-len(out), now)...)
}

func (d *detailPane) line() *row { return newRow(d.width) }

// subjectLine is the commit, branch, message and author.
func (d *detailPane) subjectLine() string {
	st, j := &d.c.st, &d.job
	l := d.line()
	l.add(plain, " ")
	l.add(st.address, shortCommit(clean(j.Commit))+" ")
	if b := clean(j.Branch); b != "" {
		l.add(st.dim, b+" ")
	}
	l.add(plain, " "+firstLine(j.Message))
	if a := clean(j.Author); a != "" {
		l.add(st.dim, " — "+a)
	}
	return l.String()
}

// stateLine is the state, attempt, runner and times.
func (d *detailPane) stateLine(now time.Time) string {
	st, j := &d.c.st, &d.job
	l := d.line()
	l.add(plain, " ")
	state := string(j.State)
	if state == "" {
		state = "unknown"
	}
	l.add(st.forJob(j.State), state)
	if flaky(j) {
		l.add(st.flaky, flakyMark)
	}
	switch {
	case j.Attempt > 0 && j.State == wire.StateQueued:
		// Retried: the next attempt gets its number when a runner takes it.
		l.add(plain, " · attempt "+strconv.Itoa(j.Attempt+1)+" next")
	case j.Attempt > 0:
		l.add(plain, " · attempt "+strconv.Itoa(j.Attempt))
	}
	if j.Runner != "" {
		l.add(plain, " · runner "+clean(j.Runner))
	}
	if dur := jobDuration(j, now); dur != "" {
		l.add(plain, " · took "+dur)
	}
	if !j.QueuedAt.IsZero() {
		l.add(st.dim, " · queued "+age(now.Sub(j.QueuedAt))+" ago")
	}
	if j.ExitCode != 0 {
		l.add(plain, " · exit "+strconv.Itoa(j.ExitCode))
	}
	// Only what was measured: an absent figure is unknown, not 0.
	if j.CPUMS != nil {
		l.add(st.dim, fmt.Sprintf(" · CPU %.2f s", float64(*j.CPUMS)/1000))
	}
	if j.PeakMemoryBytes != nil {
		l.add(st.dim, " · peak "+bytesText(*j.PeakMemoryBytes))
	}
	return l.String()
}

// waitLine says what a queued job waits for, or why a job ended as it did; ""
// when there is nothing to say.
func (d *detailPane) waitLine() string {
	st, j := &d.c.st, &d.job
	if j.State == wire.StateQueued {
		w := clean(j.Waiting)
		if w == "" {
			w = "in the queue"
		}
		return d.line().add(plain, " waiting: ").add(st.waiting, w).String()
	}
	if r := clean(j.Reason); r != "" {
		return d.line().add(plain, " reason: ").add(st.dim, r).String()
	}
	return ""
}

// testsLine counts the tests by outcome.
func (d *detailPane) testsLine() string {
	st, j := &d.c.st, &d.job
	l := d.line()
	l.add(plain, " tests: ")
	s := j.Summary
	switch {
	case s != nil && s.NotReported():
		l.add(st.dim, "not reported; the exit status decides")
	case s != nil:
		for i, p := range []struct {
			n     int
			name  string
			state wire.State
		}{{s.Passed, "passed", wire.StatusPassed}, {s.Failed, "failed", wire.StatusFailed}, {s.Errors, "errors", wire.StatusError}, {s.Skipped, "skipped", ""}} {
			if i > 0 {
				l.add(st.dim, " · ")
			}
			ps := st.forJob(p.state)
			if p.n == 0 || p.state == "" {
				ps = st.dim
			}
			n := strconv.Itoa(p.n)
			if s.IsUnknown(p.name) {
				ps, n = st.dim, "not reported"
				if p.n > 0 {
					n = "at least " + strconv.Itoa(p.n)
				}
			}
			l.add(ps, n+" "+p.name)
		}
	case j.State.Final():
		l.add(st.dim, "no summary")
	default:
		l.add(st.dim, "not yet")
	}
	if j.TestsTotal > 0 {
		l.add(st.dim, " · "+d.c.keys.Tests.Help().Key+": all "+strconv.Itoa(j.TestsTotal)+" by time")
	}
	return l.String()
}

// failingLines names the failing tests in the left lines, keeping keep of them
// for the attempts.
func (d *detailPane) failingLines(left, keep int) []string {
	st := &d.c.st
	s := d.job.Summary
	if s == nil || len(s.Failing) == 0 || left <= keep {
		return nil
	}
	n := min(len(s.Failing), left-keep)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		l := d.line()
		if i == 0 {
			l.add(plain, " failing: ")
		} else {
			l.add(plain, "          ")
		}
		if i == n-1 && n < len(s.Failing) {
			l.add(st.dim, fmt.Sprintf("… and %d more", len(s.Failing)-i))
			if d.job.TestsTotal > 0 {
				l.add(st.dim, " · "+d.c.keys.Tests.Help().Key+": all tests")
			}
		} else {
			l.add(st.failing, clean(s.Failing[i]))
			if slices.Contains(d.flakyTests(), s.Failing[i]) {
				l.add(st.flaky, " (flaky)")
			}
			if f, ok := failure(s, s.Failing[i]); ok {
				if f.DurationMS != nil {
					l.add(st.dim, " ("+testDuration(*f.DurationMS)+")")
				}
				if m := firstLine(f.Message); m != "" {
					l.add(st.dim, " — "+m)
				}
			}
		}
		out = append(out, l.String())
	}
	return out
}

// flakyTests are the open job's tests that flipped between attempts of its
// commit, once it has ended.
func (d *detailPane) flakyTests() []string {
	if !d.job.State.Final() {
		return nil
	}
	return d.job.FlakyTests
}

// flakyLines names the job's flaky tests in the left lines.
func (d *detailPane) flakyLines(left int) []string {
	st, fl := &d.c.st, d.flakyTests()
	n := min(len(fl), left)
	out := make([]string, 0, max(n, 0))
	for i := 0; i < n; i++ {
		l := d.line()
		if i == 0 {
			l.add(plain, " flaky:   ")
		} else {
			l.add(plain, "          ")
		}
		if i == n-1 && n < len(fl) {
			l.add(st.dim, fmt.Sprintf("… and %d more · %s: the repository's flaky tests", len(fl)-i, d.c.keys.Flaky.Help().Key))
		} else {
			l.add(st.flaky, clean(fl[i]))
		}
		out = append(out, l.String())
	}
	return out
}

// failure is the message and duration the runner sent for failing test id.
func failure(s *wire.Summary, id string) (wire.Failure, bool) {
	for _, f := range s.Failures {
		if f.ID == id {
			return f, true
		}
	}
	return wire.Failure{}, false
}

// attemptLines lists the latest attempts in the left lines, saying how many
// earlier ones did not fit.
func (d *detailPane) attemptLines(left int, now time.Time) []string {
	n := min(len(d.attempts), left)
	if n <= 0 {
		return nil
	}
	first := len(d.attempts) - n
	out := make([]string, 0, n)
	for i, a := range d.attempts[first:] {
		l := d.line()
		if i == 0 {
			l.add(plain, " attempts: ")
		} else {
			l.add(plain, "           ")
		}
		if i == 0 && first > 0 {
			l.add(d.c.st.dim, fmt.Sprintf("(%d earlier) ", first))
		}
		d.attempt(l, a, now)
		out = append(out, l.String())
	}
	return out
}

// attempt describes one attempt: its runner, how it ended and why.
func (d *detailPane) attempt(l *row, a wire.AttemptInfo, now time.Time) {
	st := &d.c.st
	l.add(plain, "#"+strconv.Itoa(a.N)+" "+clean(a.Runner)+" ")
	outcome := a.Outcome
	if outcome == "" {
		outcome = wire.StateRunning
	}
	oc := st.forJob(wire.State(outcome))
	if wire.State(outcome).Final() || outcome == wire.StateRunning {
		l.add(oc, outcome)
	} else {
		l.add(st.warn, outcome)
	}
	end := a.Ended
	if end.IsZero() {
		end = now
	}
	if !a.Assigned.IsZero() {
		l.add(st.dim, " after "+span(end.Sub(a.Assigned)))
	}
	if a.LogBytes > 0 {
		l.add(st.dim, " · "+bytesText(a.LogBytes)+" log")
	}
	if r := clean(a.Reason); r != "" {
		l.add(st.dim, " · "+r)
	}
	if a.Rerun {
		l.add(st.dim, " · re-run of a failure (retry_failed)")
	}
}

// logTitle is the rule above the log, saying which attempt it is and where
// it stands.
func (d *detailPane) logTitle() string {
	st, l := &d.c.st, &d.log
	var parts []string
	if l.attempt > 0 {
		parts = append(parts, "attempt "+strconv.Itoa(l.attempt))
	}
	switch {
	case l.err != nil:
		parts = append(parts, "log: "+clean(l.err.Error()))
	case !l.loaded:
		parts = append(parts, "loading…")
	case l.final:
		parts = append(parts, "ended")
	default:
		parts = append(parts, "live")
	}
	if d.follow {
		parts = append(parts, "following")
	}
	if l.end > 0 {
		parts = append(parts, bytesText(l.end))
	}
	if d.search != "" {
		parts = append(parts, fmt.Sprintf("/%s: %s", cut(d.search, 20), plural(d.matches, "match", "matches")))
	}
	r := newRow(d.width)
	r.add(st.dim, "─")
	r.add(st.pane, " Log ")
	r.add(st.dim, "─ ")
	r.add(plain, strings.Join(parts, " · ")+" ")
	r.fill(st.dim, "─")
	return r.String()
}
