package tests

// A dispatcher flooded with connections that never say hello, from other loopback
// addresses, must still admit real clients at once, deliver results on time and
// keep its memory small (docs/PROTOCOL.md §4, version 5). With TLS on (version 10)
// the same holds for a flood of plaintext junk, of ClientHellos that never finish
// their handshake and of half-sent ClientHellos, all from one address.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// The flood's kinds: connections that send nothing, one byte a second, or 1 MiB
// without a newline; "mixed" cycles through the three.
var floodKinds = []string{"silent", "slow", "big", "mixed"}

// floodSources are the flood's addresses; real clients connect from 127.0.0.1.
const floodSources = 8 // 127.0.0.2 to 127.0.0.9

// The TLS flood's kinds: "junk" sends a plaintext hello (the dispatcher answers
// -32011 and closes), "hello" a ClientHello and then nothing (the server spends
// its key exchange and signature, and the handshake never finishes), "partial"
// the first half of a ClientHello's record and then nothing; "mixed-tls" cycles
// through the three.
var tlsFloodKinds = []string{"junk", "hello", "partial", "mixed-tls"}

// floodSetup is what one flood run is made of.
type floodSetup struct {
	tls     bool // the dispatcher runs with --tls, and every real client pins it
	kinds   []string
	sources int // flood addresses, from 127.0.0.2
}

var (
	// plainFlood is the robustness issue's flood.
	plainFlood = floodSetup{kinds: floodKinds, sources: floodSources}
	// tlsFlood comes from one address: a handshake costs the dispatcher CPU before
	// anyone is authenticated, and its per-address bound is what keeps one
	// source's handshakes from crowding out everyone else's.
	tlsFlood = floodSetup{tls: true, kinds: tlsFloodKinds, sources: 1}
)

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
	runFlood(t, plainFlood, envInt(t, "EVENTIDE_FLOOD_CONNS", 320), 2*time.Second)
}

// TestFloodAdmissionTLS is TestFloodAdmission against a dispatcher with --tls:
// the real runner and observer pin its certificate, the probes speak TLS, and the
// flood comes from one address. It runs the mixed kind only (plaintext junk,
// ClientHellos and half ClientHellos side by side) and the binary as shipped: the
// suite runs the floods one at a time, and the plaintext flood already keeps the
// race build; net/peer's TLS tests run under -race. BenchmarkFlood with
// EVENTIDE_TLS=1 runs every kind, at the full size.
func TestFloodAdmissionTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of connections: not with -short")
	}
	setup := tlsFlood
	setup.kinds = []string{"mixed-tls"}
	runFlood(t, setup, envInt(t, "EVENTIDE_FLOOD_CONNS", 320), 2*time.Second)
}

// BenchmarkFlood is the figure: 2,000 connections from 127.0.0.2-9 of each
// kind; EVENTIDE_FLOOD_CONNS and EVENTIDE_FLOOD_SECONDS (per kind) change it. One
// iteration is the whole run: run it with -benchtime=1x, without the race
// detector for the real figures; EVENTIDE_TLS=1 floods a --tls dispatcher as
// TestFloodAdmissionTLS does:
//
//	EVENTIDE_E2E_RACE=0 go test ./tests -run '^$' -bench Flood -benchtime 1x -v
func BenchmarkFlood(b *testing.B) {
	setup := plainFlood
	if tlsWanted(b) {
		setup = tlsFlood
	}
	for range b.N {
		runFlood(b, setup, envInt(b, "EVENTIDE_FLOOD_CONNS", 2000), time.Duration(envInt(b, "EVENTIDE_FLOOD_SECONDS", 5))*time.Second)
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
	tlsTold  int64   // told -32011 (TLS required)
	answered int64   // answered a ClientHello with the server's first flight
	held     int64   // open at the end
	cpu      float64 // the dispatcher\'s CPU time during the flood, in cores
}

func runFlood(tb testing.TB, setup floodSetup, conns int, hold time.Duration) {
	raiseNoFile(tb, uint64(conns)*2+512) // before the dispatcher starts: it inherits the limit
	dir := tb.TempDir()
	var d *dispatcher
	var pin []string // the real clients' flags
	if setup.tls {
		d = startTLSDispatcher(tb, 0, filepath.Join(dir, "results"), filepath.Join(dir, "data"), nil)
		pin = []string{"--tls-fingerprint", d.fingerprint}
	} else {
		d = startDispatcher(tb, 0, filepath.Join(dir, "results"), nil)
	}
	pid := d.cmd.Process.Pid
	repo, first := newRepo(tb, 0)
	for _, sub := range []string{"runner", "observer"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	startRunner(tb, d.addr, filepath.Join(dir, "runner"), "flood-runner", nil, pin...)
	startObserver(tb, d.addr, filepath.Join(dir, "observer"), repo.dir, nil, pin...)
	waitResult(tb, d.resultsDir, first, patience) // the runner's clone is warm

	// The slower of two, as the machine (shared, and running the flood too) is
	// noisy: the bound is on what the flood adds, not on the machine's mood.
	base := max(commitToResult(tb, repo, d.resultsDir, "before the flood"), commitToResult(tb, repo, d.resultsDir, "before the flood, again"))
	baseAdmit := admitProbes(tb, d)
	tb.Logf("no flood: commit → result %v; admitted runner %v, observer %v, console %v; dispatcher RSS %.1f MiB",
		base.Round(time.Millisecond), baseAdmit["runner"].Round(time.Millisecond),
		baseAdmit["observer"].Round(time.Millisecond), baseAdmit["console"].Round(time.Millisecond),
		procStatusMB(tb, pid, "VmRSS"))

	var all []floodFigures
	sources := fmt.Sprintf("127.0.0.2-%d", 1+setup.sources)
	if setup.sources == 1 {
		sources = "127.0.0.2"
	}
	for _, kind := range setup.kinds {
		cpu0, t0 := procCPU(tb, pid), time.Now()
		f := startFlood(tb, d.addr, kind, conns, setup.sources)
		rss := sampleRSS(pid)
		waitFor(tb, patience, func() bool { return f.dials.Load() >= int64(conns) }, fmt.Sprintf("%d %s flood connections", conns, kind))
		// Let the flood settle in (drops, re-opens, a big one's megabyte sent)
		// before measuring; its size is then steady.
		<-time.After(hold / 2)
		fig := floodFigures{kind: kind, admit: admitProbes(tb, d)}
		// The faster of two: most of a result's time is the runner's git and
		// python, which a machine this busy (the flood runs on the same cores)
		// can stall for seconds either way; the dispatcher's part is milliseconds.
		fig.delay = min(commitToResult(tb, repo, d.resultsDir, "during a "+kind+" flood"),
			commitToResult(tb, repo, d.resultsDir, "during a "+kind+" flood, again"))
		<-time.After(hold / 2)
		fig.rssPeak = rss.stop()
		fig.cpu = (procCPU(tb, pid) - cpu0) / time.Since(t0).Seconds()
		fig.dials, fig.dropped, fig.oversize, fig.held = f.dials.Load(), f.dropped.Load(), f.oversize.Load(), f.open.Load()
		fig.tlsTold, fig.answered = f.tlsTold.Load(), f.answered.Load()
		f.stop()
		all = append(all, fig)
		tb.Logf("%s flood of %d from %s: admitted runner %v, observer %v, console %v; commit → result %v (%+v vs no flood); "+
			"dispatcher peak RSS %.1f MiB, CPU %.2f cores; flood dialled %d times, %d dropped with -32007, %d refused as over-size, "+
			"%d told TLS is required, %d ClientHellos answered, %d open at the end",
			kind, conns, sources, fig.admit["runner"].Round(time.Millisecond), fig.admit["observer"].Round(time.Millisecond),
			fig.admit["console"].Round(time.Millisecond), fig.delay.Round(time.Millisecond), (fig.delay - base).Round(time.Millisecond),
			fig.rssPeak, fig.cpu, fig.dials, fig.dropped, fig.oversize, fig.tlsTold, fig.answered, fig.held)
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
// times each and returns, per role, the slowest time from dial to welcome (the
// TLS handshake included when d speaks TLS). The runner says it is draining, so
// that no job is offered to it.
func admitProbes(tb testing.TB, d *dispatcher) map[string]time.Duration {
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
			h := withLoadIdentity(d.addr, hello())
			c, w, err := peerDial(ctx, d, net.IPv4(127, 0, 0, 1), h)
			took := time.Since(start)
			keepLoadIdentity(d.addr, h, w)
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
	tlsTold  atomic.Int64
	answered atomic.Int64
	hello    []byte // the ClientHello the TLS kinds send
}

// bigLine is what a "big" flood connection sends: 1 MiB without a newline.
var bigLine = bytes.Repeat([]byte("x"), 1<<20)

func startFlood(tb testing.TB, addr, kind string, n, sources int) *flood {
	tb.Helper()
	f := &flood{hello: clientHello(tb)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	tb.Cleanup(f.stop)
	kinds := []string{kind}
	switch kind {
	case "mixed":
		kinds = []string{"silent", "slow", "big"}
	case "mixed-tls":
		kinds = []string{"junk", "hello", "partial"}
	}
	for i := range n {
		src := fmt.Sprintf("127.0.0.%d", 2+i%sources)
		k := kinds[(i/sources)%len(kinds)]
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
	switch kind {
	case "big":
		nc.Write(bigLine) // fails once the dispatcher has refused it and closed
	case "junk":
		nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"role":"runner","protocol_version":10}}` + "\n"))
	case "hello":
		nc.Write(f.hello)
	case "partial":
		nc.Write(f.hello[:len(f.hello)/2])
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
	case bytes.Contains(said, []byte(`"code":-32011`)):
		f.tlsTold.Add(1)
	case len(said) > 0 && said[0] == 0x16: // a TLS handshake record: the server's first flight
		f.answered.Add(1)
	}
}

// clientHello returns the first record a Go TLS 1.3 client sends: its
// ClientHello. The flood replays it; a server cannot tell a replayed ClientHello
// from a fresh one, and makes its own key share and signature for each.
func clientHello(tb testing.TB) []byte {
	tb.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tls.Client(a, &tls.Config{ServerName: "eventide", MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}).Handshake()
		a.Close()
	}()
	defer func() {
		b.Close() // the client's wait for the server's answer ends
		<-done
	}()
	b.SetDeadline(time.Now().Add(patience))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil || hdr[0] != 0x16 {
		tb.Fatalf("recording a ClientHello: header %x, %v", hdr, err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := io.ReadFull(b, rec[5:]); err != nil {
		tb.Fatalf("recording a ClientHello: %v", err)
	}
	return rec
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
