package dispatcher_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// A console's retry counts against its credential's queue quota, and is refused
// for a repository --allow-repo no longer allows (after a restart with it).
func TestRetryQuotaAndAllowedRepos(t *testing.T) {
	s := startDispatcher(t, serverOpts{maxQueued: 1})
	c := newClient(t, s, transports[0])
	subscribe(t, c)
	ctx := ctxT(t)
	a, b := s.submit(t, 1, "main"), s.submit(t, 2, "main")
	for _, id := range []string{a, b} {
		if err := c.Stop(ctx, id); err != nil {
			t.Fatalf("stop %s: %v", id, err)
		}
	}
	if _, err := c.Retry(ctx, a); err != nil {
		t.Fatalf("retry within the quota: %v", err)
	}
	_, err := c.Retry(ctx, b)
	wantCode(t, "retry past the quota", err, wire.CodeOverQuota)
	c.Close()
	s.shutdown(t)

	s = startDispatcher(t, serverOpts{dataDir: s.dataDir, allow: []string{"/other/*"}})
	c = newClient(t, s, transports[0])
	subscribe(t, c)
	if err := c.Stop(ctx, a); err != nil {
		t.Fatalf("stop %s after the restart: %v", a, err)
	}
	_, err = c.Retry(ctx, a)
	wantCode(t, "retry of a repository no longer allowed", err, wire.CodeRefused)
	var we *wire.Error
	if errors.As(err, &we) && !strings.Contains(we.Message, "repository not allowed: /r") {
		t.Errorf("message %q", we.Message)
	}
	// Still connected: a refusal, not a protocol violation.
	if _, err := c.Job(ctx, a); err != nil {
		t.Errorf("job.get after the refusal: %v", err)
	}
}
