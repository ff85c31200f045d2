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
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity is how long a generated certificate is valid. Clients that pin it do
// not look at its dates; the 10 years are for tools that do.
const Validity = 10 * 365 * 24 * time.Hour

// Files are the paths of the generated certificate and key in the data dir.
func Files(dir string) (cert, key string) {
	return filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
}

// LoadOrCreate returns the certificate kept in dir/tls (cert.pem, and key.pem
// readable by its owner alone), generating a self-signed ECDSA P-256 one on first
// use. It is kept, never replaced: clients pin its fingerprint. A pair that is
// there but unreadable is an error, not a reason to make a new one.
//
// The caller must hold dir against other processes (the dispatcher's data-dir
// lock): two that create at once would each log their own fingerprint.
func LoadOrCreate(dir string) (tls.Certificate, error) {
	certFile, keyFile := Files(dir)
	_, err := os.Stat(certFile)
	switch {
	case err == nil:
		return Load(certFile, keyFile)
	case !errors.Is(err, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	certPEM, keyPEM, err := generate(time.Now())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating a tls certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate: %w", err)
	}
	// The key first and the certificate last, each renamed into place whole: a
	// certificate on disk means a complete pair.
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return Load(certFile, keyFile)
}

// Load reads a certificate (with its chain) and its key from PEM files, as
// --tls-cert and --tls-key name them.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// generate makes a self-signed certificate for a server, valid from an hour
// before now (clocks differ) for Validity.
func generate(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	names := []string{"localhost"}
	if host != "" && host != "localhost" {
		names = append(names, host)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "eventide dispatcher " + host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFile writes b to name through a temporary file renamed into place, so
// that name is never seen half written.
func writeFile(name string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
