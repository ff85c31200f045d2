// Package tlsconf is the one owner of Eventide's TLS: the dispatcher's
// certificate (generated and kept in the data dir, or the operator's), the
// fingerprint that names it, and the tls.Configs of both ends.
//
// A client trusts the dispatcher one of two ways: by pinning the SHA-256 of its
// certificate (the zero-configuration path: the dispatcher logs it at start), or
// by verifying its chain against a CA (a file, or the system's roots). TLS 1.3 is
// the minimum on both ends.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// FingerprintPrefix starts every fingerprint: it names the hash, so that another
// could follow without ambiguity.
const FingerprintPrefix = "sha256:"

// SystemRoots is the --tls-ca word for the system's root certificates.
const SystemRoots = "system"

// Fingerprint names a certificate: "sha256:" and the lowercase hex of the SHA-256
// of its DER encoding (the leaf's, for a chain).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return FingerprintPrefix + hex.EncodeToString(sum[:])
}

// CertFingerprint is the fingerprint of cert's leaf.
func CertFingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	return Fingerprint(cert.Certificate[0])
}

// ParseFingerprint checks a fingerprint as a person may paste it and returns it
// in the form Fingerprint gives: "sha256:" and 64 hex digits, in either case and
// optionally in colon-separated pairs (as openssl prints them).
func ParseFingerprint(s string) (string, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), FingerprintPrefix)
	if !ok {
		return "", fmt.Errorf("fingerprint %q: want sha256:<64 hex digits>, as the dispatcher's first log line shows it", s)
	}
	rest = strings.ReplaceAll(rest, ":", "")
	if b, err := hex.DecodeString(rest); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want sha256: and 64 hex digits (the SHA-256 of the certificate), got %d characters after the prefix", s, len(rest))
	}
	return FingerprintPrefix + rest, nil
}

// MismatchError is the handshake error of a client whose pinned fingerprint is
// not the certificate the server presented. It does not go away by retrying.
type MismatchError struct {
	Expected  string // the pinned fingerprint
	Presented string // the server's certificate's
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the dispatcher's certificate is %s, not the pinned --tls-fingerprint %s: someone may be in between; "+
		"if the dispatcher's certificate was replaced on purpose, pin the one its first log line shows", e.Presented, e.Expected)
}

// Server is the dispatcher's configuration: cert, TLS 1.3 at least, and no
// session tickets: clients keep one connection and never resume (a dispatcher's
// restart would void its tickets anyway), so each ticket would be work and bytes
// spent on every handshake for nothing.
func Server(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
	}
}

// ErrBothTrusts refuses a fingerprint and a CA together: the one would make the
// other pointless, and a reader of the settings could not tell which holds.
var ErrBothTrusts = errors.New("--tls-fingerprint and --tls-ca: give one of them, not both")

// Client is a client's configuration. With fingerprint (see ParseFingerprint)
// it accepts exactly the certificate that has it, whatever its names, issuer or
// dates (a pinned certificate is trusted as itself; the generated one is valid
// for 10 years anyway); with ca, a PEM file of CA certificates or SystemRoots,
// it verifies the chain and serverName (the host the client dials) as a browser
// would. With neither it returns nil: no TLS.
func Client(fingerprint, ca, serverName string) (*tls.Config, error) {
	switch {
	case fingerprint != "" && ca != "":
		return nil, ErrBothTrusts
	case fingerprint != "":
		want, err := ParseFingerprint(fingerprint)
		if err != nil {
			return nil, fmt.Errorf("--tls-fingerprint: %w", err)
		}
		return &tls.Config{
			MinVersion: tls.VersionTLS13,
			// The chain is not verified: the pin replaces it, checked below, in
			// VerifyConnection, which runs whatever InsecureSkipVerify says.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return &MismatchError{Expected: want, Presented: "no certificate"}
				}
				if got := Fingerprint(cs.PeerCertificates[0].Raw); got != want {
					return &MismatchError{Expected: want, Presented: got}
				}
				return nil
			},
		}, nil
	case ca != "":
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: serverName}
		if ca == SystemRoots {
			return cfg, nil // nil RootCAs: the system's
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", ca)
		}
		cfg.RootCAs = pool
		return cfg, nil
	}
	return nil, nil
}
