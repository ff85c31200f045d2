package tests

// Helpers of BenchmarkIdleRunners (load_test.go) only: a dialer that survives a
// dispatcher busy with thousands of handshakes, and /proc readings of the test
// process and of the machine, so that the dispatcher's figure can be read against
// what the simulated runners (in this process, on the same cores) cost.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// idleDialStats is what connecting the idle runners took.
type idleDialStats struct {
	elapsed time.Duration
	retries int64 // dial attempts that failed transiently and were tried again
}

// dialIdleRunners connects n one-slot runners that refuse every job, as
// loadRig.dialRunners does, with parallel dials spread over loadSources loopback
// addresses (dialLoadRunner); unlike it, a transient failure (-32007, dropped
// because too many connections from one address were waiting to say hello; a full
// accept backlog; a handshake that timed out on a busy machine) is retried with
// backoff for up to perRunner, and counted. A refusal that retrying cannot fix
// fails the benchmark at once.
func dialIdleRunners(r *loadRig, n, parallel int, perRunner time.Duration) idleDialStats {
	tb := r.tb
	tb.Helper()
	conns := make([]*peer.Conn, n)
	errs := make([]error, n)
	var retries atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	start := time.Now()
	for range min(n, parallel) {
		wg.Go(func() {
			for i := range next {
				name := fmt.Sprintf("load-runner-%05d", i)
				deadline := time.Now().Add(perRunner)
				delay := 20 * time.Millisecond
				for {
					ctx, cancel := context.WithTimeout(r.ctx, patience)
					c, err := dialLoadRunner(ctx, i, r.d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1})
					cancel()
					if err == nil {
						conns[i] = c
						r.serve(c, name, r.runnerHandler(c, name, false))
						break
					}
					if peer.Fatal(err) || r.ctx.Err() != nil || time.Now().After(deadline) {
						errs[i] = fmt.Errorf("%s: %w", name, err)
						break
					}
					retries.Add(1)
					select {
					case <-time.After(delay):
					case <-r.ctx.Done():
					}
					delay = min(2*delay, time.Second)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("dialling %d idle runners: %v", n, err)
	}
	r.runners = append(r.runners, conns...)
	return idleDialStats{elapsed: time.Since(start), retries: retries.Load()}
}

// idleSample is one reading of the CPU counters the idle benchmark compares.
type idleSample struct {
	at         time.Time
	dispatcher float64 // dispatcher utime+stime, s
	self       float64 // this test process's utime+stime, s
	busy, all  float64 // machine-wide busy and total CPU time, s (all cores)
}

func takeIdleSample(tb testing.TB, pid int) idleSample {
	tb.Helper()
	busy, all := machineCPU(tb)
	return idleSample{at: time.Now(), dispatcher: procCPU(tb, pid), self: procCPU(tb, os.Getpid()), busy: busy, all: all}
}

// idleShares is what happened between two samples, in % of one core (the machine's
// busy share in % of all its cores).
type idleShares struct {
	wall                  time.Duration
	dispatcher, self, box float64
}

func sharesBetween(a, b idleSample) idleShares {
	wall := b.at.Sub(a.at)
	s := idleShares{wall: wall,
		dispatcher: 100 * (b.dispatcher - a.dispatcher) / wall.Seconds(),
		self:       100 * (b.self - a.self) / wall.Seconds()}
	if b.all > a.all {
		s.box = 100 * (b.busy - a.busy) / (b.all - a.all)
	}
	return s
}

// machineCPU returns the machine's busy and total CPU time from /proc/stat's cpu
// line, in seconds summed over all cores (idle and iowait count as not busy).
func machineCPU(tb testing.TB) (busy, all float64) {
	tb.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatalf("reading /proc/stat: %v", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		tb.Fatalf("/proc/stat: unexpected first line %q", line)
	}
	var idle, total int64
	// user nice system idle iowait irq softirq steal (guest time is inside user).
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("/proc/stat: %q", line)
		}
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return float64(total-idle) / clkTck, float64(total) / clkTck
}

// procThreads returns the Threads field of /proc/<pid>/status.
func procThreads(tb testing.TB, pid int) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}

// idleWait waits d while watching the rig: a lost runner or a dead dispatcher
// ends the benchmark at once.
func idleWait(b *testing.B, r *loadRig, d time.Duration, what string, diag func() string) {
	b.Helper()
	select {
	case <-time.After(d): // pacing, not synchronisation
	case <-r.failed:
		b.Fatalf("idle runners, %s (%s): %v; %s", what, time.Now().Format("15:04:05.000"), r.firstErrors(), diag())
	case <-r.d.done:
		b.Fatalf("the dispatcher exited during %s", what)
	}
}

// idleSelfRSSMB is the test process's resident set (its simulated runners), MiB.
func idleSelfRSSMB(tb testing.TB) float64 { return procStatusMB(tb, os.Getpid(), "VmRSS") }

// idleGoroutines is the test process's goroutine count (3 per simulated runner).
func idleGoroutines() int { return runtime.NumGoroutine() }

// idleNumCPU is the machine's core count, for the machine-busy figure.
func idleNumCPU() int { return runtime.NumCPU() }

// idleAnnounce writes the dispatcher's pid to $EVENTIDE_IDLE_PIDFILE, when set, once
// every runner is connected and settled: a profiler (perf record -p) waits for the
// file and knows which dispatcher is this benchmark's among others on the machine.
func idleAnnounce(tb testing.TB, pid int) {
	tb.Helper()
	if path := os.Getenv("EVENTIDE_IDLE_PIDFILE"); path != "" {
		if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// rssSampler records the dispatcher's VmRSS every interval until stopped, to tell
// a steady resident set from one still growing.
type rssSampler struct {
	once sync.Once
	stop chan struct{}
	done chan struct{}
	mb   []float64
}

func startRSSSampler(tb testing.TB, pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
				if err != nil {
					return
				}
				for _, line := range strings.Split(string(b), "\n") {
					if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
						s.mb = append(s.mb, float64(kb)/1024)
					}
				}
			}
		}
	}()
	return s
}

// Stop ends the sampling (it may be called more than once) and returns the readings as "a b c ..." (MiB, rounded).
func (s *rssSampler) Stop() string {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	var sb strings.Builder
	for i, v := range s.mb {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%.0f", v)
	}
	return sb.String()
}

// growing reports whether the resident set was still rising at the end (by more
// than 2% over the last half of the readings, and still moving between the last
// two): the heap then had not yet reached the size at which the garbage collector
// runs, and the final figure understates the steady state. At 1 s heartbeats the
// first collection after connecting comes 30-50 s later, whatever the number of
// runners (live heap and garbage both grow with it), and the resident set settles
// only after two or three collections.
func (s *rssSampler) growing() bool {
	n := len(s.mb)
	if n < 4 {
		return true
	}
	return s.mb[n-1] > s.mb[n-1-n/2]*1.02 && s.mb[n-1] > s.mb[n-2]*1.002
}

// silenceWatch follows, every 100ms, the longest time any runner has gone without
// hearing from the dispatcher (heartbeats included): how close the idle load comes
// to the 3-interval limit after which a runner gives the dispatcher up. It counts
// this process's scheduling delays too, since a frame is heard when it is read.
type silenceWatch struct {
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
	worst time.Duration
	at    time.Time
	// over counts the readings in which some runner had heard nothing for more
	// than 2 s (two heartbeat intervals).
	over int
}

func startSilenceWatch(conns []*peer.Conn) *silenceWatch {
	w := &silenceWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-t.C:
				var m time.Duration
				for _, c := range conns {
					if h := c.LastHeard(); !h.IsZero() {
						m = max(m, now.Sub(h))
					}
				}
				if m > w.worst {
					w.worst, w.at = m, now
				}
				if m > 2*time.Second {
					w.over++
				}
			}
		}
	}()
	return w
}

// Stop ends the watch; it may be called more than once.
func (w *silenceWatch) Stop() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// String describes the watch so far, for a failure message; call it after Stop.
func (w *silenceWatch) String() string {
	return fmt.Sprintf("longest silence seen by a runner %v (at %s), %d readings over 2s",
		w.worst.Round(time.Millisecond), w.at.Format("15:04:05.000"), w.over)
}

// loadSources is how many loopback addresses (127.0.0.1 and up) the load rig's
// runners dial from. The dispatcher keeps at most 16 connections per address
// waiting for their hello and drops the oldest past that (docs/PROTOCOL.md §4):
// 32 parallel dials from one address, on a machine busy enough that the
// dispatcher reads hellos late, would be dropped and retried. Spread over 8
// addresses, at most 4 per address are in flight.
const loadSources = 8

// dialLoadRunner is peer.Dial from the i-th runner's loopback address, over TLS
// when d speaks it.
func dialLoadRunner(ctx context.Context, i int, d *dispatcher, hello *wire.Hello) (*peer.Conn, error) {
	c, w, err := peerDial(ctx, d, net.IPv4(127, 0, 0, byte(1+i%loadSources)), withLoadIdentity(d.addr, hello))
	if err != nil {
		return nil, err
	}
	keepLoadIdentity(d.addr, hello, w)
	return c, nil
}

// loadIdentities holds the identity each test runner (by dispatcher address and
// name) was issued, so that its reconnections authenticate as a real runner's do.
var loadIdentities sync.Map

// withLoadIdentity gives a runner hello the identity its name enrolled with at
// addr, or asks to enrol.
func withLoadIdentity(addr string, h *wire.Hello) *wire.Hello {
	if h.Role != wire.RoleRunner || h.Identity != nil {
		return h
	}
	if id, ok := loadIdentities.Load(addr + " " + h.Name); ok {
		h.Identity, h.Enrol = id.(*wire.Identity), false
	} else {
		h.Enrol = true
	}
	return h
}

// keepLoadIdentity remembers the identity a welcome issued.
func keepLoadIdentity(addr string, h *wire.Hello, w *wire.Welcome) {
	if w != nil && w.Identity != nil {
		loadIdentities.Store(addr+" "+h.Name, w.Identity)
	}
}
