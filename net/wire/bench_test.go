package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// benchChunk is 4 KiB of test-runner-like output: mostly ASCII with newlines, tabs,
// quotes and the odd <>& that encoding/json escapes, as a job.output chunk carries.
var benchChunk = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 4096; i++ {
		fmt.Fprintf(&b, "=== RUN   TestHandler_%d\n\t\"case\" <%d> & ok\n--- PASS: TestHandler_%d (0.00s)\n", i, i, i)
	}
	return b.String()[:4096]
}()

func benchOutput(seq uint64) *wire.Output {
	return &wire.Output{JobID: "0123456789abcdef", Attempt: 1, Seq: seq, Offset: int64(seq-1) * 4096, Data: benchChunk}
}

func benchResult() *wire.Result {
	start := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return &wire.Result{
		JobID: "0123456789abcdef", Attempt: 1, Status: wire.StatusFailed, ExitCode: 1,
		Summary: wire.Summary{Passed: 412, Failed: 2, Errors: 0, Skipped: 7,
			Failing: []string{"test_parse_empty (tests.test_parser.ParserTest)", "test_retry_after_timeout (tests.test_client.ClientTest)"}},
		StartedAt: start, FinishedAt: start.Add(83*time.Second + 250*time.Millisecond), OutputBytes: 1 << 20,
	}
}

func mustFrame(tb testing.TB, id uint64, method string, params any) []byte {
	tb.Helper()
	f, err := wire.NewRequest(id, method, params)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkAppendFrame encodes one request frame. "new+append" is what peer.Conn
// does per frame sent (wire.NewRequest marshals the params, AppendFrame the
// envelope); "append" is AppendFrame alone on a pre-built frame. The buffer is reused.
func BenchmarkAppendFrame(b *testing.B) {
	cases := []struct {
		name, method string
		params       any
	}{
		{"job.output-4KiB", wire.MethodJobOutput, benchOutput(1)},
		{"job.result", wire.MethodJobResult, benchResult()},
	}
	for _, c := range cases {
		b.Run(c.name+"/new+append", func(b *testing.B) {
			b.SetBytes(int64(len(mustFrame(b, 1, c.method, c.params))))
			b.ReportAllocs()
			buf := make([]byte, 0, 16<<10)
			var id uint64
			for b.Loop() {
				id++
				f, err := wire.NewRequest(id, c.method, c.params)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = wire.AppendFrame(buf[:0], f); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/append", func(b *testing.B) {
			f, err := wire.NewRequest(1, c.method, c.params)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(mustFrame(b, 1, c.method, c.params))))
			b.ReportAllocs()
			buf := make([]byte, 0, 16<<10)
			for b.Loop() {
				if buf, err = wire.AppendFrame(buf[:0], f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReaderRead decodes a stream of frames (one op = one frame) from a
// pre-built buffer of benchStreamFrames frames through one Reader; when the buffer
// is used up, the bytes.Reader is rewound and a new Reader made (once per pass,
// amortised over the pass). "mixed" is 7 output chunks to 1 result.
func BenchmarkReaderRead(b *testing.B) {
	const benchStreamFrames = 1024
	build := func(kind func(i int) (string, any)) []byte {
		var buf []byte
		for i := range benchStreamFrames {
			m, p := kind(i)
			buf = append(buf, mustFrame(b, uint64(i+1), m, p)...)
		}
		return buf
	}
	streams := []struct {
		name string
		kind func(i int) (string, any)
	}{
		{"job.output-4KiB", func(i int) (string, any) { return wire.MethodJobOutput, benchOutput(uint64(i + 1)) }},
		{"job.result", func(i int) (string, any) { return wire.MethodJobResult, benchResult() }},
		{"mixed", func(i int) (string, any) {
			if i%8 == 7 {
				return wire.MethodJobResult, benchResult()
			}
			return wire.MethodJobOutput, benchOutput(uint64(i + 1))
		}},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			buf := build(s.kind)
			br := bytes.NewReader(buf)
			r := wire.NewReader(br, 0)
			b.SetBytes(int64(len(buf) / benchStreamFrames))
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.Read()
				if err == io.EOF {
					br.Reset(buf)
					r = wire.NewReader(br, 0)
					f, err = r.Read()
				}
				if err != nil {
					b.Fatal(err)
				}
				if f.Kind() != wire.KindRequest {
					b.Fatalf("frame kind %v", f.Kind())
				}
			}
		})
	}
}

// BenchmarkDecodeResult is what the dispatcher does with a job.result's params:
// wire.Decode into a fresh Result, which runs Result.Validate.
func BenchmarkDecodeResult(b *testing.B) {
	raw, err := json.Marshal(benchResult())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var res wire.Result
		if err := wire.Decode(wire.MethodJobResult, raw, &res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOutput is the same for a job.output with a 4 KiB chunk, the
// dispatcher's most frequent (and largest) decode.
func BenchmarkDecodeOutput(b *testing.B) {
	raw, err := json.Marshal(benchOutput(1))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var o wire.Output
		if err := wire.Decode(wire.MethodJobOutput, raw, &o); err != nil {
			b.Fatal(err)
		}
	}
}
