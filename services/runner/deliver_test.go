package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// These tests run a real runner, with a real git repository and a real test
// command, against a fake dispatcher on the real peer.Server over loopback TCP.

// commandOutput is what the repository's test command prints. The runner puts one
// line of its own before it.
const commandOutput = "line one\nline two\n"

var testFiles = map[string]string{".eventide.yml": `command: "printf 'line one\nline two\n'"` + "\n"}

const testJobID = "0123456789abcdef"

// setupJob makes the repository and the job a fake dispatcher offers.
func setupJob(t *testing.T) (repo string, job wire.Assign) {
	t.Helper()
	repo, commit := newGitRepo(t, testFiles)
	job = wire.Assign{JobID: testJobID, Attempt: 1, Repo: repo, Commit: commit, Branch: "main"}
	if err := job.Validate(); err != nil {
		t.Fatalf("the test's assignment is invalid: %v", err)
	}
	return repo, job
}

// checkOutput checks a job's whole output: the runner's line, then exactly what
// the command printed.
func checkOutput(t *testing.T, got string, job wire.Assign) {
	t.Helper()
	header, rest, _ := strings.Cut(got, "\n")
	rest, _, _ = strings.Cut(rest, "eventide: CPU time ") // the job's usage, last
	if want := "eventide: runner runner-1, commit " + job.Commit + ", running "; !strings.HasPrefix(header, want) || rest != commandOutput {
		t.Fatalf("output %q; want a line starting %q, then %q", got, want, commandOutput)
	}
}

// stored reassembles the output the fake acknowledged, by offset, dropping repeats
// (which must carry the same data): what a dispatcher would have stored. Gaps and
// overlaps fail the test.
func stored(t *testing.T, frames []frame, acks []ack) string {
	t.Helper()
	ok := make(map[int]bool)
	for _, a := range acks {
		if a.err == nil {
			ok[a.n] = true
		}
	}
	byOffset := make(map[int64]string)
	for i, f := range frames {
		if f.method != wire.MethodJobOutput || !ok[i] {
			continue
		}
		if d, seen := byOffset[f.out.Offset]; seen {
			if d != f.out.Data {
				t.Fatalf("offset %d sent as %q and as %q", f.out.Offset, d, f.out.Data)
			}
			continue
		}
		byOffset[f.out.Offset] = f.out.Data
	}
	var b strings.Builder
	for used := 0; ; used++ {
		d, found := byOffset[int64(b.Len())]
		if !found || d == "" {
			if used != len(byOffset) {
				t.Fatalf("stored output has a gap or an overlap after %d bytes: chunks at %v", b.Len(), byOffset)
			}
			return b.String()
		}
		b.WriteString(d)
	}
}

// outputs returns the job.output frames of connection conn (0: of every
// connection).
func outputs(frames []frame, conn int) []frame {
	var out []frame
	for _, f := range frames {
		if f.method == wire.MethodJobOutput && (conn == 0 || f.conn == conn) {
			out = append(out, f)
		}
	}
	return out
}

func countResults(frames []frame, conn int) int {
	n := 0
	for _, f := range frames {
		if f.method == wire.MethodJobResult && f.conn == conn {
			n++
		}
	}
	return n
}

// The result goes out while the replies to the output before it are still
// awaited, so that a dispatcher can store them in one commit. One at a time, the
// result would wait for the output's reply, which this fake holds until the test
// has seen the result: the test would time out.
func TestDeliveryPipelinesOutputAndResult(t *testing.T) {
	t.Parallel()
	repo, job := setupJob(t)
	gate := make(chan struct{})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }

	fd := startFake(t, job, func(fd *fakeDispatcher) {
		// A chunk cut by the runner's timer before the job ends would go out alone,
		// and its held reply would rightly keep the result back. So that the job's
		// output and result are all waiting at once, the fake drops the first
		// connection once the job is taken and admits the runner again only when its
		// hello says the job has finished.
		fd.admit = func(n int, h *wire.Hello) error {
			if n == 0 || slices.ContainsFunc(h.Jobs, func(j wire.HeldJob) bool { return j.JobID == job.JobID && j.Finished }) {
				return nil
			}
			return wire.Errorf(wire.CodeShuttingDown, "come back when the job has finished")
		}
		fd.reply = func(ctx context.Context, _ int, f frame) error {
			switch {
			case f.conn == 1: // nothing is stored from the connection being dropped
				<-ctx.Done()
				return wire.Errorf(wire.CodeShuttingDown, "connection closing")
			case f.method == wire.MethodJobOutput:
				select {
				case <-gate:
					return nil
				case <-ctx.Done():
					return wire.Errorf(wire.CodeShuttingDown, "connection closing")
				}
			}
			return nil
		}
	})
	h := startRunner(t, fd.addr, repo)
	t.Cleanup(openGate) // first, so that a failed test does not leave a reply held
	fd.waitAssigned(t).Close()

	isResult := func(f frame) bool { return f.conn > 1 && f.method == wire.MethodJobResult }
	frames := fd.frames.WaitFor(t, waitLimit, "the result to arrive while the reply to the output is held", func(l []frame) bool {
		return slices.ContainsFunc(l, isResult)
	})
	i := slices.IndexFunc(frames, isResult)
	conn, res := frames[i].conn, frames[i].res
	chunks := outputs(frames[:i], conn)
	if len(chunks) == 0 {
		t.Fatalf("no output before the result on connection %d: %v", conn, frames)
	}
	var off int64
	for _, c := range chunks {
		if c.out.Offset != off {
			t.Fatalf("chunk at offset %d, want %d: %v", c.out.Offset, off, frames)
		}
		off += int64(len(c.out.Data))
	}
	if res.OutputBytes != off || res.Status != wire.StatusPassed {
		t.Fatalf("result %s with output_bytes %d; want passed after the %d bytes sent with it", res.Status, res.OutputBytes, off)
	}
	if list := h.logs.Entries(); logged(list, "result delivered", job.JobID) {
		t.Fatal("the runner took the result as delivered before the output's reply")
	}

	openGate()
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t) // returns only once the runner has forgotten the job
	fd.waitEnded(t)
	frames = fd.frames.Items()
	if n := countResults(frames, conn); n != 1 {
		t.Fatalf("the result came %d times on connection %d: %v", n, conn, frames)
	}
	seqs := make(map[uint64]bool)
	for _, c := range outputs(frames, conn) {
		if seqs[c.out.Seq] {
			t.Fatalf("chunk %d sent twice on connection %d: %v", c.out.Seq, conn, frames)
		}
		seqs[c.out.Seq] = true
	}
	acks := fd.acks.Items()
	checkOutput(t, stored(t, frames, acks), job)
}

// A chunk the dispatcher could not store is sent again, at the same offset, and the
// result after it: delivery is at least once, and nothing is missing.
func TestDeliveryResendsWhatTheDispatcherCouldNotStore(t *testing.T) {
	t.Parallel()
	repo, job := setupJob(t)
	var failed atomic.Int64
	failed.Store(-1)
	fd := startFake(t, job, func(fd *fakeDispatcher) {
		fd.reply = func(_ context.Context, n int, f frame) error {
			if f.method == wire.MethodJobOutput && failed.CompareAndSwap(-1, int64(n)) {
				return wire.Errorf(wire.CodeInternal, "storing output of job %s: disk full", f.out.JobID)
			}
			return nil
		}
	})
	h := startRunner(t, fd.addr, repo)
	fd.waitAssigned(t)
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t)
	fd.waitEnded(t)

	frames := fd.frames.Items()
	acks := fd.acks.Items()
	bad := int(failed.Load())
	if bad < 0 {
		t.Fatal("no output arrived")
	}
	o := frames[bad].out
	again := slices.IndexFunc(frames[bad+1:], func(f frame) bool {
		return f.method == wire.MethodJobOutput && f.out.Seq == o.Seq && f.out.Offset == o.Offset && f.out.Data == o.Data
	})
	if again < 0 {
		t.Fatalf("chunk %d at offset %d was refused and never sent again: %v", o.Seq, o.Offset, frames)
	}
	again += bad + 1
	ok := make(map[int]bool)
	for _, a := range acks {
		ok[a.n] = a.err == nil
	}
	if !ok[again] {
		t.Fatalf("the repeat of chunk %d was not acknowledged: %v", o.Seq, acks)
	}
	last := -1
	for i := again + 1; i < len(frames); i++ {
		if frames[i].method == wire.MethodJobResult && ok[i] {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("no result was acknowledged after the chunk was sent again: %v", frames)
	}
	out := stored(t, frames, acks)
	checkOutput(t, out, job)
	if res := frames[last].res; res.OutputBytes != int64(len(out)) {
		t.Fatalf("result says %d bytes of output, %d stored", res.OutputBytes, len(out))
	}
}

// A dispatcher that refuses the attempt has moved on: the runner drops the job
// instead of sending it again for ever.
func TestDeliveryDropsARefusedAttempt(t *testing.T) {
	t.Parallel()
	for _, refuse := range []string{wire.MethodJobResult, wire.MethodJobOutput} {
		t.Run(refuse, func(t *testing.T) {
			repo, job := setupJob(t)
			var refused atomic.Int64
			refused.Store(-1)
			fd := startFake(t, job, func(fd *fakeDispatcher) {
				fd.reply = func(_ context.Context, n int, f frame) error {
					if f.method == refuse && refused.CompareAndSwap(-1, int64(n)) {
						return wire.Errorf(wire.CodeStaleAttempt, "job %s attempt 1 is no longer current", testJobID)
					}
					return nil
				}
			})
			h := startRunner(t, fd.addr, repo)
			fd.waitAssigned(t)
			h.logs.Wait(t, waitLimit, "dispatcher refused the attempt; dropping it", "job", job.JobID)

			// A bounded look for something that must not happen: a runner that kept
			// the attempt would send it again after its one-second pause, well within
			// this. (Drain below then shows the job is gone.)
			look := time.After(1500 * time.Millisecond)
			for done := false; !done; {
				frames, changed := fd.frames.Snapshot()
				if err := repeated(sinceConn(frames, frames[refused.Load()].conn)); err != nil {
					t.Fatalf("after the refusal: %v: %v", err, frames)
				}
				select {
				case <-changed:
				case <-look:
					done = true
				}
			}
			h.drain(t)
			fd.waitEnded(t)

			frames := fd.frames.Items()
			if n := int(refused.Load()); n >= 0 {
				if err := repeated(sinceConn(frames, frames[n].conn)); err != nil {
					t.Fatalf("%v: %v", err, frames)
				}
			}
			if n := int(refused.Load()); n < 0 {
				t.Fatalf("nothing was refused: %v", frames)
			} else if refuse == wire.MethodJobResult && n != len(frames)-1 {
				t.Fatalf("frames came after the refused result: %v", frames[n:])
			}
			if list := h.logs.Entries(); logged(list, "result delivered", job.JobID) {
				t.Fatal("the runner took the refused attempt's result as delivered")
			}
		})
	}
}

// repeated reports a chunk or a result that came more than once.
// sinceConn is the frames that came on connection conn or a later one. A
// runner that lost its connection (a busy machine can miss heartbeats) rightly
// sends its unacknowledged chunks again on the next; what must not repeat is
// anything on the connection that carried the refusal, or after it.
func sinceConn(frames []frame, conn int) []frame {
	i := slices.IndexFunc(frames, func(f frame) bool { return f.conn >= conn })
	if i < 0 {
		return nil
	}
	return frames[i:]
}

func repeated(frames []frame) error {
	if len(frames) > 0 {
		if last := frames[len(frames)-1]; last.conn != frames[0].conn {
			return fmt.Errorf("the attempt was sent again on connection %d", last.conn)
		}
	}
	seqs := make(map[uint64]bool)
	results := 0
	for _, f := range frames {
		switch f.method {
		case wire.MethodJobOutput:
			if seqs[f.out.Seq] {
				return fmt.Errorf("chunk %d was sent again", f.out.Seq)
			}
			seqs[f.out.Seq] = true
		case wire.MethodJobResult:
			if results++; results > 1 {
				return fmt.Errorf("the result was sent again")
			}
		}
	}
	return nil
}
