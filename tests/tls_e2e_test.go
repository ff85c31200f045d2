package tests

// TLS on every connection (protocol version 10), through the real binary: a
// dispatcher with a generated certificate, clients that pin its fingerprint, every
// mismatch and what it says, and a recording proxy showing that nothing crosses
// the wire in clear.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// codeTLSRequired is what a TLS dispatcher tells a plaintext client.
const codeTLSRequired = -32011

// A full job over TLS: the runner and the observer pin the fingerprint of the
// dispatcher's first log line; the runner is killed and started again on its data
// dir, and a second job passes.
func TestTLSJobPinnedRunner(t *testing.T) {
	t.Parallel()
	repo, c1 := newRepo(t, 0)
	dataDir := filepath.Join(t.TempDir(), "data")
	resDir := filepath.Join(t.TempDir(), "results")
	d := startTLSDispatcher(t, 0, resDir, dataDir, nil)
	if got := storedFingerprint(t, dataDir); got != d.fingerprint {
		t.Fatalf("the first log line shows %s, the certificate in the data dir is %s", d.fingerprint, got)
	}
	pin := []string{"--tls-fingerprint", d.fingerprint}
	runnerDir := t.TempDir()
	r := startRunner(t, d.addr, runnerDir, "tls-runner", nil, pin...)
	d.waitLog(patience, "runner registered", "runner=tls-runner")
	startObserver(t, d.addr, t.TempDir(), repo.dir, nil, pin...)
	res := waitResult(t, resDir, c1, patience)
	checkOutcome(t, res, "failed", 1, 1)
	checkFailing(t, res)

	r.kill()
	r.wait(patience)
	startRunner(t, d.addr, runnerDir, "tls-runner", nil, pin...)
	waitFor(t, patience, func() bool { return d.count("runner registered", "runner=tls-runner") == 2 },
		"the restarted runner to register again")
	c2 := repo.commit("second: every test passes", map[string]string{"tests/test_sample.py": sampleTest(0, true, "second")})
	res = waitResult(t, resDir, c2, patience)
	checkOutcome(t, res, "passed", 2, 0)
	if got := res.get("Runner"); got != "tls-runner" {
		t.Errorf("Runner = %q, want tls-runner", got)
	}
}

// The certificate is generated once and kept: a dispatcher started again on the
// same data dir shows the same fingerprint, and a runner pinned to it reconnects.
// The certificate presented is ECDSA P-256, valid 10 years.
func TestTLSFingerprintKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	resDir := filepath.Join(t.TempDir(), "results")
	d1 := startTLSDispatcher(t, 0, resDir, dataDir, nil)
	certPath := filepath.Join(dataDir, "tls", "cert.pem")
	before, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	checkPresented(t, d1)
	r := startRunner(t, d1.addr, t.TempDir(), "tls-keep", nil, "--tls-fingerprint", d1.fingerprint)
	d1.waitLog(patience, "runner registered", "runner=tls-keep")
	// The dispatcher registers a runner before its welcome (with the new
	// identity) is written: killed in between, the runner never learns the
	// identity its name now belongs to (README, what does not work yet).
	r.waitLog(patience, "enrolled with the dispatcher")

	d1.kill()
	d1.wait(patience)
	d2 := startTLSDispatcher(t, d1.port, resDir, dataDir, nil)
	if d2.fingerprint != d1.fingerprint {
		t.Fatalf("fingerprint after a restart on the same data dir: %s, was %s", d2.fingerprint, d1.fingerprint)
	}
	if after, err := os.ReadFile(certPath); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the certificate file changed across the restart (%v)", err)
	}
	checkPresented(t, d2)
	d2.waitLog(patience, "runner registered", "runner=tls-keep")
}

// checkPresented handshakes with d (pinning its fingerprint) and checks the
// certificate it presents: the generated kind, TLS 1.3.
func checkPresented(t *testing.T, d *dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := dialVia(ctx, d, nil)
	if err != nil {
		t.Fatalf("a client pinning %s: %v", d.fingerprint, err)
	}
	defer nc.Close()
	cs := nc.(*tls.Conn).ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	cert := cs.PeerCertificates[0]
	if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("certificate key %T, want ECDSA P-256", cert.PublicKey)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("certificate valid %v (%v to %v), want 10 years", life, cert.NotBefore, cert.NotAfter)
	}
}

// Each way a client can get TLS wrong against a TLS dispatcher, and what it is told.
func TestTLSMismatches(t *testing.T) {
	t.Parallel()
	d := startTLSDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), filepath.Join(t.TempDir(), "data"), nil)

	t.Run("plaintext runner", func(t *testing.T) {
		r := startRunner(t, d.addr, t.TempDir(), "plain-runner", nil)
		l := r.waitLog(patience, "--tls-fingerprint")
		if !strings.Contains(l.text, "TLS") || !strings.Contains(l.text, "--tls-ca") {
			t.Errorf("the plaintext runner's error does not say TLS is required and which flags to pass: %s", l.text)
		}
		if code := r.wait(patience); code != 2 {
			t.Errorf("the plaintext runner exited %d, want 2: retrying cannot mend it", code)
		}
	})

	t.Run("plaintext hello gets one JSON line", func(t *testing.T) {
		nc, err := net.DialTimeout("tcp", d.addr, patience)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(patience))
		if _, err := io.WriteString(nc, `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"role":"observer","protocol_version":10,"name":"plain"}}`+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(nc) // up to the dispatcher's close
		if err != nil && !isReset(err) {
			t.Fatalf("reading the answer: %v (got %q)", err, got)
		}
		if bytes.Count(got, []byte("\n")) != 1 || !bytes.HasSuffix(got, []byte("\n")) {
			t.Fatalf("want exactly one line, then the connection closed; got %q", got)
		}
		var f frame
		if err := json.Unmarshal(got, &f); err != nil || f.JSONRPC != "2.0" || f.Error == nil {
			t.Fatalf("want a JSON-RPC error, got %q (%v)", got, err)
		}
		if f.Error.Code != codeTLSRequired || !strings.Contains(f.Error.Message, "TLS") ||
			!strings.Contains(f.Error.Message, "--tls-fingerprint") || !strings.Contains(f.Error.Message, "--tls-ca") {
			t.Errorf("want code %d saying TLS is required and naming --tls-fingerprint and --tls-ca, got %d %q",
				codeTLSRequired, f.Error.Code, f.Error.Message)
		}
	})

	t.Run("wrong fingerprint", func(t *testing.T) {
		wrong := "sha256:" + strings.Repeat("0f", 32)
		r := startRunner(t, d.addr, t.TempDir(), "wrong-pin", nil, "--tls-fingerprint", wrong)
		if code := r.wait(patience); code != 2 {
			t.Fatalf("a runner pinning another certificate exited %d, want 2:\n%s", code, r.output())
		}
		if out := r.output(); !strings.Contains(out, wrong) || !strings.Contains(out, d.fingerprint) {
			t.Errorf("the runner's message does not name both the expected %s and the presented %s:\n%s", wrong, d.fingerprint, out)
		}
	})

	t.Run("TLS 1.2 refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err == nil {
			t.Fatalf("a TLS 1.2 client completed its handshake (%s)", tls.VersionName(tc.ConnectionState().Version))
		} else if ctx.Err() != nil {
			t.Fatalf("the TLS 1.2 handshake was not refused, it hung: %v", err)
		} else {
			t.Logf("TLS 1.2 client: %v", err)
		}
		// The same client allowed TLS 1.3 gets through.
		checkPresented(t, d)
	})
}

// isReset reports a connection reset by the peer: what a read gets when the
// dispatcher closes with our bytes unread.
func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && strings.Contains(err.Error(), "connection reset")
}

// A runner pinning a certificate, against a dispatcher without --tls: a clear
// error on the runner's side, and a note in the dispatcher's log.
func TestTLSClientToPlaintextDispatcher(t *testing.T) {
	t.Parallel()
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	r := startRunner(t, d.addr, t.TempDir(), "tls-to-plain", nil, "--tls-fingerprint", "sha256:"+strings.Repeat("ab", 32))
	l := r.waitLog(patience, "TLS", "--tls-fingerprint")
	if code := r.wait(patience); code != 2 {
		t.Errorf("the TLS runner exited %d, want 2: retrying cannot mend it", code)
	}
	t.Logf("the runner says: %s", l.text)
	if d.count("runner registered") != 0 {
		t.Fatalf("a TLS runner was registered by a plaintext dispatcher:\n%s", d.output())
	}
	d.waitLog(patience, "TLS", "--tls")

	// A Go TLS client is refused at once, not left waiting.
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := tls.Client(nc, pinnedTLS("sha256:"+strings.Repeat("ab", 32))).HandshakeContext(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("TLS handshake with a plaintext dispatcher: %v (context: %v), want refused at once", err, ctx.Err())
	}
}

// Bad TLS flags are refused before anything connects.
func TestTLSFlagsChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--tls-fingerprint", "sha256:xyz"}, []string{"--tls-fingerprint"}},
		{[]string{"--tls-fingerprint", "sha256:" + strings.Repeat("ab", 32), "--tls-ca", "system"}, []string{"--tls-fingerprint", "--tls-ca"}},
	} {
		args := append([]string{"--mode=runner", "--dispatcher-server", "127.0.0.1:1", "--data-dir", dir, "--name", "flags"}, c.args...)
		out, code := runBinary(t, patience, args...)
		line := oneLine(t, out)
		if code != 2 || !containsAll(line, c.want) {
			t.Errorf("%v: exit %d, want 2 naming %q: %s", c.args, code, c.want, line)
		}
	}
}

// A dispatcher on a non-loopback address speaks TLS without being asked, with a
// generated certificate; --insecure makes it plaintext.
func TestTLSByDefaultOffLoopback(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP()
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address to listen on")
	}
	token := tokenFor("off-loopback")
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil,
		"--host", ip.String(), "--token", token, "--data-dir", dataDir)
	d.fingerprint = firstLineFingerprint(t, d.proc)
	d.tls = pinnedTLS(d.fingerprint)
	if got := storedFingerprint(t, dataDir); got != d.fingerprint {
		t.Errorf("fingerprint %s, the certificate generated in the data dir is %s", d.fingerprint, got)
	}
	rc := dialRaw(t, d.addr)
	f := rc.hello(map[string]any{"role": "observer", "protocol_version": 10, "name": "plain", "token": token})
	if f.Error == nil || f.Error.Code != codeTLSRequired {
		b, _ := json.Marshal(f)
		t.Fatalf("a plaintext hello off loopback: want %d, got %s", codeTLSRequired, b)
	}
	dialRawTo(t, d).observerHello(token)

	// --insecure: plaintext, and says so by having no fingerprint.
	d.kill()
	plain := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil,
		"--host", ip.String(), "--insecure", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if l, ok := plain.find("tls=sha256:"); ok {
		t.Errorf("an --insecure dispatcher shows a fingerprint: %s", l.text)
	}
	dialRaw(t, plain.addr).observerHello("")
}

// nonLoopbackIP is an IPv4 address of this machine, not loopback or link-local,
// that a test can listen on; nil when there is none.
func nonLoopbackIP() net.IP {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
				continue
			}
			l, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0"))
			if err != nil {
				continue
			}
			l.Close()
			return n.IP
		}
	}
	return nil
}

// Through a proxy that records every byte between a runner (and an observer) and
// a TLS dispatcher: neither the token, nor the runner's identity secret (sent by
// the dispatcher at enrolment, by the runner at its next hello), nor any frame,
// nor the test's output crosses in clear.
func TestTLSWireHidesSecrets(t *testing.T) {
	t.Parallel()
	const canary = "eventide-wire-canary-7f3a9c"
	kit, _ := newRepo(t, 0)
	c1 := kit.commit("print a canary", map[string]string{"tests/test_sample.py": `import unittest


class Canary(unittest.TestCase):
    def test_canary(self):
        print("` + canary + `")
`})
	token := tokenFor("wire")
	resDir := filepath.Join(t.TempDir(), "results")
	d := startTLSDispatcher(t, 0, resDir, filepath.Join(t.TempDir(), "data"), nil, "--token", token)
	px := startRecordingProxy(t, d.addr)
	flags := []string{"--token", token, "--tls-fingerprint", d.fingerprint}

	runnerDir := t.TempDir()
	r := startRunner(t, px.addr, runnerDir, "wire", nil, flags...)
	d.waitLog(patience, "runner registered", "runner=wire")
	r.waitLog(patience, "enrolled with the dispatcher") // the identity file is written
	b, err := os.ReadFile(filepath.Join(runnerDir, "runner", "runner-identity.json"))
	if err != nil {
		t.Fatalf("the runner's identity after enrolment: %v", err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil || len(id.Secret) != 64 {
		t.Fatalf("the runner's identity file %s: %v", b, err)
	}
	// Started again, the runner sends its secret in its hello.
	r.kill()
	r.wait(patience)
	startRunner(t, px.addr, runnerDir, "wire", nil, flags...)
	waitFor(t, patience, func() bool { return d.count("runner registered", "runner=wire") == 2 }, "the runner to reconnect")
	startObserver(t, px.addr, t.TempDir(), kit.dir, nil, flags...)
	res := waitResult(t, resDir, c1, patience)
	if !strings.Contains(res.output, canary) {
		t.Fatalf("the job's output lacks the canary, so the test proves nothing:\n%s", res.raw)
	}

	sessions := px.stop()
	if len(sessions) < 3 {
		t.Fatalf("the proxy saw %d connections, want at least 3 (the runner twice, the observer)", len(sessions))
	}
	for i, s := range sessions {
		if len(s.up) == 0 || s.up[0] != 0x16 {
			t.Errorf("connection %d did not start with a TLS handshake record: %q", i, s.up[:min(len(s.up), 16)])
		}
		for _, secret := range []struct{ what, text string }{
			{"the token", token}, {"the runner's secret", id.Secret}, {"a frame", `"jsonrpc"`},
			{"a hello", `"hello"`}, {"the test's output", canary}, {"the repository's path", kit.dir},
		} {
			for dir, rec := range map[string][]byte{"client → dispatcher": s.up, "dispatcher → client": s.down} {
				if bytes.Contains(rec, []byte(secret.text)) {
					t.Errorf("connection %d, %s: %s crossed the wire in clear", i, dir, secret.what)
				}
			}
		}
	}
}

// recordingProxy forwards TCP connections to a target and keeps every byte of
// each, in both directions.
type recordingProxy struct {
	t      testing.TB
	addr   string
	target string
	l      net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions []*recorded
	conns    []net.Conn
	closed   bool
}

// recorded is one proxied connection's bytes as they arrive.
type recorded struct {
	mu sync.Mutex
	wireRecord
}

// wireRecord is one proxied connection's bytes: up from the client, down from
// the target.
type wireRecord struct{ up, down []byte }

func startRecordingProxy(t testing.TB, target string) *recordingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{t: t, addr: l.Addr().String(), target: target, l: l}
	p.wg.Go(p.accept)
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *recordingProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, patience)
		if err != nil {
			c.Close()
			continue
		}
		s := &recorded{}
		p.mu.Lock()
		if p.closed { // stop ran between Accept and here
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.sessions = append(p.sessions, s)
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c, s, &s.up) })
		p.wg.Go(func() { p.pipe(c, up, s, &s.down) })
	}
}

// pipe copies src to dst, recording into rec; when either side ends it closes both.
func (p *recordingProxy) pipe(dst, src net.Conn, s *recorded, rec *[]byte) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			s.mu.Lock()
			*rec = append(*rec, buf[:n]...)
			s.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stop closes the listener and every connection, waits for the copies, and
// returns what was recorded.
func (p *recordingProxy) stop() []wireRecord {
	p.l.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]wireRecord, len(p.sessions))
	for i, s := range p.sessions {
		s.mu.Lock()
		out[i] = s.wireRecord
		s.mu.Unlock()
	}
	return out
}
