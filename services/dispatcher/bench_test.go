package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// benchStall bounds every wait in these benchmarks: no progress for this long fails
// the benchmark instead of hanging it.
const benchStall = 15 * time.Second

func benchCommit(n int) string { return fmt.Sprintf("%040x", n) }

// startBenchDispatcher is New with a discarding logger and default timings; stop
// shuts it down (it is safe to call more than once).
func startBenchDispatcher(tb testing.TB, dir string) (d *Dispatcher, stop func()) {
	tb.Helper()
	d, err := New(Config{ResultsDir: dir, DataDir: filepath.Join(dir, ".data"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	return d, func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.Shutdown(ctx); err != nil {
				tb.Errorf("dispatcher shutdown: %v", err)
			}
		})
	}
}

// benchRunner is a fake runner over a net.Pipe (the pattern of connectRunner, for a
// testing.TB) that accepts every job.assign and, from a goroutine, at once reports
// the job passed; each result's outcome (nil once recorded) goes to finished.
type benchRunner struct {
	conn    *peer.Conn
	results sync.WaitGroup // result goroutines
	served  chan struct{}  // closed when Serve has returned
}

func connectBenchRunner(tb testing.TB, d *Dispatcher, name string, slots int, finished chan<- error, stop <-chan struct{}) *benchRunner {
	tb.Helper()
	a, b := net.Pipe()
	go d.ServeConn(a)
	c, _, err := peer.Handshake(context.Background(), b, withIdentity(d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: slots}), peer.Options{})
	if err != nil {
		b.Close()
		tb.Fatal(err)
	}
	br := &benchRunner{conn: c, served: make(chan struct{})}
	report := func(as wire.Assign) {
		ctx, cancel := context.WithTimeout(context.Background(), benchStall)
		defer cancel()
		now := time.Now()
		err := c.Call(ctx, wire.MethodJobResult, &wire.Result{JobID: as.JobID, Attempt: as.Attempt, Status: wire.StatusPassed,
			StartedAt: now, FinishedAt: now, Summary: wire.Summary{Passed: 12, Skipped: 1}}, nil)
		if err != nil {
			err = fmt.Errorf("runner %s: result of job %s: %w", name, as.JobID, err)
		}
		select {
		case finished <- err:
		case <-stop:
		}
	}
	go func() {
		defer close(br.served)
		c.Serve(context.Background(), onAssign(func(as wire.Assign) error {
			// Not on the read loop: the reply to job.result comes in on it.
			br.results.Go(func() { report(as) })
			return nil
		}))
	}()
	return br
}

// close ends the connection and waits for Serve and every result goroutine.
func (br *benchRunner) close() {
	br.conn.Close()
	<-br.served
	br.results.Wait() // Serve has returned, so no more are started
}

// BenchmarkAssignComplete runs the whole job path in process: Submit, schedule,
// job.assign over a net.Pipe, the runner's immediate passed job.result, fencing and
// the result file (fsync included). One op is one job; the clock runs from the first
// Submit until the last result is acknowledged. Allocations count both the
// dispatcher's and the fake runners' sides.
func BenchmarkAssignComplete(b *testing.B) {
	for _, tc := range []struct{ runners, slots int }{{1, 1}, {4, 4}} {
		b.Run(fmt.Sprintf("runners=%d/slots=%d", tc.runners, tc.slots), func(b *testing.B) {
			d, stopDispatcher := startBenchDispatcher(b, filepath.Join(b.TempDir(), "results"))
			stop := make(chan struct{})
			finished := make(chan error, 64)
			runners := make([]*benchRunner, 0, tc.runners)
			// Runners first, then the dispatcher: its Shutdown must not see them as
			// lost mid-run, and their goroutines must be gone before the test ends.
			defer func() {
				close(stop)
				for _, r := range runners {
					r.close()
				}
				stopDispatcher()
			}()
			for i := range tc.runners {
				runners = append(runners, connectBenchRunner(b, d, fmt.Sprintf("r%d", i), tc.slots, finished, stop))
			}
			commits := make([]string, b.N)
			for i := range commits {
				commits[i] = benchCommit(i + 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, c := range commits {
				if _, err := d.Submit(context.Background(), &wire.Submit{Repo: "/srv/repo", Commit: c, Branch: "main"}); err != nil {
					b.Fatal(err)
				}
			}
			stall := time.NewTimer(benchStall)
			defer stall.Stop()
			for done := 0; done < b.N; done++ {
				select {
				case err := <-finished:
					if err != nil {
						b.Fatal(err)
					}
				case <-stall.C:
					b.Fatalf("%d of %d jobs finished; none in the last %v", done, b.N, benchStall)
				}
				stall.Reset(benchStall)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkSubmit is Submit alone, with no runner connected, for distinct commits.
// Jobs then only pile up, so a fresh dispatcher is started (timer stopped) every
// submitBatch submissions to keep memory bounded, as KeepFinished does in service.
func BenchmarkSubmit(b *testing.B) {
	const submitBatch = 10000
	dir := filepath.Join(b.TempDir(), "results")
	var d *Dispatcher
	stop := func() {}
	defer func() { stop() }()
	commits := make([]string, submitBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%submitBatch == 0 {
			b.StopTimer()
			stop()
			d, stop = startBenchDispatcher(b, dir)
			for j := range commits {
				commits[j] = benchCommit(i + j + 1)
			}
			b.StartTimer()
		}
		s, err := d.Submit(context.Background(), &wire.Submit{Repo: "/srv/repo", Commit: commits[i%submitBatch], Branch: "main"})
		if err != nil || s.Duplicate {
			b.Fatalf("submit %d: %+v %v", i, s, err)
		}
	}
	b.StopTimer()
}

// benchFinishedJob is a job as result() hands it to resultWriter.write.
func benchFinishedJob(n int) (*Job, *store.Result) {
	now := time.Now()
	res := &wire.Result{JobID: fmt.Sprintf("%016x", n), Attempt: 1, Status: wire.StatusFailed, ExitCode: 1,
		Summary: wire.Summary{Passed: 412, Failed: 2, Skipped: 7,
			Failing: []string{"test_parse_empty (tests.test_parser.ParserTest)", "test_retry_after_timeout (tests.test_client.ClientTest)"}},
		StartedAt: now.Add(-83 * time.Second), FinishedAt: now, OutputBytes: 0}
	rec := resultRecord(res)
	j := &Job{ID: res.JobID, Repo: "/srv/repo", Commit: benchCommit(n), Branch: "main",
		Author: "A. Developer <dev@example.com>", Message: "Make the parser accept empty input",
		State: wire.StatusFailed, Attempt: 1, Runner: "r1", QueuedAt: now.Add(-90 * time.Second),
		StartedAt: res.StartedAt, FinishedAt: now, Result: &rec,
		Attempts: []Attempt{{N: 1, Runner: "r1", Assigned: res.StartedAt, Ended: now, Outcome: wire.StatusFailed}}}
	return j, &rec
}

// BenchmarkResultFiles is the result file writer: each op is one finished job's
// test_results/<commit> (summary, stored output read back from the store, rename),
// written in batches of 64 with one syncfs per batch as the dispatcher does, plus
// the store noting them written.
func BenchmarkResultFiles(b *testing.B) {
	for _, out := range []int{0, 4096} {
		b.Run(fmt.Sprintf("output-%dB", out), func(b *testing.B) {
			dir := b.TempDir()
			st, err := store.OpenSQLite(filepath.Join(dir, "data"), store.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			w, err := newResultWriter(dir)
			if err != nil {
				b.Fatal(err)
			}
			w.st, w.log, w.ctx = st, slog.New(slog.DiscardHandler), b.Context()
			js := make([]Job, b.N)
			var ops []store.Op
			for i := range b.N {
				j, res := benchFinishedJob(i + 1)
				j.Result = res
				js[i] = *j
				ops = append(ops, store.PutJob{Job: *j}, store.PutAttempt{JobID: j.ID, Attempt: j.Attempts[0]},
					store.PutResult{JobID: j.ID, Result: *res})
				if out > 0 {
					ops = append(ops, store.AppendLog{JobID: j.ID, Attempt: 1, Data: strings.Repeat("x", out)})
				}
			}
			if err := st.Apply(ops...).Wait(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				w.queue(pendingFile{job: js[i]})
				if i%64 == 63 || i == b.N-1 {
					w.writeQueued(b.Context())
				}
			}
		})
	}
}
