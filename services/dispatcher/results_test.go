package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// A result file's output is what the store holds for the attempt, whether it was
// written from the output kept in memory (small, in order) or read back from the
// store (large, trimmed, or with bytes missing at the end), and nothing stays in
// memory once the jobs are done.
func TestResultFileOutputMatchesStore(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789abcdef", (memOutputMax+4096)/16) // over the in-memory bound
	cases := []struct {
		name   string
		chunks []string
		extra  int64  // bytes the runner says it sent beyond the chunks
		want   string // "" means: the chunks joined
	}{
		{name: "small", chunks: []string{"Ran 2 tests\n", "OK\n"}},
		{name: "empty"},
		{name: "big", chunks: []string{big[:len(big)/2], big[len(big)/2:]}},
		{name: "end lost", chunks: []string{"partial\n"}, extra: 5, want: "partial\n\n[eventide: the last 5 bytes of output were lost]\n"},
	}
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	ctx := context.Background()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(byte(i))}); err != nil {
				t.Fatal(err)
			}
			a := r.next(t)
			var off int64
			for n, c := range tc.chunks {
				for len(c) > 0 { // chunks travel at most MaxChunkSize at a time
					part := c[:min(len(c), wire.MaxChunkSize)]
					c = c[len(part):]
					if err := r.conn.Call(ctx, wire.MethodJobOutput, &wire.Output{JobID: a.JobID, Attempt: a.Attempt,
						Seq: uint64(n*1000) + uint64(off), Offset: off, Data: part}, nil); err != nil {
						t.Fatal(err)
					}
					off += int64(len(part))
				}
			}
			now := time.Now()
			if err := r.conn.Call(ctx, wire.MethodJobResult, &wire.Result{JobID: a.JobID, Attempt: a.Attempt,
				Status: wire.StatusPassed, StartedAt: now, FinishedAt: now, OutputBytes: off + tc.extra}, nil); err != nil {
				t.Fatal(err)
			}
			_, out, _ := strings.Cut(string(readResult(t, d, commit(byte(i)))), "--- output ---\n")
			want := tc.want
			if want == "" {
				want = strings.Join(tc.chunks, "")
			}
			if out != want {
				t.Errorf("file output (%d bytes) differs from what was sent (%d bytes)", len(out), len(want))
			}
			stored, err := d.st.Log(ctx, a.JobID, a.Attempt, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Data != out {
				t.Errorf("file output (%d bytes) differs from the store's (%d bytes)", len(out), len(stored.Data))
			}
		})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.outMem != 0 {
		t.Errorf("%d bytes of output still held in memory after every job finished", d.outMem)
	}
}

// With NoResultFiles, results are stored and nothing is written to the results
// directory (which is not even created).
func TestNoResultFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "results")
	d := newTestDispatcher(t, Config{ResultsDir: dir, NoResultFiles: true})
	r, _ := connectRunner(t, d, "r1", 1)
	s, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.finish(t, r.next(t), wire.StatusPassed); err != nil {
		t.Fatal(err)
	}
	j, ok := d.findJob(s.JobID)
	if !ok || j.State != wire.StatusPassed || j.Result == nil {
		t.Fatalf("job %+v: want passed with its result", j)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("results directory: %v, want it never created", err)
	}
}

// A writer that falls behind holds at most memOutputBudget of output: files
// queued beyond it have theirs read back from the store when written.
func TestResultWriterBoundsQueuedOutput(t *testing.T) {
	t.Parallel()
	w, err := newResultWriter(filepath.Join(t.TempDir(), "results"))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Repeat("x", memOutputMax)
	n := memOutputBudget/memOutputMax + 10
	for i := range n {
		w.queue(pendingFile{job: Job{ID: fmt.Sprintf("%016x", i)}, out: out, haveOut: true})
	}
	kept := 0
	for _, p := range w.pending {
		if p.haveOut {
			kept++
		}
	}
	if w.outMem > memOutputBudget || kept != memOutputBudget/memOutputMax {
		t.Fatalf("%d of %d queued files keep their output (%d bytes); want %d within %d bytes",
			kept, n, w.outMem, memOutputBudget/memOutputMax, memOutputBudget)
	}
}

// A writer asked for more files than it holds forgets the rest, then reads the
// still unwritten ones back from the store until every file is written.
func TestResultWriterCatchesUpFromStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.OpenSQLite(filepath.Join(dir, "data"), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := newResultWriter(filepath.Join(dir, "results"))
	if err != nil {
		t.Fatal(err)
	}
	w.st, w.log, w.ctx, w.maxPending = st, slog.New(slog.DiscardHandler), t.Context(), 4
	const n = 11
	var files []pendingFile
	for i := range n {
		j, res := benchFinishedJob(i + 1)
		t := st.Apply(store.PutJob{Job: *j}, store.PutAttempt{JobID: j.ID, Attempt: j.Attempts[0]},
			store.PutResult{JobID: j.ID, Result: *res})
		files = append(files, pendingFile{job: *j, saved: t})
	}
	for _, f := range files {
		w.queue(f)
	}
	if len(w.pending) != 4 || !w.behind {
		t.Fatalf("%d files queued (behind %v), want 4 and behind", len(w.pending), w.behind)
	}
	for range 10 { // what loop does, without its goroutine
		w.writeQueued(t.Context())
		w.catchUp(t.Context())
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(w.dir, f.job.Commit)); err != nil {
			t.Fatalf("result file of job %s: %v", f.job.ID, err)
		}
	}
	if err := w.marked.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left, err := st.Unwritten(t.Context(), 100); err != nil || len(left) != 0 {
		t.Fatalf("the store still lists %d unwritten files (%v)", len(left), err)
	}
}
