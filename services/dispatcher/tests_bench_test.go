package dispatcher

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// BenchmarkTestRecords50k is one job's 50,000 per-test records on their way
// in: 25 job.tests chunks of 2,000 over TCP, then the result, acknowledged once
// the store has committed the result and every record in one transaction (its
// fsync included). One op is one job. Allocations count both sides (the fake
// runner encodes what the dispatcher decodes); MB-held is the heap the
// dispatcher holds for the attempt's chunks just before the result.
func BenchmarkTestRecords50k(b *testing.B) {
	d, stop := startBenchDispatcher(b, filepath.Join(b.TempDir(), "results"))
	defer stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go d.Serve(l)
	assigns := make(chan wire.Assign, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	c, _, err := peer.Dial(ctx, l.Addr().String(), withIdentity(d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1}), peer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.Serve(context.Background(), onAssign(func(as wire.Assign) error { assigns <- as; return nil }))
	}()
	defer func() { c.Close(); <-served }()

	recs := make([]wire.TestRecord, 50_000)
	for i := range recs {
		recs[i] = wire.TestRecord{ID: fmt.Sprintf("tests.test_module%02d.TestCase.test_%05d", i%40, i), Suite: "tests.test_module",
			Outcome: wire.OutcomePassed, DurationMS: new(int64(i % 997))}
		if i%500 == 0 {
			recs[i].Outcome, recs[i].Message = wire.OutcomeFailed, "AssertionError: 1 != 2\n  File \"tests/test_module.py\", line 12"
		}
	}
	var held float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := d.Submit(ctx, &wire.Submit{Repo: "/srv/repo", Commit: benchCommit(i + 1), Branch: "main"}); err != nil {
			b.Fatal(err)
		}
		var as wire.Assign
		select {
		case as = <-assigns:
		case <-time.After(benchStall):
			b.Fatal("no assignment")
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		n := 0
		for lo := 0; lo < len(recs); lo += wire.MaxTestChunk {
			chunk := wire.TestChunk{JobID: as.JobID, Attempt: as.Attempt, Seq: n, Tests: recs[lo:min(lo+wire.MaxTestChunk, len(recs))]}
			if err := c.Call(ctx, wire.MethodJobTests, &chunk, nil); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		held += float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)
		b.StartTimer()
		now := time.Now()
		res := wire.Result{JobID: as.JobID, Attempt: as.Attempt, Status: wire.StatusFailed, ExitCode: 1, StartedAt: now, FinishedAt: now,
			TestChunks: n, Summary: wire.Summary{Passed: 49_900, Failed: 100}}
		if err := c.Call(ctx, wire.MethodJobResult, &res, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(held/float64(b.N), "MB-held")
}
