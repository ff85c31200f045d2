package runner

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/wire"
)

func testJob() *job {
	return newJob(wire.Assign{JobID: "0123456789abcdef", Attempt: 1}, func(error) {})
}

// drain acknowledges every chunk and returns them.
func drain(j *job) []wire.Output {
	var out []wire.Output
	for {
		cs, _, _ := j.outbox(1)
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs[0])
		j.acked(cs[0].Seq)
	}
}

func TestChunksAreContiguousAndValidUTF8(t *testing.T) {
	t.Parallel()
	j := testJob()
	euro := "€" // three bytes, split across writes below
	in := strings.Repeat("x", chunkTarget-1) + euro + strings.Repeat("y", wire.MaxChunkSize*2) + "\xff tail"
	b := []byte(in)
	j.Write(b[:chunkTarget]) // ends inside the euro sign
	j.Write(b[chunkTarget:])
	j.finish(&wire.Result{})
	chunks := drain(j)
	var got strings.Builder
	var off int64
	for i, c := range chunks {
		if c.Seq != uint64(i+1) || c.Offset != off {
			t.Fatalf("chunk %d: seq %d offset %d, want %d %d", i, c.Seq, c.Offset, i+1, off)
		}
		if !utf8.ValidString(c.Data) || len(c.Data) > wire.MaxChunkSize {
			t.Fatalf("chunk %d: %d bytes, valid UTF-8 %v", i, len(c.Data), utf8.ValidString(c.Data))
		}
		off += int64(len(c.Data))
		got.WriteString(c.Data)
	}
	want := strings.ToValidUTF8(in, "\uFFFD")
	if got.String() != want {
		t.Fatalf("reassembled output differs (len %d vs %d)", got.Len(), len(want))
	}
	_, res, _ := j.outbox(window)
	if res == nil || res.OutputBytes != off {
		t.Fatalf("result %+v, want output_bytes %d", res, off)
	}
}

func TestSmallOutputIsFlushedByTimer(t *testing.T) {
	t.Parallel()
	j := testJob()
	j.Write([]byte("a line\n"))
	select {
	case <-j.kick:
	case <-timeAfter(t):
		t.Fatal("small output never cut into a chunk")
	}
	if cs, _, _ := j.outbox(window); len(cs) != 1 || cs[0].Data != "a line\n" {
		t.Fatalf("chunks %+v, want the one line", cs)
	}
}

// All output is sent while the dispatcher keeps up: no cap on the stream.
func TestOutputIsNotCapped(t *testing.T) {
	t.Parallel()
	j := testJob()
	block := []byte(strings.Repeat("z", 1<<20))
	next := int64(0)
	for range 70 {
		j.Write(block)
		for _, c := range drain(j) { // as if the dispatcher acknowledged everything
			if c.Offset != next {
				t.Fatalf("chunk at %d, want %d: output was dropped", c.Offset, next)
			}
			next += int64(len(c.Data))
		}
	}
	j.finish(&wire.Result{})
	drain(j)
	if _, res, _ := j.outbox(window); res.OutputBytes != 70<<20 || next != 70<<20 {
		t.Fatalf("sent %d bytes (result says %d), want %d", next, res.OutputBytes, 70<<20)
	}
}

// While nothing is acknowledged (the dispatcher is slow or away), what waits is
// bounded: the middle goes, the head and the newest output stay.
func TestBacklogIsBounded(t *testing.T) {
	t.Parallel()
	j := testJob()
	line := []byte(strings.Repeat("y", 1023) + "\n")
	for range 40 << 10 { // 40 MiB
		j.Write(line)
	}
	j.Write([]byte("the last line\n"))
	j.finish(&wire.Result{})
	if j.unsent > maxBacklog+wire.MaxChunkSize {
		t.Fatalf("%d bytes wait unsent, want at most %d", j.unsent, maxBacklog+wire.MaxChunkSize)
	}
	cs := drain(j)
	next, jumps := int64(0), 0
	for _, c := range cs {
		if c.Offset != next {
			jumps++
			if next < keepHead {
				t.Fatalf("jump from %d to %d: the head was dropped", next, c.Offset)
			}
		}
		next = c.Offset + int64(len(c.Data))
	}
	_, res, _ := j.outbox(window)
	if jumps != 1 || next != res.OutputBytes || !strings.HasSuffix(cs[len(cs)-1].Data, "the last line\n") {
		t.Fatalf("%d jumps, end %d of %d: want one hole and the end kept", jumps, next, res.OutputBytes)
	}
}
