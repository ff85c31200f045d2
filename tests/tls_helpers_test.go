package tests

// Helpers for the TLS end-to-end tests and for the measuring tools' TLS switch
// (EVENTIDE_TLS=1): a dispatcher started with --tls, and in-process clients that
// pin its certificate as --tls-fingerprint does. The pinning is written here from
// crypto/tls alone, not with net/tlsconf, so that the tests check the product's
// fingerprint and handshake against a reading of their own.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// fingerprintRE finds the fingerprint in the dispatcher's first log line.
var fingerprintRE = regexp.MustCompile(`\btls=(sha256:[0-9a-f]{64})\b`)

// certFingerprint is a certificate's fingerprint as Eventide shows it: "sha256:"
// and the lowercase hex SHA-256 of its DER.
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pinnedTLS is a client configuration that accepts exactly the certificate with
// fingerprint fp, over TLS 1.3.
func pinnedTLS(fp string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The pin replaces the chain check, as --tls-fingerprint does.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the dispatcher presented no certificate")
			}
			if got := certFingerprint(cs.PeerCertificates[0].Raw); got != fp {
				return fmt.Errorf("the dispatcher presented certificate %s, want %s", got, fp)
			}
			return nil
		},
	}
}

// startTLSDispatcher starts a dispatcher with --tls keeping its certificate in
// dataDir, and reads the fingerprint from its first log line.
func startTLSDispatcher(t testing.TB, port int, resultsDir, dataDir string, env []string, extra ...string) *dispatcher {
	t.Helper()
	d := startDispatcher(t, port, resultsDir, env, append([]string{"--tls", "--data-dir", dataDir}, extra...)...)
	d.fingerprint = firstLineFingerprint(t, d.proc)
	d.tls = pinnedTLS(d.fingerprint)
	return d
}

// firstLineFingerprint returns the tls=sha256:<hex> of p's first log line.
func firstLineFingerprint(t testing.TB, p *proc) string {
	t.Helper()
	p.mu.Lock()
	var first string
	if len(p.lines) > 0 {
		first = p.lines[0].text
	}
	p.mu.Unlock()
	m := fingerprintRE.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("%s: the first log line carries no tls=sha256:<64 hex digits>: %q", p.name, first)
	}
	return m[1]
}

// storedFingerprint is the fingerprint of the certificate a --tls dispatcher
// keeps in dataDir (tls/cert.pem), computed from the file.
func storedFingerprint(t testing.TB, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatalf("the generated certificate: %v", err)
	}
	cert, err := tls.X509KeyPair(b, readKey(t, dataDir))
	if err != nil {
		t.Fatalf("the generated certificate and key do not load as a pair: %v", err)
	}
	return certFingerprint(cert.Certificate[0])
}

func readKey(t testing.TB, dataDir string) []byte {
	t.Helper()
	path := filepath.Join(dataDir, "tls", "key.pem")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the generated key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialVia connects to d from the local address src (nil: any) and, when d speaks
// TLS, completes the TLS handshake within ctx.
func dialVia(ctx context.Context, d *dispatcher, src net.IP) (net.Conn, error) {
	var nd net.Dialer
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil || d.tls == nil {
		return nc, err
	}
	tc := tls.Client(nc, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", d.addr, err)
	}
	return tc, nil
}

// peerDial is peer.Dial from src over dialVia: TLS when d speaks it.
func peerDial(ctx context.Context, d *dispatcher, src net.IP, hello *wire.Hello) (*peer.Conn, *wire.Welcome, error) {
	nc, err := dialVia(ctx, d, src)
	if err != nil {
		return nil, nil, err
	}
	c, w, err := peer.Handshake(ctx, nc, hello, peer.Options{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, w, nil
}

// dialRawTo is dialRaw over TLS when d speaks it.
func dialRawTo(t testing.TB, d *dispatcher) *rawConn {
	t.Helper()
	if d.tls == nil {
		return dialRaw(t, d.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := dialVia(ctx, d, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", d.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

// tlsWanted reports whether a measuring tool was asked to speak TLS
// (EVENTIDE_TLS=1), and fails on any other value than 0, 1 or unset.
func tlsWanted(tb testing.TB) bool {
	tb.Helper()
	switch v := os.Getenv("EVENTIDE_TLS"); v {
	case "", "0":
		return false
	case "1":
		return true
	default:
		tb.Fatalf("EVENTIDE_TLS=%q: want 0 or 1", v)
		return false
	}
}

// transport names how the in-process clients reach d, for the measuring tools' logs.
func transport(d *dispatcher) string {
	if d.tls != nil {
		return "TLS"
	}
	return "plaintext"
}
