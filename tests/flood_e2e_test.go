package tests

// A dispatcher flooded with connections that never say hello, from other loopback
// addresses, must still admit real clients at once, deliver results on time and
// keep its memory small (docs/PROTOCOL.md §4, version 5).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// The flood's kinds: connections that send nothing, one byte a second, or 1 MiB
// without a newline; "mixed" cycles through the three.
var floodKinds = []string{"silent", "slow", "big", "mixed"}

// floodSources are the flood's addresses; real clients connect from 127.0.0.1.
const floodSources = 8 // 127.0.0.2 to 127.0.0.9

// floodReopenPause is how long a flood connection that was dropped waits before it
// connects again: the flood is held at its size, without turning into a dial loop
// (or, for "big", a loop copying a megabyte into a socket) that only measures how
// fast two shared cores, which also run the flood, accept and close.
const floodReopenPause = time.Second

// TestFloodAdmission runs each kind of flood at a size the CI can afford (320
// connections, 40 per address: past the per-address bound of 16 and the total of
// 256 that the old refusal of the newest had). BenchmarkFlood takes the full size.
func TestFloodAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of connections: not with -short")
	}
	runFlood(t, envInt(t, "EVENTIDE_FLOOD_CONNS", 320), 2*time.Second)
}

// BenchmarkFlood is the figure: 2,000 connections from 127.0.0.2-9 of each
// kind; EVENTIDE_FLOOD_CONNS and EVENTIDE_FLOOD_SECONDS (per kind) change it. One
// iteration is the whole run: run it with -benchtime=1x, without the race
// detector for the real figures:
//
//	EVENTIDE_E2E_RACE=0 go test ./tests -run '^$' -bench Flood -benchtime 1x -v
func BenchmarkFlood(b *testing.B) {
	for range b.N {
		runFlood(b, envInt(b, "EVENTIDE_FLOOD_CONNS", 2000), time.Duration(envInt(b, "EVENTIDE_FLOOD_SECONDS", 5))*time.Second)
	}
}

// floodFigures is what one kind of flood did to the dispatcher.
type floodFigures struct {
	kind     string
	admit    map[string]time.Duration // role → slowest of its probes
	delay    time.Duration            // commit → result file
	rssPeak  float64                  // MiB, highest VmRSS sampled during the flood
	dials    int64
	dropped  int64   // told -32007
	oversize int64   // told -32700 before hello
	held     int64   // open at the end
	cpu      float64 // the dispatcher\'s CPU time during the flood, in cores
}

func runFlood(tb testing.TB, conns int, hold time.Duration) {
	raiseNoFile(tb, uint64(conns)*2+512) // before the dispatcher starts: it inherits the limit
	dir := tb.TempDir()
	d := startDispatcher(tb, 0, filepath.Join(dir, "results"), nil)
	pid := d.cmd.Process.Pid
	repo, first := newRepo(tb, 0)
	for _, sub := range []string{"runner", "observer"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	startRunner(tb, d.addr, filepath.Join(dir, "runner"), "flood-runner", nil)
	startObserver(tb, d.addr, filepath.Join(dir, "observer"), repo.dir, nil)
	waitResult(tb, d.resultsDir, first, patience) // the runner's clone is warm

	// The slower of two, as the machine (shared, and running the flood too) is
	// noisy: the bound is on what the flood adds, not on the machine's mood.
	base := max(commitToResult(tb, repo, d.resultsDir, "before the flood"), commitToResult(tb, repo, d.resultsDir, "before the flood, again"))
	baseAdmit := admitProbes(tb, d.addr)
	tb.Logf("no flood: commit → result %v; admitted runner %v, observer %v, console %v; dispatcher RSS %.1f MiB",
		base.Round(time.Millisecond), baseAdmit["runner"].Round(time.Millisecond),
		baseAdmit["observer"].Round(time.Millisecond), baseAdmit["console"].Round(time.Millisecond),
		procStatusMB(tb, pid, "VmRSS"))

	var all []floodFigures
	for _, kind := range floodKinds {
		cpu0, t0 := procCPU(tb, pid), time.Now()
		f := startFlood(tb, d.addr, kind, conns)
		rss := sampleRSS(pid)
		waitFor(tb, patience, func() bool { return f.dials.Load() >= int64(conns) }, fmt.Sprintf("%d %s flood connections", conns, kind))
		// Let the flood settle in (drops, re-opens, a big one's megabyte sent)
		// before measuring; its size is then steady.
		<-time.After(hold / 2)
		fig := floodFigures{kind: kind, admit: admitProbes(tb, d.addr)}
		// The faster of two: most of a result's time is the runner's git and
		// python, which a machine this busy (the flood runs on the same cores)
		// can stall for seconds either way; the dispatcher's part is milliseconds.
		fig.delay = min(commitToResult(tb, repo, d.resultsDir, "during a "+kind+" flood"),
			commitToResult(tb, repo, d.resultsDir, "during a "+kind+" flood, again"))
		<-time.After(hold / 2)
		fig.rssPeak = rss.stop()
		fig.cpu = (procCPU(tb, pid) - cpu0) / time.Since(t0).Seconds()
		fig.dials, fig.dropped, fig.oversize, fig.held = f.dials.Load(), f.dropped.Load(), f.oversize.Load(), f.open.Load()
		f.stop()
		all = append(all, fig)
		tb.Logf("%s flood of %d from 127.0.0.2-%d: admitted runner %v, observer %v, console %v; commit → result %v (%+v vs no flood); "+
			"dispatcher peak RSS %.1f MiB, CPU %.2f cores; flood dialled %d times, %d dropped with -32007, %d refused as over-size, %d open at the end",
			kind, conns, 1+floodSources, fig.admit["runner"].Round(time.Millisecond), fig.admit["observer"].Round(time.Millisecond),
			fig.admit["console"].Round(time.Millisecond), fig.delay.Round(time.Millisecond), (fig.delay - base).Round(time.Millisecond),
			fig.rssPeak, fig.cpu, fig.dials, fig.dropped, fig.oversize, fig.held)
	}
	hwm := procStatusMB(tb, pid, "VmHWM")
	tb.Logf("dispatcher VmHWM over the whole run: %.1f MiB", hwm)
	if b, ok := tb.(*testing.B); ok {
		b.ReportMetric(hwm, "peak-rss-MB")
	}

	// The bounds are the issue's, for the binary as shipped (the benchmark). The
	// race detector (this test's build in CI, see raceTests) multiplies memory about five times
	// and slows every process several times, on cores the flood shares: there
	// the times are the machine's, so they are logged, not bounded. What the old
	// admission broke is still asserted: every real client is admitted
	// (admitProbes fails on a refusal, as -32006 was), and memory stays bounded
	// (1 MiB was held per connection).
	admitMax, delayMax, rssMax := time.Second, 2*time.Second, 128.0
	if raceBuild(tb) {
		rssMax = 384
	}
	for _, fig := range all {
		if raceBuild(tb) {
			break
		}
		for role, took := range fig.admit {
			if took > admitMax {
				tb.Errorf("%s flood: a %s took %v to be admitted, want at most %v", fig.kind, role, took, admitMax)
			}
		}
		if fig.delay > base+delayMax {
			tb.Errorf("%s flood: commit → result took %v, %v without the flood: want at most %v more", fig.kind, fig.delay, base, delayMax)
		}
	}
	if hwm >= rssMax {
		tb.Errorf("dispatcher peak RSS %.1f MiB, want under %.0f MiB", hwm, rssMax)
	}
}

// commitToResult commits to repo and returns how long the result file took.
func commitToResult(tb testing.TB, repo *gitRepo, resultsDir, note string) time.Duration {
	tb.Helper()
	sha, start := repo.commitTimed(note, map[string]string{"tests/test_sample.py": sampleTest(0, true, note)})
	waitResult(tb, resultsDir, sha, patience)
	return time.Since(start)
}

// admitProbes connects a runner, an observer and a console from 127.0.0.1 three
// times each and returns, per role, the slowest time from dial to welcome. The
// runner says it is draining, so that no job is offered to it.
func admitProbes(tb testing.TB, addr string) map[string]time.Duration {
	tb.Helper()
	hellos := map[string]func() *wire.Hello{
		"runner": func() *wire.Hello {
			return &wire.Hello{Role: wire.RoleRunner, Name: "probe-runner", Slots: 1, Draining: true}
		},
		"observer": func() *wire.Hello { return &wire.Hello{Role: wire.RoleObserver, Name: "probe-observer"} },
		"console":  func() *wire.Hello { return &wire.Hello{Role: wire.RoleConsole, Name: "probe-console"} },
	}
	worst := make(map[string]time.Duration)
	for range 3 {
		for role, hello := range hellos {
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			start := time.Now()
			h := withLoadIdentity(addr, hello())
			c, w, err := peer.Dial(ctx, addr, h, peer.Options{})
			took := time.Since(start)
			keepLoadIdentity(addr, h, w)
			cancel()
			if err != nil {
				tb.Fatalf("a %s from 127.0.0.1 was not admitted after %v: %v", role, took.Round(time.Millisecond), err)
			}
			c.Close()
			worst[role] = max(worst[role], took)
		}
	}
	return worst
}

// flood holds n connections open to the dispatcher, re-opening each one that is
// dropped after floodReopenPause, until stop.
type flood struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	dials    atomic.Int64
	open     atomic.Int64
	dropped  atomic.Int64
	oversize atomic.Int64
}

// bigLine is what a "big" flood connection sends: 1 MiB without a newline.
var bigLine = bytes.Repeat([]byte("x"), 1<<20)

func startFlood(tb testing.TB, addr, kind string, n int) *flood {
	tb.Helper()
	f := &flood{}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	tb.Cleanup(f.stop)
	kinds := []string{kind}
	if kind == "mixed" {
		kinds = []string{"silent", "slow", "big"}
	}
	for i := range n {
		src := fmt.Sprintf("127.0.0.%d", 2+i%floodSources)
		k := kinds[(i/floodSources)%len(kinds)]
		f.wg.Go(func() { f.hold(addr, src, k) })
	}
	return f
}

func (f *flood) stop() {
	f.cancel()
	f.wg.Wait()
}

func (f *flood) hold(addr, src, kind string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	for f.ctx.Err() == nil {
		nc, err := d.DialContext(f.ctx, "tcp", addr)
		if err == nil {
			f.dials.Add(1)
			f.open.Add(1)
			stop := context.AfterFunc(f.ctx, func() { nc.Close() })
			f.count(f.talk(nc, kind))
			stop()
			nc.Close()
			f.open.Add(-1)
		}
		select {
		case <-f.ctx.Done():
		case <-time.After(floodReopenPause):
		}
	}
}

// talk plays one flood connection of kind until the dispatcher ends it, and
// returns what the dispatcher said.
func (f *flood) talk(nc net.Conn, kind string) []byte {
	var got bytes.Buffer
	buf := make([]byte, 512)
	if kind == "big" {
		nc.Write(bigLine) // fails once the dispatcher has refused it and closed
	}
	for {
		if kind == "slow" {
			nc.SetReadDeadline(time.Now().Add(time.Second))
		}
		n, err := nc.Read(buf)
		got.Write(buf[:n])
		var ne net.Error
		switch {
		case err == nil:
		case kind == "slow" && errors.As(err, &ne) && ne.Timeout():
			if _, err := nc.Write([]byte("x")); err != nil {
				return got.Bytes()
			}
		default:
			return got.Bytes()
		}
	}
}

func (f *flood) count(said []byte) {
	switch {
	case bytes.Contains(said, []byte(`"code":-32007`)):
		f.dropped.Add(1)
	case bytes.Contains(said, []byte(`"code":-32700`)):
		f.oversize.Add(1)
	}
}

// rssSampling records a process's highest VmRSS, read every 50ms.
type rssSampling struct {
	stopc chan struct{}
	done  chan float64
}

func sampleRSS(pid int) *rssSampling {
	s := &rssSampling{stopc: make(chan struct{}), done: make(chan float64, 1)}
	go func() {
		var peak float64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if mb, ok := readRSS(pid); ok {
				peak = max(peak, mb)
			}
			select {
			case <-s.stopc:
				s.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampling) stop() float64 {
	close(s.stopc)
	return <-s.done
}

// readRSS is procStatusMB for a sampler goroutine, which must not fail the test.
func readRSS(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}

// raiseNoFile lifts this process's soft limit on open files to the hard limit,
// and skips when even that is below need.
func raiseNoFile(tb testing.TB, need uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatalf("raising RLIMIT_NOFILE to %d: %v", lim.Max, err)
		}
	}
	if lim.Cur < need {
		tb.Skipf("RLIMIT_NOFILE hard limit is %d: the flood needs %d; raise `ulimit -Hn`", lim.Max, need)
	}
}
