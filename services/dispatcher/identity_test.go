package dispatcher

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// hello says hello on a fresh connection and returns the refusal, if any.
func hello(t *testing.T, d *Dispatcher, h *wire.Hello) (*wire.Welcome, error) {
	t.Helper()
	a, b := net.Pipe()
	go d.ServeConn(a)
	c, w, err := peer.Handshake(t.Context(), b, h, peer.Options{})
	if err != nil {
		b.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return w, nil
}

func isCode(err error, code int) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == code
}

func TestEnrolIssuesAnIdentityKeptAsAHash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newTestDispatcher(t, Config{DataDir: dir})
	w, err := hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Enrol: true})
	if err != nil {
		t.Fatal(err)
	}
	if w.Identity == nil || w.Identity.Validate() != nil {
		t.Fatalf("welcome identity %+v", w.Identity)
	}
	d.mu.Lock()
	id := d.ids.byID[w.Identity.ID]
	d.mu.Unlock()
	if id == nil || id.Name != "r1" || id.SecretSHA256 != sha256.Sum256([]byte(w.Identity.Secret)) {
		t.Fatalf("stored identity %+v", id)
	}
	// The name is now the identity's: enrolling it again is refused, naming it.
	_, err = hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Enrol: true})
	if !isCode(err, wire.CodeNameTaken) || !strings.Contains(err.Error(), w.Identity.ID) || !strings.Contains(err.Error(), "revoke the old identity first") {
		t.Fatalf("second enrolment of r1: %v", err)
	}
	// A dispatcher restarted on the same store knows the identity.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	d.Shutdown(ctx)
	d2 := newTestDispatcher(t, Config{DataDir: dir})
	if _, err := hello(t, d2, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Identity: w.Identity}); err != nil {
		t.Fatalf("identity after a restart: %v", err)
	}
	bad := *w.Identity
	bad.Secret = strings.Repeat("0", wire.IdentitySecretLen)
	if _, err := hello(t, d2, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Identity: &bad}); !isCode(err, wire.CodeRevoked) ||
		strings.Contains(err.Error(), w.Identity.Secret) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestRunnerOlderThanVersion8IsToldToUpgrade(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	_, err := hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "old", Slots: 1, ProtocolVersion: 7})
	if !isCode(err, wire.CodeVersionUnsupported) || !strings.Contains(err.Error(), "upgrade the runner") {
		t.Fatalf("version 7 runner: %v", err)
	}
	// Observers and consoles keep their older versions.
	if _, err := hello(t, d, &wire.Hello{Role: wire.RoleObserver, Name: "obs", ProtocolVersion: 6}); err != nil {
		t.Fatalf("version 6 observer: %v", err)
	}
	if _, err := hello(t, d, &wire.Hello{Role: wire.RoleConsole, Name: "con", ProtocolVersion: 4}); err != nil {
		t.Fatalf("version 4 console: %v", err)
	}
}

// An impostor saying hello under a live runner's name with another identity is
// refused; the live runner keeps its connection and job, and its verdict stands.
func TestTakeoverByNameIsRefused(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	other := d.TestIdentity("someone-else")
	_, err := hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Identity: other,
		Jobs: []wire.HeldJob{{Assign: a, Finished: true}}})
	if !isCode(err, wire.CodeNameTaken) {
		t.Fatalf("impostor: %v, want code %d", err, wire.CodeNameTaken)
	}
	if err := r.finish(t, a, wire.StatusFailed); err != nil {
		t.Fatalf("the real runner's result: %v", err)
	}
	if j, _ := d.findJob(a.JobID); j.State != wire.StatusFailed {
		t.Fatalf("verdict %s, want failed", j.State)
	}
}

// Another identity can neither report a job leased to someone else nor claim it
// in its hello; a recorded verdict is never overwritten.
func TestOnlyTheLeaseHolderReports(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r1, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r1.next(t)
	r2, w := connectRunner(t, d, "r2", 1, wire.HeldJob{Assign: a})
	if len(w.Cancel) != 1 || w.Cancel[0] != a.JobID {
		t.Fatalf("r2 claiming r1's job: cancel = %v", w.Cancel)
	}
	if err := r2.finish(t, a, wire.StatusPassed); !isCode(err, wire.CodeStaleAttempt) {
		t.Fatalf("r2's result for r1's job: %v", err)
	}
	if err := r1.finish(t, a, wire.StatusFailed); err != nil {
		t.Fatal(err)
	}
	// The holder sending another verdict for the same attempt changes nothing.
	if err := r1.finish(t, a, wire.StatusPassed); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if j, _ := d.findJob(a.JobID); j.State != wire.StatusFailed || j.Result.Status != wire.StatusFailed {
		t.Fatalf("verdict %s, want failed", j.State)
	}
}

func TestRevokeClosesRequeuesAndRefuses(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	r, _ := connectRunner(t, d, "r1", 1)
	cred := d.TestIdentity("r1")
	s, _ := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	r.next(t)
	got, err := d.revoke(t.Context(), wire.RevokeRunner{Name: "r1"}, "test")
	if err != nil || got.Identity != cred.ID || got.Requeued != 1 {
		t.Fatalf("revoke: %+v, %v", got, err)
	}
	<-r.done // its connection closed
	if j, _ := d.findJob(s.JobID); j.State != wire.StateQueued {
		t.Fatalf("job %s after revocation, want queued", j.State)
	}
	_, err = hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Identity: cred})
	if !isCode(err, wire.CodeRevoked) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked identity: %v", err)
	}
	if _, err := d.revoke(t.Context(), wire.RevokeRunner{Identity: cred.ID}, "test"); !isCode(err, wire.CodeRefused) {
		t.Fatalf("second revocation: %v", err)
	}
	// The name is free again.
	if _, err := hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Enrol: true}); err != nil {
		t.Fatalf("enrolling r1 anew: %v", err)
	}
}

// An identity that takes a new name gives up the old one, and its connection
// under the old name is the one it replaces; whoever enrols the old name then
// cannot claim what the renamed identity was leased.
func TestRenamedIdentityKeepsItsLeases(t *testing.T) {
	t.Parallel()
	d := newTestDispatcher(t, Config{})
	cred := d.TestIdentity("r1")
	r, _ := connectRunner(t, d, "r1", 1)
	d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	a := r.next(t)
	r2, w := connectRunnerHello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1-renamed", Slots: 1, Identity: cred,
		Jobs: []wire.HeldJob{{Assign: a}}})
	if len(w.Cancel) != 0 {
		t.Fatalf("renamed runner's job cancelled: %v", w.Cancel)
	}
	<-r.done // the connection under the old name was replaced
	w2, err := hello(t, d, &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1, Enrol: true, Jobs: []wire.HeldJob{{Assign: a}}})
	if err != nil || len(w2.Cancel) != 1 {
		t.Fatalf("new r1 claiming the renamed runner's job: %+v, %v", w2, err)
	}
	if err := r2.finish(t, a, wire.StatusFailed); err != nil {
		t.Fatalf("renamed runner's result: %v", err)
	}
}
