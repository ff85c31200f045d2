package dispatcher

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// bigOutput is numbered lines, with distinct first and last ones, of about n bytes.
func bigOutput(n int) string {
	var b strings.Builder
	b.WriteString("FIRST LINE\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %06d of the output, long enough to matter\n", i)
	}
	b.WriteString("LAST LINE\n")
	return b.String()
}

// sendOutput sends out[from:to] in chunks of size bytes, as a runner would.
func sendOutput(t *testing.T, r *fakeRunner, a wire.Assign, out string, from, to, size int) {
	t.Helper()
	for off := from; off < to; off += size {
		o := &wire.Output{JobID: a.JobID, Attempt: a.Attempt, Seq: uint64(off/size + 1), Offset: int64(off), Data: out[off:min(off+size, to)]}
		if err := r.conn.Call(context.Background(), wire.MethodJobOutput, o, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func sendResult(t *testing.T, r *fakeRunner, a wire.Assign, sent int64) {
	t.Helper()
	now := time.Now()
	if err := r.conn.Call(context.Background(), wire.MethodJobResult, &wire.Result{JobID: a.JobID, Attempt: a.Attempt,
		Status: wire.StatusPassed, StartedAt: now, FinishedAt: now, OutputBytes: sent}, nil); err != nil {
		t.Fatal(err)
	}
}

// readAllLog reads an attempt's log through job.log, page by page, as a console does.
func readAllLog(t *testing.T, d *Dispatcher, id string) (string, wire.LogChunk) {
	t.Helper()
	var b strings.Builder
	var lc wire.LogChunk
	for off := int64(0); ; off = lc.Next {
		var err error
		if lc, err = d.readLog(context.Background(), wire.LogQuery{JobID: id, Offset: off, Limit: 5000}); err != nil {
			t.Fatal(err)
		}
		if lc.Data == "" {
			return b.String(), lc
		}
		b.WriteString(lc.Data)
	}
}

// A log over --max-log-bytes keeps its head (a quarter of the limit, at most
// 1 MiB) and its tail (the rest of the limit), with one marker between them
// giving the count of bytes dropped; the result file and job.log agree.
func TestLogKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	const limit, head = 64 << 10, 16 << 10
	d := newTestDispatcher(t, Config{MaxLogBytes: limit})
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	out := bigOutput(300 << 10)
	dropped := int64(len(out) - limit)
	want := out[:head] + store.DroppedMarker(dropped) + out[len(out)-(limit-head):]

	// Halfway, the hole is there already and the tail is the newest output.
	half := len(out) / 2
	sendOutput(t, r, a, out, 0, half, 10000)
	got, lc := readAllLog(t, d, a.JobID)
	if wantHalf := out[:head] + store.DroppedMarker(int64(half-limit)) + out[half-(limit-head):half]; got != wantHalf {
		t.Fatalf("job.log halfway: %d bytes, want %d: head, marker, tail", len(got), len(wantHalf))
	}
	if lc.Gap == nil || *lc.Gap != (wire.LogGap{Offset: head, Length: int64(half - limit)}) {
		t.Fatalf("job.log halfway: gap %+v, want %d bytes from %d", lc.Gap, half-limit, head)
	}

	sendOutput(t, r, a, out, half, len(out), 10000)
	sendResult(t, r, a, int64(len(out)))
	_, file, _ := strings.Cut(string(readResult(t, d, commit(0))), "--- output ---\n")
	if file != want {
		t.Fatalf("result file output: %d bytes, want %d; starts %q, ends %q", len(file), len(want), clipTo(file, 40), file[max(len(file)-40, 0):])
	}
	if !strings.HasPrefix(file, "FIRST LINE\n") || !strings.HasSuffix(file, "LAST LINE\n") ||
		!strings.Contains(file, fmt.Sprintf("\n[eventide: %d bytes of output were dropped here; a log keeps its start and its end]\n", dropped)) {
		t.Fatalf("result file lacks the first line, the marker or the last line")
	}
	got, lc = readAllLog(t, d, a.JobID)
	if got != file {
		t.Fatalf("job.log and the result file differ: %d and %d bytes", len(got), len(file))
	}
	if lc.Gap == nil || *lc.Gap != (wire.LogGap{Offset: head, Length: dropped}) || lc.Start != 0 || lc.End != int64(len(out)) {
		t.Fatalf("job.log: gap %+v start %d end %d, want %d bytes from %d, 0, %d", lc.Gap, lc.Start, lc.End, dropped, head, len(out))
	}
}

// Output the runner dropped (an offset jump past the head) joins the hole: the
// tail starts again after it, so there is still one marker, with the whole count.
func TestLogRunnerDropJoinsTheHole(t *testing.T) {
	t.Parallel()
	const limit, head = 64 << 10, 16 << 10
	d := newTestDispatcher(t, Config{MaxLogBytes: limit})
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	out := bigOutput(200 << 10)
	jump := len(out) - 20000 // the runner dropped [40000, jump)
	sendOutput(t, r, a, out, 0, 40000, 10000)
	sendOutput(t, r, a, out, jump, len(out), 10000)
	sendResult(t, r, a, int64(len(out)))
	_, file, _ := strings.Cut(string(readResult(t, d, commit(0))), "--- output ---\n")
	want := out[:head] + store.DroppedMarker(int64(jump-head)) + out[jump:]
	if file != want {
		t.Fatalf("result file output: %d bytes, want %d: head, one marker, what came after the jump", len(file), len(want))
	}
}

func clipTo(s string, n int) string { return s[:min(n, len(s))] }

// After a restart, the stored chunks are split again into head and tail.
func TestRestoreLogSplitsHeadAndTail(t *testing.T) {
	t.Parallel()
	var j job
	j.restoreLog([]store.Extent{{Offset: 0, Len: 10}, {Offset: 10, Len: 6}, {Offset: 40, Len: 20}, {Offset: 60, Len: 5}}, 16)
	if j.headEnd != 16 || !j.headDone || j.logBytes != 65 || j.logStored != 25 || len(j.extents) != 2 || j.extents[0].Offset != 40 {
		t.Fatalf("restored head end %d (done %v), received %d, tail %d bytes in %v", j.headEnd, j.headDone, j.logBytes, j.logStored, j.extents)
	}
	var k job
	k.restoreLog([]store.Extent{{Offset: 0, Len: 10}}, 16)
	if k.headEnd != 10 || k.headDone || k.logStored != 0 {
		t.Fatalf("a short log restored as head end %d (done %v), tail %d bytes", k.headEnd, k.headDone, k.logStored)
	}
}
