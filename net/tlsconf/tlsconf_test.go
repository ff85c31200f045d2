package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The generated certificate is an ECDSA P-256 one valid for 10 years, its key
// readable by its owner alone, and a second start (a restart) finds the same one.
func TestLoadOrCreateKeepsTheCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("no parsed leaf")
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(time.Now()); life < Validity-2*time.Hour || life > Validity {
		t.Fatalf("valid for another %v, want about %v", life, Validity)
	}
	st, err := os.Stat(filepath.Join(dir, "tls", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := CertFingerprint(cert), CertFingerprint(again); a != b {
		t.Fatalf("fingerprint after a restart %s, before %s: want the same", b, a)
	}
	if fp := CertFingerprint(cert); !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q: want sha256: and 64 lowercase hex digits", fp)
	}
}

// A pair that is there but broken is an error naming it, never silently
// replaced by a new certificate (clients pin the old one).
func TestLoadOrCreateRefusesABrokenPair(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "tls", "key.pem")
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreate(dir)
	if err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("err %v, want one naming %s", err, keyFile)
	}
}

func TestParseFingerprint(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, want string }{
		{"sha256:" + hex64, "sha256:" + hex64},
		{"SHA256:" + strings.ToUpper(hex64), "sha256:" + hex64},
		{"sha256:" + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), "sha256:" + hex64},
		{hex64, ""},                         // no prefix
		{"sha256:" + hex64[:62], ""},        // short
		{"sha256:" + hex64[:62] + "zz", ""}, // not hex
		{"md5:" + hex64, ""},
	} {
		got, err := ParseFingerprint(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), tc.in) {
			t.Errorf("error %q does not name the input", err)
		}
	}
}

func TestClientNeedsOneTrust(t *testing.T) {
	if cfg, err := Client("", "", "h"); cfg != nil || err != nil {
		t.Fatalf("neither: %v, %v; want no TLS", cfg, err)
	}
	if _, err := Client("sha256:"+strings.Repeat("0", 64), "system", "h"); !errors.Is(err, ErrBothTrusts) {
		t.Fatalf("both: %v, want ErrBothTrusts", err)
	}
	if _, err := Client("sha1:00", "", "h"); err == nil || !strings.Contains(err.Error(), "--tls-fingerprint") {
		t.Fatalf("bad fingerprint: %v, want an error naming --tls-fingerprint", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.pem")
	if _, err := Client("", missing, "h"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing CA file: %v, want an error naming it", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("no certificate here\n"), 0o644)
	if _, err := Client("", empty, "h"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}

// handshake runs a TLS handshake over real TCP between a server of cfgS and a
// client of cfgC, and returns the client's error and the server's.
func handshake(t *testing.T, cfgS, cfgC *tls.Config) (client, server error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srvErr := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		srvErr <- tls.Server(nc, cfgS).Handshake()
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(nc, cfgC)
	client = tc.Handshake()
	if client == nil {
		// In TLS 1.3 the server's verdict on the client comes after the
		// client's Finished: a read surfaces it.
		tc.Write([]byte{0})
	}
	tc.Close()
	return client, <-srvErr
}

func TestPinnedFingerprint(t *testing.T) {
	cert, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := Client(CertFingerprint(cert), "", "")
	if cerr, serr := handshake(t, Server(cert), pin); cerr != nil || serr != nil {
		t.Fatalf("pinned the right certificate: client %v, server %v", cerr, serr)
	}
	cerr, _ := handshake(t, Server(other), pin)
	var me *MismatchError
	if !errors.As(cerr, &me) || me.Expected != CertFingerprint(cert) || me.Presented != CertFingerprint(other) {
		t.Fatalf("pinned another certificate: %v, want a MismatchError with both fingerprints", cerr)
	}
	if msg := cerr.Error(); !strings.Contains(msg, me.Expected) || !strings.Contains(msg, me.Presented) {
		t.Fatalf("message %q names not both fingerprints", msg)
	}
}

// A pinned certificate is trusted as itself: its dates do not matter.
func TestPinIgnoresExpiry(t *testing.T) {
	certPEM, keyPEM, err := generate(time.Now().Add(-11 * 365 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := Client(CertFingerprint(cert), "", "")
	if cerr, serr := handshake(t, Server(cert), pin); cerr != nil || serr != nil {
		t.Fatalf("expired but pinned: client %v, server %v", cerr, serr)
	}
}

func TestCA(t *testing.T) {
	dir := t.TempDir()
	caFile, cert := testCA(t, dir)
	ca, err := Client("", caFile, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr := handshake(t, Server(cert), ca); cerr != nil || serr != nil {
		t.Fatalf("a certificate of the CA: client %v, server %v", cerr, serr)
	}
	wrongName, _ := Client("", caFile, "dispatcher.example")
	if cerr, _ := handshake(t, Server(cert), wrongName); cerr == nil {
		t.Fatal("a certificate for another name was accepted")
	}
	self, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if cerr, _ := handshake(t, Server(self), ca); !errors.As(cerr, &unknown) {
		t.Fatalf("a certificate the CA did not sign: %v, want an unknown authority", cerr)
	}
	system, err := Client("", SystemRoots, "127.0.0.1")
	if err != nil || system.RootCAs != nil {
		t.Fatalf("system: %v, roots %v; want the system's (nil)", err, system.RootCAs)
	}
	if cerr, _ := handshake(t, Server(self), system); !errors.As(cerr, &unknown) {
		t.Fatalf("a self-signed certificate against the system roots: %v, want an unknown authority", cerr)
	}
}

// The server speaks TLS 1.3 only: a client that offers at most 1.2 is refused.
func TestServerRefusesTLS12(t *testing.T) {
	cert, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !Server(cert).SessionTicketsDisabled {
		t.Error("the server issues session tickets, which no client uses")
	}
	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	cerr, serr := handshake(t, Server(cert), old)
	if cerr == nil || serr == nil || !strings.Contains(serr.Error(), "version") {
		t.Fatalf("TLS 1.2 client: client %v, server %v; want both to fail on the version", cerr, serr)
	}
}

// testCA writes a CA certificate to dir/ca.pem and returns it with a server
// certificate it signed for 127.0.0.1.
func testCA(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dispatcher"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
