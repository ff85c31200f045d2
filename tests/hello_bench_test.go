package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// BenchmarkHelloStorm measures what a runner's hello costs the dispatcher: the
// first connection of EVENTIDE_STORM_RUNNERS (1,000) runners (an enrolment each
// since protocol 8), then EVENTIDE_STORM_RTTS (200) sequential reconnections of
// one runner (dial, hello, welcome: the round trip), then the reconnect storm:
// every runner's connection dropped at once and all of them dialling again,
// EVENTIDE_IDLE_DIALS (32) at a time (re-authenticating with their identities).
// CPU figures are the dispatcher process's.
func BenchmarkHelloStorm(b *testing.B) {
	n := envInt(b, "EVENTIDE_STORM_RUNNERS", 1000)
	rtts := envInt(b, "EVENTIDE_STORM_RTTS", 200)
	parallel := envInt(b, "EVENTIDE_IDLE_DIALS", 32)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if need := uint64(n) + 256; lim.Cur < need {
		b.Skipf("RLIMIT_NOFILE is %d: %d runners need %d; raise `ulimit -n` or lower EVENTIDE_STORM_RUNNERS", lim.Cur, n, need)
	}
	r := newLoadRig(b)
	s := &storm{r: r, conns: make([]*peer.Conn, n)}
	defer s.closeAll()

	c0 := procCPU(b, r.pid)
	first := s.dialAll(parallel)
	c1 := procCPU(b, r.pid)

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		for range rtts {
			s.close(0)
			start := time.Now()
			s.dial(0)
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()

	s.closeAll()
	c2 := procCPU(b, r.pid)
	again := s.dialAll(parallel)
	c3 := procCPU(b, r.pid)

	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "hello-p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "hello-p99-ms")
	b.ReportMetric(first.Seconds(), "first-s")
	b.ReportMetric(1e6*(c1-c0)/float64(n), "first-cpu-us/hello")
	b.ReportMetric(again.Seconds(), "storm-s")
	b.ReportMetric(1e6*(c3-c2)/float64(n), "storm-cpu-us/hello")
	b.ReportMetric(100*(c3-c2)/again.Seconds(), "storm-cpu-%")
	b.Logf("%s, %d runners: first connections in %v (%.0f/s, dispatcher %.2f s CPU); hello round trip p50 %.2f ms, p99 %.2f ms (%d); "+
		"storm: %d reconnections in %v (%.0f/s, dispatcher %.2f s CPU, %.0f%% of one core)",
		transport(r.d), n, first.Round(time.Millisecond), float64(n)/first.Seconds(), c1-c0, ms(percentile(lat, 50)), ms(percentile(lat, 99)), len(lat),
		n, again.Round(time.Millisecond), float64(n)/again.Seconds(), c3-c2, 100*(c3-c2)/again.Seconds())
}

// storm holds the benchmark's runner connections; each is served until closed.
type storm struct {
	r     *loadRig
	mu    sync.Mutex
	conns []*peer.Conn
	wg    sync.WaitGroup
}

func (s *storm) name(i int) string { return fmt.Sprintf("storm-runner-%05d", i) }

// dial connects runner i (retrying what a busy dispatcher drops) and serves it,
// refusing every job.
func (s *storm) dial(i int) {
	tb := s.r.tb
	delay := 20 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(s.r.ctx, 20*time.Second)
		c, err := dialLoadRunner(ctx, i, s.r.d, &wire.Hello{Role: wire.RoleRunner, Name: s.name(i), Slots: 1})
		cancel()
		if err == nil {
			s.mu.Lock()
			s.conns[i] = c
			s.mu.Unlock()
			s.wg.Go(func() {
				c.Serve(s.r.ctx, peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) {
					return nil, wire.Errorf(wire.CodeRefused, "benchmark runner")
				}))
			})
			return
		}
		if peer.Fatal(err) || time.Now().After(deadline) {
			tb.Fatalf("%s: %v", s.name(i), err)
		}
		time.Sleep(delay) // backoff before a retry, not synchronisation
		delay = min(2*delay, time.Second)
	}
}

// dialAll connects every runner, parallel at a time, and returns how long it took.
func (s *storm) dialAll(parallel int) time.Duration {
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := range next {
				s.dial(i)
			}
		})
	}
	for i := range s.conns {
		next <- i
	}
	close(next)
	wg.Wait()
	return time.Since(start)
}

func (s *storm) close(i int) {
	s.mu.Lock()
	c := s.conns[i]
	s.conns[i] = nil
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeAll drops every connection and waits for their Serve loops.
func (s *storm) closeAll() {
	for i := range s.conns {
		s.close(i)
	}
	s.wg.Wait()
}
