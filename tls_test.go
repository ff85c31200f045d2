package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
)

const testFP = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestTLSFlagChecks(t *testing.T) {
	repo := t.TempDir()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not PEM\n"), 0o644)
	for want, args := range map[string][]string{
		"--tls-cert and --tls-key":         {"--mode=dispatcher", "--tls-cert", "c.pem"},
		"give both":                        {"--mode=dispatcher", "--tls-key", "k.pem"},
		"want sha256:<64 hex digits>":      {"--mode=runner", "--tls-fingerprint", "0123abcd"},
		"64 hex digits":                    {"--mode=observer", repo, "--tls-fingerprint", "sha256:0123"},
		"not both":                         {"--mode=runner", "--tls-fingerprint", testFP, "--tls-ca", "system"},
		"no PEM certificate":               {"--mode=runner", "--tls-ca", ca},
		"nope.pem":                         {"notify", repo, "--tls-ca", "/nope.pem"},
		"are for a console with --connect": {"--tls-fingerprint", testFP},
		"are for a hosted dispatcher":      {"--connect", "10.0.0.5:8888", "--tls"},
		"(the certificate and its key)":    {"--mode=dispatcher", "--tls-cert", "c.pem", "--tls"},
	} {
		_, err := parseOpts(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want an error mentioning %q", args, err, want)
		}
	}
	for _, args := range [][]string{
		{"--mode=runner", "--tls-fingerprint", strings.ToUpper(testFP)},
		{"--mode=runner", "--tls-ca", "system"},
		{"--connect", "10.0.0.5:8888", "--tls-fingerprint", testFP},
		{"--mode=observer", repo, "--tls-fingerprint", testFP},
		{"notify", repo, "--tls-fingerprint", testFP},
	} {
		o, err := parseOpts(args)
		if err != nil || o.trust == nil {
			t.Errorf("parse(%q): %v, trust %v; want a TLS client", args, err, o.trust)
		}
	}
	o, err := parseOpts([]string{"--mode=runner"})
	if err != nil || o.trust != nil {
		t.Errorf("no TLS flag: %v, trust %v; want plaintext", err, o.trust)
	}
}

// TLS is on when asked, and by default beyond loopback, where --insecure alone
// keeps plaintext.
func TestServeTLSDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		tls  bool
	}{
		{[]string{}, false},
		{[]string{"--host", "127.0.0.1"}, false},
		{[]string{"--tls"}, true},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, true},
		{[]string{"--host", "0.0.0.0", "--token", "secret-token-0123"}, true},
		{[]string{"--host", "0.0.0.0", "--insecure"}, false},
		{[]string{"--host", "0.0.0.0", "--insecure", "--tls"}, true},
	} {
		o, err := parseOpts(append([]string{"--mode=dispatcher"}, tc.args...))
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if o.serveTLS() != tc.tls {
			t.Errorf("%q: TLS %v, want %v", tc.args, o.serveTLS(), tc.tls)
		}
	}
}

// The TLS settings come from the environment and the --config file like every
// other.
func TestTLSSettings(t *testing.T) {
	cfg := writeConfig(t, "tls-fingerprint: "+testFP+"\ntls: true\n")
	o, err := parse([]string{"--mode=runner", "--config", cfg}, envOf(nil))
	if err != nil || o.opts.TLSFingerprint != testFP || o.opts.trust == nil {
		t.Fatalf("runner from the file: %v, fingerprint %q", err, o.opts.TLSFingerprint)
	}
	o, err = parse([]string{"--mode=dispatcher", "--config", cfg}, envOf(map[string]string{"EVENTIDE_TLS_CERT": "/c.pem", "EVENTIDE_TLS_KEY": "/k.pem"}))
	if err != nil || !o.opts.TLS || o.opts.TLSCert != "/c.pem" || o.opts.TLSKey != "/k.pem" {
		t.Fatalf("dispatcher from the file and the environment: %v, %+v", err, o.opts.hostFlags)
	}
}

// A dispatcher with --tls names its certificate in its first log line, keeps it
// across a restart, and its own clients (the console's runners and observer)
// reach it pinned to it.
func TestDispatcherCertificate(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--mode=dispatcher", "--tls", "--port", "0", "--data-dir", filepath.Join(dir, "data"), "--results-dir", filepath.Join(dir, "results")}
	var fps []string
	for range 2 {
		o, err := parseOpts(args)
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		ld, err := openDispatcher(o, slog.New(slog.NewTextHandler(&logged, nil)))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(logged.String(), "\n")
		if !strings.Contains(first, "tls="+ld.fingerprint) || !strings.HasPrefix(ld.fingerprint, "sha256:") {
			t.Errorf("first log line %q does not carry tls=%s", first, ld.fingerprint)
		}
		served := make(chan error, 1)
		go func() { served <- ld.d.Serve(ld.l) }()
		cfg := localRunner(o, ld.l.Addr().String(), ld.fingerprint, 1, slog.New(slog.DiscardHandler))
		c, _, err := peer.Dial(context.Background(), cfg.Dispatcher, &wire.Hello{Role: wire.RoleObserver, Name: "pinned"}, peer.Options{TLS: cfg.TLS})
		if err != nil {
			t.Errorf("a local client pinned to the dispatcher: %v", err)
		} else {
			c.Close()
		}
		if err := ld.d.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-served
		ld.lock.Release()
		fps = append(fps, ld.fingerprint)
	}
	if fps[0] != fps[1] {
		t.Fatalf("fingerprint %s after a restart, %s before", fps[1], fps[0])
	}
	if cert, _ := tlsconf.Files(filepath.Join(dir, "data")); !exists(cert) {
		t.Fatalf("no certificate at %s", cert)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
