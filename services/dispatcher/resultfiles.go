package dispatcher

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// resultWriter writes test_results/<commit> files off the dispatcher's lock, in
// batches: each file once its job's result is stored (so the file never says more
// than the store), then one sync for the batch, then the store notes it. A crash
// in between only means the file is written again on the next start.
//
// It holds at most maxPending files in memory. Past that it falls behind: it
// forgets what it is asked for and, once it has written the rest, reads what is
// still unwritten from the store, maxPending at a time.
type resultWriter struct {
	dir        string
	st         store.Store
	log        *slog.Logger
	ctx        context.Context
	maxPending int

	mu          sync.Mutex
	pending     []pendingFile
	outMem      int64         // bytes of output held in pending
	behind      bool          // files were asked for and not queued: catch up from the store
	behindAfter *store.Ticket // commits the store has all of them after
	marked      *store.Ticket // the last batch's notes that its files are written
	wake        chan struct{}
}

// maxPendingFiles is how many result files a writer queues in memory.
const maxPendingFiles = 10000

type pendingFile struct {
	job     Job
	saved   *store.Ticket
	out     string // the output, when haveOut; else it is read from the store
	haveOut bool
	// found is what storing the result revealed about flaky tests, filled
	// in once saved is done (nil: the job came from the store, which knows).
	found *store.Flakiness
}

func newResultWriter(dir string) (*resultWriter, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	return &resultWriter{dir: dir, wake: make(chan struct{}, 1), maxPending: maxPendingFiles}, nil
}

// queue asks for j's file once saved is committed (nil: it already is). A nil
// writer (no result files) does nothing, as do its other methods.
func (w *resultWriter) queue(p pendingFile) {
	if w == nil {
		return
	}
	w.mu.Lock()
	if len(w.pending) >= w.maxPending {
		w.fallBehindLocked(p.saved)
		w.mu.Unlock()
		return
	}
	// A writer that has fallen behind (a slow file system under load) must not
	// hold everyone's output: past the budget the output is read back from the
	// store when the file is written.
	if p.haveOut && w.outMem+int64(len(p.out)) > memOutputBudget {
		p.out, p.haveOut = "", false
	}
	w.outMem += int64(len(p.out))
	w.pending = append(w.pending, p)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// fallBehind makes the writer read unwritten files from the store once what it
// holds is written and saved is committed.
func (w *resultWriter) fallBehind(saved *store.Ticket) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.fallBehindLocked(saved)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *resultWriter) fallBehindLocked(saved *store.Ticket) {
	w.behind = true
	if saved != nil { // tickets complete in order: the last one is enough
		w.behindAfter = saved
	}
}

// catchUp queues the oldest unwritten files from the store, once the files it
// was asked for while behind are stored and what it wrote is noted as written.
func (w *resultWriter) catchUp(ctx context.Context) {
	w.mu.Lock()
	if !w.behind || len(w.pending) > 0 {
		w.mu.Unlock()
		return
	}
	w.behind = false
	after, marked := w.behindAfter, w.marked
	w.behindAfter = nil
	w.mu.Unlock()
	var jobs []Job
	err := after.Wait(ctx)
	if err == nil {
		err = marked.Wait(ctx)
	}
	if err == nil {
		jobs, err = w.st.Unwritten(ctx, w.maxPending)
	}
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("result files: cannot list the unwritten ones; trying again with the next result", "err", err)
		}
		w.fallBehind(nil)
		return
	}
	w.log.Info("result files: catching up from the store", "files", len(jobs))
	for _, j := range jobs {
		w.queue(pendingFile{job: j})
	}
	if len(jobs) == w.maxPending {
		w.fallBehind(nil) // there may be more
	}
}

// loop writes queued files until the dispatcher stops; flush writes the rest.
func (w *resultWriter) loop() {
	if w == nil {
		return
	}
	background()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		}
		w.writeQueued(w.ctx)
		w.catchUp(w.ctx)
		w.mu.Lock()
		more := len(w.pending) > 0
		w.mu.Unlock()
		if more {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (w *resultWriter) flush() {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.writeQueued(ctx)
}

func (w *resultWriter) writeQueued(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending = nil
	w.outMem = 0 // the batch's output is freed as it is written
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var written []string
	var marks []store.Op
	for _, p := range batch {
		if err := p.saved.Wait(ctx); err != nil {
			// Not stored (yet): the store still lists it as unwritten, so the
			// next start writes it.
			if !errors.Is(err, context.Canceled) {
				w.log.Error("result file not written: its result is not stored", "job", p.job.ID, "err", err)
			}
			continue
		}
		p.job = withFound(p.job, p.found)
		path, err := w.write(ctx, &p)
		if err != nil {
			w.log.Error("writing result file", "job", p.job.ID, "commit", p.job.Commit, "err", err)
			continue
		}
		written = append(written, path)
		marks = append(marks, store.MarkFileWritten{JobID: p.job.ID})
	}
	if len(written) == 0 {
		return
	}
	if err := syncFiles(w.dir, written); err != nil {
		w.log.Error("syncing result files", "dir", w.dir, "err", err)
		return
	}
	t := w.st.Apply(marks...)
	w.mu.Lock()
	w.marked = t
	w.mu.Unlock()
}

// write writes test_results/<commit> atomically (temporary file, rename): the
// summary, then the attempt's stored output.
func (w *resultWriter) write(ctx context.Context, p *pendingFile) (string, error) {
	j := &p.job
	if !wire.ValidCommit(j.Commit) {
		return "", fmt.Errorf("refusing to write a result for commit %q", j.Commit)
	}
	f, err := os.CreateTemp(w.dir, ".result-*")
	if err != nil {
		return "", fmt.Errorf("result file: %w", err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	bw.WriteString(summary(j, j.Result))
	if j.Attempt > 0 && !p.haveOut {
		err = w.copyLog(ctx, bw, j)
	} else {
		bw.WriteString(p.out)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("result file: %w", err)
	}
	dst := filepath.Join(w.dir, j.Commit)
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", fmt.Errorf("result file: %w", err)
	}
	return dst, nil
}

// logPage is how much stored output copyLog holds at once: a log may be as large
// as --max-log-bytes, and the dispatcher's memory should not grow with it.
const logPage = 1 << 20

// copyLog writes j's stored output to out, a page at a time.
func (w *resultWriter) copyLog(ctx context.Context, out *bufio.Writer, j *Job) error {
	for off := int64(0); ; {
		part, err := w.st.Log(ctx, j.ID, j.Attempt, off, logPage)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading output: %w", err)
		}
		if _, err := out.WriteString(part.Data); err != nil {
			return err
		}
		if part.Data == "" || part.Next <= off {
			return nil
		}
		off = part.Next
	}
}

// summary renders the head of a result file: one "Key: value" per line. Every value
// is on one line: validation keeps line breaks out of names, and free text is cut.
func summary(j *Job, res *store.Result) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-10s %s\n", k+":", oneLine(v)) }
	line("Status", statusText(j))
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
		line("Tests", testsLine(&res.Summary))
		for _, t := range failingLines(&res.Summary) {
			line("Failing", t)
		}
		for _, id := range j.FlakyTests {
			line("Flaky", id)
		}
		line("Exit code", fmt.Sprint(res.ExitCode))
		line("Started", res.StartedAt.UTC().Format(time.RFC3339Nano))
		line("Finished", res.FinishedAt.UTC().Format(time.RFC3339Nano))
		line("Duration", res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond).String())
		line("CPU time", cpuTime(res.CPUMS))
		line("Peak memory", peakMemory(res.PeakMemoryBytes))
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

// cpuTime and peakMemory render a result's usage figures; a runner that did not
// measure one (an older runner; peak memory without the memory controller) says
// so rather than 0.
func cpuTime(ms *int64) string {
	if ms == nil {
		return "not measured"
	}
	return fmt.Sprintf("%.2f s", float64(*ms)/1000)
}

func peakMemory(b *int64) string {
	if b == nil {
		return "not measured"
	}
	return fmt.Sprintf("%.1f MiB", float64(*b)/(1<<20))
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

// checkDir makes sure dir exists and is writable, with an error that says which.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("results directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
