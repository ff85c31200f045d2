package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/tlsconf"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/repoallow"
	"github.com/eventide-ci/eventide/services/testrun"
)

// check catches what the user can fix before anything starts, and fills in what
// follows from the rest: the repository from the argument, the default name.
func (o *options) check() error {
	positional := o.Args
	if len(positional) > 1 && o.mode != "notify" {
		return fmt.Errorf("one repository at most, got %q", positional)
	}
	if len(positional) >= 1 {
		if o.Repo != "" {
			return fmt.Errorf("give the repository once: --repo %s or %s", o.Repo, positional[0])
		}
		o.Repo, o.refs = positional[0], positional[1:]
	}
	switch o.mode {
	case "runner", "observer", "notify":
		host, err := splitAddr(o.DispatcherServer)
		if err != nil {
			return fmt.Errorf("--dispatcher-server: %w", err)
		}
		if err := o.trustFlags.check(host); err != nil {
			return err
		}
	case "dispatcher", "": // the console hosts one
		if err := o.hostFlags.check(); err != nil {
			return err
		}
		if o.mode == "dispatcher" || o.Connect == "" {
			if err := o.checkExposure(); err != nil {
				return err
			}
		}
	}
	if o.mode == "" {
		if err := o.consoleFlags.check(o.Repo); err != nil {
			return err
		}
		if err := o.checkConsoleTLS(); err != nil {
			return err
		}
		if o.Repo != "" && o.Runners == 0 {
			o.Runners = 2
		}
	}
	if o.mode == "observer" && o.Repo == "" {
		return errors.New("--mode=observer needs the repository to watch: eventide --mode=observer REPO")
	}
	if o.mode == "notify" && o.Repo == "" {
		return errors.New("notify needs the repository: eventide notify REPO [BRANCH...]")
	}
	if o.Repo != "" && !strings.Contains(o.Repo, "://") && !strings.Contains(o.Repo, "@") {
		abs, err := filepath.Abs(o.Repo)
		if err != nil {
			return fmt.Errorf("repository %s: %w", o.Repo, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("repository %s does not exist", o.Repo)
		}
		o.Repo = abs
	}
	if o.Name == "" {
		o.Name = defaultName()
	}
	if err := wire.CheckName(o.Name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if o.Labels != "" {
		if err := wire.CheckLabels(strings.Split(o.Labels, ",")); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	if o.DispatcherTimeout < 0 {
		return fmt.Errorf("--dispatcher-timeout %v: want 0 (wait for ever) or more", o.DispatcherTimeout)
	}
	if _, err := testrun.ParseMode(o.Containment); err != nil {
		return fmt.Errorf("--containment: %w", err)
	}
	if o.Slots < 1 || o.Slots > wire.MaxSlots {
		return fmt.Errorf("--slots %d: want 1-%d", o.Slots, wire.MaxSlots)
	}
	return nil
}

func (h *hostFlags) check() error {
	if h.Port < 0 || h.Port > 65535 {
		return fmt.Errorf("--port %d: want 0-65535", h.Port)
	}
	if h.Heartbeat < 10*time.Millisecond || h.Heartbeat > 10*time.Minute {
		return fmt.Errorf("--heartbeat %v: want 10ms to 10m", h.Heartbeat)
	}
	if h.MaxAttempts < 1 {
		return fmt.Errorf("--max-attempts %d: want at least 1", h.MaxAttempts)
	}
	if h.LogRetention < 0 {
		return fmt.Errorf("--log-retention %v: want 0 (keep) or more", h.LogRetention)
	}
	if h.MaxLogBytes < 64<<10 {
		return fmt.Errorf("--max-log-bytes %d: want at least 65536", h.MaxLogBytes)
	}
	if h.MaxHandshakes < 1 || h.MaxHandshakesPerSource < 1 || h.MaxHandshakesPerSource > h.MaxHandshakes {
		return fmt.Errorf("--max-handshakes %d, --max-handshakes-per-source %d: want at least 1 each, per source at most the total",
			h.MaxHandshakes, h.MaxHandshakesPerSource)
	}
	if (h.TLSCert == "") != (h.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key: give both (the certificate and its key) or neither")
	}
	if h.MaxQueuedPerClient < 1 {
		return fmt.Errorf("--max-queued-per-client %d: want at least 1", h.MaxQueuedPerClient)
	}
	allow, err := repoallow.New(h.AllowRepo)
	if err != nil {
		return err
	}
	h.allowRepos = allow
	return nil
}

// checkExposure refuses to serve beyond this machine without a token (--token or
// --token-file), unless --insecure says so: with no token, enrolment (and
// everything else) is open to whoever can reach the port.
func (o *options) checkExposure() error {
	if o.Token != "" || o.TokenFile != "" || o.Insecure || loopbackHost(o.Host) {
		return nil
	}
	return fmt.Errorf("--host %q is not a loopback address and no --token or --token-file is set: anyone who can reach the port could enrol runners "+
		"and submit jobs; give --token SECRET (runners and observers then need it too) or --token-file FILE, or --insecure to serve without one", o.Host)
}

// serveTLS says whether the dispatcher serves TLS: when asked to, and by
// default beyond loopback, where only --insecure keeps it plaintext.
func (h *hostFlags) serveTLS() bool {
	return h.TLS || h.TLSCert != "" || !h.Insecure && !loopbackHost(h.Host)
}

// check builds the client's TLS configuration (none without either flag),
// refusing a malformed fingerprint, both flags at once, or a CA file that is
// not one. host is the dispatcher's, the name a CA's certificate must carry.
func (t *trustFlags) check(host string) error {
	cfg, err := tlsconf.Client(t.TLSFingerprint, t.TLSCA, host)
	if err != nil {
		return err
	}
	t.trust = cfg
	return nil
}

// describe is how the console's header names the trust: the pinned
// fingerprint, or the CA.
func (t *trustFlags) describe() string {
	switch {
	case t.TLSFingerprint != "":
		fp, _ := tlsconf.ParseFingerprint(t.TLSFingerprint) // checked
		return fp
	case t.TLSCA != "":
		return "verified against " + t.TLSCA
	}
	return ""
}

// checkConsoleTLS gives each TLS flag of the console its side: --tls-fingerprint
// and --tls-ca are for reaching a dispatcher (--connect), --tls and --tls-cert
// for hosting one, whose own runners and observer trust it without flags.
func (o *options) checkConsoleTLS() error {
	if o.Connect == "" {
		if o.TLSFingerprint != "" || o.TLSCA != "" {
			return errors.New("--tls-fingerprint and --tls-ca are for a console with --connect: the console's own runners and observer trust the dispatcher it hosts without them")
		}
		return nil
	}
	if o.TLS || o.TLSCert != "" {
		return errors.New("--tls and --tls-cert are for a hosted dispatcher: to reach one over TLS with --connect, give --tls-fingerprint or --tls-ca")
	}
	host, _ := splitAddr(o.Connect) // checked by consoleFlags.check
	return o.trustFlags.check(host)
}

// loopbackHost reports whether host names this machine only: "localhost" or a
// loopback IP. Any other name may resolve beyond it.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (c *consoleFlags) check(repo string) error {
	if c.Connect != "" {
		if _, err := splitAddr(c.Connect); err != nil {
			return fmt.Errorf("--connect: %w", err)
		}
		if repo != "" || c.Demo || c.Runners != 0 {
			return errors.New("--connect attaches to a remote dispatcher: --repo, --demo and --runners are for a hosted one")
		}
	}
	if c.Demo && repo != "" {
		return errors.New("--demo makes its own repository: drop --repo")
	}
	if c.Runners < 0 || c.Runners > 64 {
		return fmt.Errorf("--runners %d: want 0-64", c.Runners)
	}
	return nil
}

// defaultName is HOST-PID, with the host name reduced to what a name may hold.
func defaultName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, host)
	if host = strings.Trim(host, ".-"); host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// splitAddr checks a HOST:PORT address.
func splitAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not HOST:PORT: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return host, nil
}
