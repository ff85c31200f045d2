package dispatcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/eventide-ci/eventide/services/store"

	"github.com/eventide-ci/eventide/net/wire"
)

// What the tests outside the package (package dispatcher_test) drive the
// dispatcher with besides the protocol.

// Submit queues a commit as an observer's commit.submit does, and returns once
// the job is stored.
func (d *Dispatcher) Submit(ctx context.Context, s *wire.Submit) (wire.Submitted, error) {
	got, t, err := d.submit(s, "")
	if err != nil {
		return got, err
	}
	return got, d.waitSaved(ctx, t, "job "+got.JobID)
}

// ListenAt is the address Serve recorded, "" before Serve has begun.
func (d *Dispatcher) ListenAt() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listenAt
}

// Stop is job.stop from a console.
func (d *Dispatcher) Stop(ctx context.Context, id string) error { return d.stop(ctx, id) }

// TestIdentity returns the identity of a test runner called name, issuing it
// (durably) the first time: its id and secret follow from the name, so that a
// dispatcher restarted on the same store knows it again.
func (d *Dispatcher) TestIdentity(name string) *wire.Identity {
	sum := sha256.Sum256([]byte("test identity " + name))
	secret := sha256.Sum256(sum[:])
	cred := &wire.Identity{ID: hex.EncodeToString(sum[:8]), Secret: hex.EncodeToString(secret[:])}
	d.mu.Lock()
	var t *store.Ticket
	if d.ids.byID[cred.ID] == nil {
		id := &store.Identity{ID: cred.ID, Name: name, SecretSHA256: sha256.Sum256([]byte(cred.Secret)), EnrolledAt: time.Now()}
		d.ids.byID[id.ID], d.ids.byName[name] = id, id
		t = d.st.Apply(store.PutIdentity{Identity: *id})
	}
	d.mu.Unlock()
	t.Wait(context.Background())
	return cred
}

// withIdentity gives a runner hello the test identity of its name, unless it
// has one or asks to enrol.
func withIdentity(d *Dispatcher, h *wire.Hello) *wire.Hello {
	if h.Role == wire.RoleRunner && h.Identity == nil && !h.Enrol {
		h.Identity = d.TestIdentity(h.Name)
	}
	return h
}
