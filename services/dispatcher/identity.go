package dispatcher

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// Runner identities. A runner enrols once (a hello with enrol: true) and is
// issued an id and a 256-bit secret, of which the store keeps the SHA-256 only;
// every later hello presents them. A name belongs to the identity that enrolled
// (or last connected) with it until that identity is revoked, and a job's
// attempt is leased to an identity, not to a name: only that identity may
// report it.

// identities is the dispatcher's memory of the identities issued: all of them
// by id, and the live (not revoked) ones by the name they hold.
type identities struct {
	byID   map[string]*store.Identity
	byName map[string]*store.Identity
}

func newIdentities(all []store.Identity) identities {
	ids := identities{byID: make(map[string]*store.Identity, len(all)), byName: make(map[string]*store.Identity, len(all))}
	for i := range all {
		id := &all[i]
		ids.byID[id.ID] = id
		if id.RevokedAt.IsZero() {
			ids.byName[id.Name] = id
		}
	}
	return ids
}

// admitRunner checks a runner's protocol version and identity (enrolling it
// when it asks to), then registers it.
func (d *Dispatcher) admitRunner(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (*runner, error) {
	remote := c.RemoteAddr().String()
	if h.ProtocolVersion < wire.MinRunnerVersion {
		d.log.Warn("runner refused: protocol too old to have an identity", "name", h.Name, "version", h.ProtocolVersion, "remote", remote)
		return nil, wire.Errorf(wire.CodeVersionUnsupported,
			"runner speaks protocol version %d; this dispatcher admits runners of version %d or newer, which authenticate with an identity: upgrade the runner to a newer Eventide",
			h.ProtocolVersion, wire.MinRunnerVersion)
	}
	switch {
	case h.Enrol:
		issued, err := d.enrol(h.Name, remote)
		if err != nil {
			return nil, err
		}
		w.Identity, h.Identity, h.Enrol = issued, issued, false
	case h.Identity == nil:
		d.log.Warn("runner refused: no identity", "name", h.Name, "remote", remote)
		return nil, wire.Errorf(wire.CodeInvalidParams, "a runner's hello needs its identity, or enrol: true to be issued one")
	}
	return d.register(c, h, w)
}

// enrol issues a new identity for name, durably, and returns its credential;
// the name must not belong to another identity.
func (d *Dispatcher) enrol(name, remote string) (*wire.Identity, error) {
	var idb [8]byte
	var secret [32]byte
	rand.Read(idb[:])
	rand.Read(secret[:])
	cred := &wire.Identity{ID: hex.EncodeToString(idb[:]), Secret: hex.EncodeToString(secret[:])}
	id := &store.Identity{ID: cred.ID, Name: name, SecretSHA256: sha256.Sum256([]byte(cred.Secret)), EnrolledAt: time.Now()}

	d.mu.Lock()
	if owner := d.ids.byName[name]; owner != nil {
		d.mu.Unlock()
		d.log.Warn("enrolment refused: name taken", "name", name, "owner", owner.ID, "remote", remote)
		return nil, errNameTaken(name, owner)
	}
	if d.ids.byID[id.ID] != nil { // 64 random bits: never, but never silently
		d.mu.Unlock()
		return nil, wire.Errorf(wire.CodeInternal, "identity id collision; say hello again")
	}
	// Held in memory from now on, so that a second enrolment of the name waits
	// for nothing and is refused.
	d.ids.byID[id.ID], d.ids.byName[name] = id, id
	t := d.st.Apply(store.PutIdentity{Identity: *id})
	d.mu.Unlock()

	if err := d.waitSaved(d.ctx, t, "the new identity of runner "+name); err != nil {
		d.mu.Lock()
		delete(d.ids.byID, id.ID)
		if d.ids.byName[name] == id {
			delete(d.ids.byName, name)
		}
		d.mu.Unlock()
		return nil, err
	}
	d.log.Info("runner enrolled", "name", name, "identity", id.ID, "remote", remote)
	return cred, nil
}

func errNameTaken(name string, owner *store.Identity) error {
	return wire.Errorf(wire.CodeNameTaken,
		"runner name %q belongs to identity %s (enrolled %s): revoke the old identity first (runner.revoke, or the runners pane of the console), or choose another --name",
		name, owner.ID, owner.EnrolledAt.UTC().Format(time.RFC3339))
}

// authenticateLocked checks a runner hello's identity and its claim to the name
// it uses; a live identity may take a name nobody holds (its --name changed).
// It returns the identity and the name it held before this hello.
func (d *Dispatcher) authenticateLocked(h *wire.Hello, remote string) (*store.Identity, string, error) {
	cred := h.Identity
	id := d.ids.byID[cred.ID]
	sum := sha256.Sum256([]byte(cred.Secret))
	// The same comparison whether or not the id is known.
	want := [32]byte{}
	if id != nil {
		want = id.SecretSHA256
	}
	match := subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	switch {
	case id == nil || !match:
		d.log.Warn("runner refused: unknown identity or wrong secret", "name", h.Name, "identity", cred.ID, "remote", remote)
		return nil, "", wire.Errorf(wire.CodeRevoked,
			"identity %s is unknown to this dispatcher or its secret is wrong: ask its operator; to enrol anew, remove the runner's identity file", cred.ID)
	case !id.RevokedAt.IsZero():
		d.log.Warn("runner refused: identity revoked", "name", h.Name, "identity", cred.ID, "remote", remote)
		return nil, "", wire.Errorf(wire.CodeRevoked, "identity %s was revoked at %s", cred.ID, id.RevokedAt.UTC().Format(time.RFC3339))
	}
	if owner := d.ids.byName[h.Name]; owner != nil && owner != id {
		d.log.Warn("runner refused: name belongs to another identity", "name", h.Name, "identity", id.ID, "owner", owner.ID, "remote", remote)
		return nil, "", errNameTaken(h.Name, owner)
	}
	prev := id.Name
	if id.Name != h.Name { // a new name: the old one is given up
		d.log.Info("runner identity takes a new name", "identity", id.ID, "old", id.Name, "name", h.Name)
		if d.ids.byName[id.Name] == id {
			delete(d.ids.byName, id.Name)
		}
		id.Name = h.Name
		d.ids.byName[h.Name] = id
		d.st.Apply(store.PutIdentity{Identity: *id})
	}
	return id, prev, nil
}

// revoke ends an identity (named by id, or by the name it holds): its
// connection closes, its jobs are queued again and it is refused from then on.
func (d *Dispatcher) revoke(ctx context.Context, q wire.RevokeRunner, by string) (wire.Revoked, error) {
	d.mu.Lock()
	id := d.ids.byID[q.Identity]
	if q.Name != "" {
		id = d.ids.byName[q.Name]
	}
	if id == nil {
		d.mu.Unlock()
		what := "identity " + q.Identity
		if q.Name != "" {
			what = "runner name " + q.Name
		}
		return wire.Revoked{}, wire.Errorf(wire.CodeRefused, "%s: no such live identity", what)
	}
	if !id.RevokedAt.IsZero() {
		d.mu.Unlock()
		return wire.Revoked{}, wire.Errorf(wire.CodeRefused, "identity %s was already revoked at %s", id.ID, id.RevokedAt.UTC().Format(time.RFC3339))
	}
	id.RevokedAt = time.Now()
	if d.ids.byName[id.Name] == id {
		delete(d.ids.byName, id.Name)
	}
	reason := fmt.Sprintf("runner %s's identity %s was revoked", id.Name, id.ID)
	n := 0
	if r := d.runners[id.Name]; r != nil && r.identity == id.ID && !r.lost {
		r.lost, r.lastErr = true, fmt.Errorf("identity revoked")
		for _, j := range r.jobs {
			d.runnerLostLocked(j, reason)
			n++
		}
		clear(r.jobs)
		r.conn.Close()
		d.saveRunnerLocked(r, "identity revoked")
		d.emitRunnerLocked(r)
	}
	// Jobs it held before the dispatcher's restart and has not reported yet.
	for _, j := range d.orphans {
		if j.RunnerID == id.ID {
			d.orphanLostLocked(j, reason)
			n++
		}
	}
	t := d.st.Apply(store.PutIdentity{Identity: *id})
	d.kick()
	d.mu.Unlock()
	d.log.Warn("runner identity revoked", "identity", id.ID, "name", id.Name, "requeued", n, "by", by)
	if err := d.waitSaved(ctx, t, "the revocation of identity "+id.ID); err != nil {
		return wire.Revoked{}, err
	}
	return wire.Revoked{Identity: id.ID, Name: id.Name, Requeued: n}, nil
}
