package testreport

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkParse measures throughput per format on its fixture repeated
// to 4 MB: go test -bench Parse -run '^$' ./services/testreport.
func BenchmarkParse(b *testing.B) {
	names, _ := filepath.Glob("testdata/*.txt")
	for _, n := range names {
		one := fixture(b, filepath.Base(n))
		in := bytes.Repeat(one, 4<<20/len(one)+1)
		b.Run(strings.TrimSuffix(filepath.Base(n), ".txt"), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			cpu := cpuSeconds()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu, len(in))
		})
	}
	b.Run("test2json-file", func(b *testing.B) {
		one := fixture(b, "go-json.txt")
		in := bytes.Repeat(one, 4<<20/len(one)+1)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		cpu := cpuSeconds()
		for b.Loop() {
			if _, err := ParseTest2JSON(bytes.NewReader(in)); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu, len(in))
	})
}

// reportCPU reports MB parsed per CPU second (all of the process's
// threads, the collector's included), which a busy machine does not skew
// as it does MB/s of wall time.
func reportCPU(b *testing.B, since float64, size int) {
	if d := cpuSeconds() - since; d > 0 && since > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/d, "MB/cpu-s")
	}
}

// junit50k writes a pytest-shaped JUnit report of n tests, one in 50
// failing with a short traceback.
func junit50k(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites><testsuite name=\"pytest\" errors=\"0\" failures=\"%d\" skipped=\"0\" tests=\"%d\" time=\"12.3\">\n", n/50, n)
	for i := range n {
		fmt.Fprintf(&b, `<testcase classname="tests.test_mod%d.TestThing" name="test_case_%d[param-%d]" time="0.%03d"`, i/100, i, i%7, i%1000)
		if i%50 == 0 {
			fmt.Fprintf(&b, "><failure message=\"AssertionError: assert %d == %d\">def test_case():\n&gt;       assert x == y\nE       AssertionError: assert %d == %d\n\ntests/test_mod.py:12: AssertionError</failure></testcase>\n", i, i+1, i, i+1)
		} else {
			b.WriteString("/>\n")
		}
	}
	b.WriteString("</testsuite></testsuites>\n")
	return b.Bytes()
}

// BenchmarkParseJUnit50k reads a 50,000-test JUnit report.
func BenchmarkParseJUnit50k(b *testing.B) {
	in := junit50k(50_000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var peak uint64
	cpu := cpuSeconds()
	for b.Loop() {
		peak = max(peak, peakHeap(func() {
			r, err := ParseJUnit(bytes.NewReader(in))
			if err != nil || len(r.Runs[0].Records) != 50_000 {
				b.Fatal(err)
			}
		}))
	}
	reportCPU(b, cpu, len(in))
	b.ReportMetric(float64(len(in))/(1<<20), "input-MB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// garbage is an endless reader of pseudo-random bytes, deterministic per
// seed: kind "bytes" is any byte, "text" printable lines of random length,
// "lines" lines drawn at random from the fixtures (the most records a
// stream of plausible output can make).
type garbage struct {
	rng   *rand.Rand
	kind  string
	lines [][]byte
	left  int64
}

func newGarbage(tb testing.TB, kind string, n int64) *garbage {
	g := &garbage{rng: rand.New(rand.NewPCG(1, 2)), kind: kind, left: n}
	if kind == "lines" {
		names, _ := filepath.Glob("testdata/*.txt")
		for _, name := range names {
			g.lines = append(g.lines, bytes.SplitAfter(fixture(tb, filepath.Base(name)), []byte("\n"))...)
		}
	}
	return g
}

func (g *garbage) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	n := 0
	switch g.kind {
	case "bytes":
		for n < len(p) {
			v := g.rng.Uint64()
			for i := 0; i < 8 && n < len(p); i++ {
				p[n] = byte(v >> (8 * i))
				n++
			}
		}
	case "text":
		for n < len(p) {
			if g.rng.IntN(60) == 0 {
				p[n] = '\n'
			} else {
				p[n] = byte(' ' + g.rng.IntN(95))
			}
			n++
		}
	case "lines":
		for n < len(p) {
			n += copy(p[n:], g.lines[g.rng.IntN(len(g.lines))])
		}
	}
	g.left -= int64(n)
	return n, nil
}

// peakHeap runs fn and returns the largest live heap seen while it ran,
// sampled every millisecond, less the heap before it.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base {
					peak = max(peak, m.HeapAlloc-base)
				}
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return peak
}

// BenchmarkGarbage100MB feeds 100 MB of garbage to Parse: it must not
// panic, and its memory must stay bounded (peak-heap-MB).
func BenchmarkGarbage100MB(b *testing.B) {
	const size = 100 << 20
	for _, kind := range []string{"bytes", "text", "lines"} {
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var peak uint64
			var r *Report
			cpu := cpuSeconds()
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					var err error
					if r, err = Parse(newGarbage(b, kind, size)); err != nil {
						b.Fatal(err)
					}
				}))
			}
			reportCPU(b, cpu, size)
			kept := 0
			for _, run := range r.Runs {
				kept += len(run.Records)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(kept), "records")
		})
	}
}
