package store

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

func TestIdentitiesAreKeptAndRevoked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := Identity{ID: "00000000000000a1", Name: "r1", SecretSHA256: sha256.Sum256([]byte("s1")), EnrolledAt: base}
	b := Identity{ID: "00000000000000b2", Name: "r2", SecretSHA256: sha256.Sum256([]byte("s2")), EnrolledAt: base.Add(time.Second)}
	j := testJob("0000000000000001", wire.StateRunning, 1)
	j.Attempt, j.Runner, j.RunnerID = 1, "r1", a.ID
	applyOK(t, s, PutIdentity{Identity: a}, PutIdentity{Identity: b}, PutJob{Job: j})
	a.RevokedAt = base.Add(time.Minute)
	applyOK(t, s, PutIdentity{Identity: a})
	s.Close()

	s = openStore(t, dir, Options{})
	snap, err := s.Load(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Identities) != 2 {
		t.Fatalf("identities %+v", snap.Identities)
	}
	got := snap.Identities[0]
	if got.ID != a.ID || got.Name != "r1" || got.SecretSHA256 != a.SecretSHA256 || !got.EnrolledAt.Equal(base) || !got.RevokedAt.Equal(a.RevokedAt) {
		t.Fatalf("revoked identity read back as %+v", got)
	}
	if got := snap.Identities[1]; got.ID != b.ID || !got.RevokedAt.IsZero() {
		t.Fatalf("live identity read back as %+v", got)
	}
	if len(snap.Active) != 1 || snap.Active[0].RunnerID != a.ID {
		t.Fatalf("the job's lease: %+v", snap.Active)
	}
	// The name of a revoked identity may be enrolled again; a live one's may not.
	c := Identity{ID: "00000000000000c3", Name: "r1", SecretSHA256: sha256.Sum256([]byte("s3")), EnrolledAt: base}
	applyOK(t, s, PutIdentity{Identity: c})
	_, err = s.wdb.Exec(`INSERT INTO identities (id, name, secret_sha256, enrolled_at) VALUES ('00000000000000d4', 'r2', x'00', 1)`)
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("a second live identity named r2: %v", err)
	}
}
