package dispatcher

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// output appends a chunk to the attempt's log. Chunks are placed by offset, so a
// chunk sent again after a reconnect is dropped and a gap is marked, never hidden.
func (d *Dispatcher) output(r *runner, o *wire.Output) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recordedLocked(r, o.JobID, o.Attempt) {
		return nil // a repeat from before the result was recorded
	}
	j, err := d.currentLocked(r, o.JobID, o.Attempt)
	if err != nil {
		return err
	}
	d.startedLocked(j) // output can overtake the lease goroutine
	data := o.Data
	end := o.Offset + int64(len(data))
	if end <= j.logBytes {
		return nil // already have it
	}
	var b strings.Builder
	if o.Offset > j.logBytes {
		fmt.Fprintf(&b, "\n[eventide: %d bytes of output were lost here]\n", o.Offset-j.logBytes)
	} else {
		data = data[j.logBytes-o.Offset:]
	}
	b.WriteString(data)
	j.logBytes = end
	return d.appendLogLocked(j, b.String())
}

func (d *Dispatcher) appendLogLocked(j *Job, s string) error {
	if j.logCut {
		return nil
	}
	if room := d.cfg.MaxLogBytes - j.logStored; int64(len(s)) > room {
		s = s[:max(room, 0)] + fmt.Sprintf("\n[eventide: output cut at %d bytes]\n", d.cfg.MaxLogBytes)
		j.logCut = true
	}
	n, err := d.results.appendLog(j.ID, j.Attempt, s)
	j.logStored += int64(n)
	if err != nil {
		return wire.Errorf(wire.CodeInternal, "storing output of job %s: %v", j.ID, err)
	}
	return nil
}

// currentLocked returns the job if attempt is its current one on runner r.
func (d *Dispatcher) currentLocked(r *runner, id string, attempt int) (*Job, error) {
	j, ok := d.jobs[id]
	if !ok {
		return nil, errNoJob(id)
	}
	if j.Attempt != attempt || j.Runner != r.name || (j.State != StateAssigned && j.State != StateRunning) || r.lost {
		return nil, errStale(id, attempt, j.Attempt)
	}
	return j, nil
}

// recordedLocked reports whether runner r's result for this attempt is recorded.
func (d *Dispatcher) recordedLocked(r *runner, id string, attempt int) bool {
	j, ok := d.jobs[id]
	return ok && j.Result != nil && j.Result.Attempt == attempt && j.Runner == r.name
}

// result records how an attempt ended, once: a repeat of the recorded result is
// acknowledged again; anything for an older attempt is refused.
func (d *Dispatcher) result(r *runner, res *wire.Result) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recordedLocked(r, res.JobID, res.Attempt) {
		return nil // delivered twice (the first acknowledgement was lost)
	}
	j, err := d.currentLocked(r, res.JobID, res.Attempt)
	if err != nil {
		return err
	}
	if res.Infra && res.Status == wire.StatusError {
		d.retryLocked(j, "infra", fmt.Sprintf("runner %s: %s", r.name, res.Reason))
		return nil
	}
	now := time.Now()
	if res.OutputBytes > j.logBytes {
		d.appendLogLocked(j, fmt.Sprintf("\n[eventide: the last %d bytes of output were lost]\n", res.OutputBytes-j.logBytes))
		j.logBytes = res.OutputBytes // marked once, even if the write below fails
	}
	// The file is written from a copy of the finished job first: if that fails,
	// nothing has changed, the result is not acknowledged, and the runner resends it.
	done := *j
	done.Attempts = append([]Attempt(nil), j.Attempts...)
	if done.StartedAt.IsZero() {
		done.StartedAt = res.StartedAt
	}
	done.State, done.Reason, done.FinishedAt, done.Result = State(res.Status), res.Reason, now, res
	done.endAttempt(now, res.Status, res.Reason)
	if err := d.results.write(&done, res); err != nil {
		return wire.Errorf(wire.CodeInternal, "recording result of job %s: %v", j.ID, err)
	}
	*j = done
	delete(r.jobs, j.ID)
	d.deactivateLocked(j)
	d.finishedLocked(j)
	r.done++
	d.log.Info("job finished", "job", j.ID, "attempt", j.Attempt, "status", res.Status, "runner", r.name,
		"commit", short(j.Commit), "passed", res.Summary.Passed, "failed", res.Summary.Failed, "errors", res.Summary.Errors)
	d.kick()
	return nil
}

// resultWriter owns the results directory: test_results/<commit> files, with
// attempt logs under .logs/ while jobs run.
type resultWriter struct {
	dir  string
	logs string
}

func newResultWriter(dir string) (*resultWriter, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	logs := filepath.Join(dir, ".logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	return &resultWriter{dir: dir, logs: logs}, nil
}

// logPath is built only from a validated job id and an integer.
func (w *resultWriter) logPath(id string, attempt int) string {
	return filepath.Join(w.logs, fmt.Sprintf("%s.%d.log", id, attempt))
}

// removeLog deletes an attempt's stored output (best effort).
func (w *resultWriter) removeLog(id string, attempt int) { os.Remove(w.logPath(id, attempt)) }

// logSize is how much output is stored for an attempt (0 if none).
func (w *resultWriter) logSize(id string, attempt int) int64 {
	fi, err := os.Stat(w.logPath(id, attempt))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (w *resultWriter) appendLog(id string, attempt int, s string) (int, error) {
	f, err := os.OpenFile(w.logPath(id, attempt), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// write writes test_results/<commit> atomically (temporary file, fsync, rename):
// the summary, then the attempt's output. res is nil for a job that never ran.
func (w *resultWriter) write(j *Job, res *wire.Result) error {
	if !wire.ValidCommit(j.Commit) {
		return fmt.Errorf("refusing to write a result for commit %q", j.Commit)
	}
	f, err := os.CreateTemp(w.dir, ".result-*")
	if err != nil {
		return fmt.Errorf("result file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := io.WriteString(f, summary(j, res)); err != nil {
		f.Close()
		return fmt.Errorf("result file: %w", err)
	}
	logPath := w.logPath(j.ID, j.Attempt)
	if lf, err := os.Open(logPath); err == nil {
		_, err = io.Copy(f, lf)
		lf.Close()
		if err != nil {
			f.Close()
			return fmt.Errorf("result file: copying output: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("result file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("result file: %w", err)
	}
	dst := filepath.Join(w.dir, j.Commit)
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("result file: %w", err)
	}
	os.Remove(logPath)
	return nil
}

// summary renders the head of a result file: one "Key: value" per line. Every value
// is on one line: validation keeps line breaks out of names, and free text is cut.
func summary(j *Job, res *wire.Result) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-10s %s\n", k+":", oneLine(v)) }
	line("Status", string(j.State))
	line("Commit", j.Commit)
	line("Branch", j.Branch)
	line("Repo", j.Repo)
	if j.Message != "" {
		line("Message", j.Message)
	}
	if j.Author != "" {
		line("Author", j.Author)
	}
	line("Job", fmt.Sprintf("%s attempt %d", j.ID, j.Attempt))
	line("Runner", j.Runner)
	if res != nil {
		s := res.Summary
		line("Tests", fmt.Sprintf("%d passed, %d failed, %d errors, %d skipped", s.Passed, s.Failed, s.Errors, s.Skipped))
		for _, t := range s.Failing {
			line("Failing", t)
		}
		line("Exit code", fmt.Sprint(res.ExitCode))
		line("Started", res.StartedAt.UTC().Format(time.RFC3339Nano))
		line("Finished", res.FinishedAt.UTC().Format(time.RFC3339Nano))
		line("Duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond).String())
	}
	line("Queued", j.QueuedAt.UTC().Format(time.RFC3339Nano))
	if j.Reason != "" {
		line("Reason", j.Reason)
	}
	for _, a := range j.Attempts {
		if a.N != j.Attempt {
			line("Retried", fmt.Sprintf("attempt %d on %s: %s", a.N, a.Runner, a.Reason))
		}
	}
	b.WriteString("\n--- output ---\n")
	return b.String()
}

func oneLine(s string) string {
	s, _, cut := strings.Cut(s, "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += " …"
	}
	return s
}
