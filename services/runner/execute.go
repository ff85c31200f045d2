package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/testreport"
	"github.com/eventide-ci/eventide/services/testrun"
)

// fits reports whether res is one the dispatcher accepts and fits in a frame
// once escaped.
func fits(res *wire.Result) bool {
	b, err := json.Marshal(res)
	return err == nil && len(b) <= wire.MaxFrameSize*3/4 && res.Validate() == nil
}

// execute checks the commit out, runs its tests and records the result in j.
func (r *Runner) execute(ctx context.Context, j *job) {
	started := time.Now()
	var checkout, tests time.Duration // phases, logged so slow ones are visible
	res := &wire.Result{JobID: j.a.JobID, Attempt: j.a.Attempt, ExitCode: -1, StartedAt: started}
	var removeWorktree func()    // after the result is on its way: nobody waits for it
	var records []wire.TestChunk // the attempt's per-test records, packed
	defer func() {
		res.Reason = wire.Clip(res.Reason, wire.MaxReasonLen)
		if len(res.Summary.Failing) > wire.MaxFailing {
			res.Summary.Failing = res.Summary.Failing[:wire.MaxFailing]
		}
		for i, name := range res.Summary.Failing {
			res.Summary.Failing[i] = wire.Clip(name, wire.MaxTestName)
		}
		res.FinishedAt = time.Now()
		if res.FinishedAt.Before(res.StartedAt) { // the wall clock stepped back
			res.FinishedAt = res.StartedAt
		}
		// Per-test outcomes are a bonus: never let them make the result one the
		// dispatcher refuses (invalid, or too big for a frame once escaped), which
		// the runner would send again forever.
		if !fits(res) {
			res.Summary.Tests = nil
		}
		if !fits(res) { // names or messages that escape to many bytes each
			res.Summary.Failures = nil
		}
		j.finishWith(res, records)
		if removeWorktree != nil {
			removeWorktree()
		}
		r.log.Info("job finished", "job", j.a.JobID, "attempt", j.a.Attempt, "status", res.Status,
			"passed", res.Summary.Passed, "failed", res.Summary.Failed, "took", time.Since(started).Round(time.Millisecond),
			"checkout", checkout.Round(time.Millisecond), "tests", tests.Round(time.Millisecond))
	}()

	src := j.a.Repo
	if r.cfg.Repo != "" {
		src = r.cfg.Repo
	}
	// Built from a validated job id and an integer only.
	wt := filepath.Join(r.cfg.WorkDir, "worktrees", fmt.Sprintf("%s-%d", j.a.JobID, j.a.Attempt))
	if err := os.MkdirAll(filepath.Dir(wt), 0o755); err != nil {
		res.Status, res.Reason, res.Infra = wire.StatusError, "preparing the work directory: "+err.Error(), true
		return
	}
	os.RemoveAll(wt) // a leftover of a crashed earlier run of this very attempt
	err := r.cache.Checkout(ctx, src, j.a.Commit, wt)
	checkout = time.Since(started)
	if err != nil {
		res.Status, res.Reason, res.Infra = wire.StatusError, "checkout failed: "+err.Error(), true
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, ErrStopping) {
			res.Status, res.Reason, res.Infra = wire.StatusCancelled, cause.Error(), false
		}
		fmt.Fprintf(j, "eventide: %s\n", res.Reason)
		return
	}
	removeWorktree = func() {
		// Removing needs its own context: the job's may be cancelled by now.
		rmCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.cache.Remove(rmCtx, src, wt); err != nil {
			r.log.Warn("removing worktree", "dir", wt, "err", err)
		}
	}

	if r.jobUser != nil {
		if err := r.jobUser.Own(wt); err != nil {
			res.Status, res.Reason, res.Infra = wire.StatusError, err.Error(), true
			fmt.Fprintf(j, "eventide: %s\n", res.Reason)
			return
		}
	}

	spec, err := testrun.LoadSpec(wt)
	if err != nil {
		res.Status, res.Reason = wire.StatusError, err.Error()
		fmt.Fprintf(j, "eventide: %s\n", res.Reason)
		return
	}
	timeout := r.cfg.JobTimeout
	if spec.Timeout > 0 {
		timeout = spec.Timeout
	}
	fmt.Fprintf(j, "eventide: runner %s, commit %s, running %q (from %s, timeout %v)\n",
		r.cfg.Name, j.a.Commit, spec.Command, spec.Source, timeout)
	testsStarted := time.Now()
	out := testrun.Run(ctx, spec, testrun.Options{
		Dir: wt, Output: j, Grace: r.cfg.Grace, Timeout: timeout,
		Env: r.jobEnv(&j.a, wt), Hide: r.cfg.HideEnv, User: r.jobUser,
		Contain: r.contain,
	})
	tests = time.Since(testsStarted)
	if u := out.Usage; u != nil {
		fmt.Fprint(j, usageLine(u, r.contain.Mode()))
		res.CPUMS = new(min(u.CPU.Milliseconds(), wire.MaxCPUMS))
		if u.PeakMemory >= 0 {
			res.PeakMemoryBytes = new(min(u.PeakMemory, wire.MaxPeakMemoryBytes))
		}
	}
	res.ExitCode = out.ExitCode
	res.RetryFailed = spec.RetryFailed
	parseStarted := time.Now()
	// A bytes.Reader cannot fail, so neither can Parse.
	rep, _ := testreport.Parse(bytes.NewReader(j.output()))
	source := "output"
	if out.Reason != testrun.ReasonCancelled {
		// Report files win over what the output says, when any parsed.
		if files := collectReports(wt, spec.Reports, j); files != nil {
			rep, source = files, "report files"
		}
	}
	res.Summary = summaryOf(rep)
	list := testRecords(rep)
	records = packTests(j.a.JobID, j.a.Attempt, list)
	r.log.Info("tests read", "job", j.a.JobID, "attempt", j.a.Attempt, "from", source,
		"records", len(list), "chunks", len(records), "took", time.Since(parseStarted).Round(time.Millisecond))
	switch out.Reason {
	case testrun.ReasonExited:
		res.Status = wire.StatusPassed
		if out.ExitCode != 0 {
			res.Status = wire.StatusFailed
		}
	case testrun.ReasonTimeout:
		res.Status, res.Reason = wire.StatusError, fmt.Sprintf("timed out after %v", timeout)
	case testrun.ReasonCancelled:
		cause := context.Cause(ctx)
		res.Status, res.Reason = wire.StatusCancelled, cause.Error()
		// A runner that stops mid-job is an infrastructure failure: run it elsewhere.
		res.Infra = errors.Is(cause, ErrStopping)
		if res.Infra {
			res.Status = wire.StatusError
		}
	default:
		res.Status, res.Reason = wire.StatusError, fmt.Sprintf("could not start %q: %v", spec.Command, out.Err)
	}
	if res.Reason != "" {
		fmt.Fprintf(j, "eventide: %s\n", res.Reason)
	}
}
