package tui

import (
	"strings"
	"testing"
	"time"
)

// The header names the dispatcher's certificate whole, after the state of the
// connection, so that a warning is never pushed out by it.
func TestHeaderShowsTLS(t *testing.T) {
	st := newStyles(false)
	fp := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	h := header{address: "10.0.0.5:8888", hosted: true, tls: fp}
	now := time.Now()
	if top := h.top(160, &st, &connection{state: connUp}, now); !strings.Contains(top, "tls "+fp) {
		t.Fatalf("header %q does not show the fingerprint", top)
	}
	if top := h.top(60, &st, &connection{state: connConnecting}, now); !strings.Contains(top, "connecting") {
		t.Fatalf("narrow header %q lost the connection state", top)
	}
	h.tls = ""
	if top := h.top(160, &st, &connection{state: connUp}, now); strings.Contains(top, "tls") {
		t.Fatalf("plaintext header %q mentions tls", top)
	}
}
