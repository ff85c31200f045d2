package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

func TestIdentityFileIsPrivateAndRoundTrips(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runner", IdentityFile)
	if id, err := loadIdentity(path); id != nil || err != nil {
		t.Fatalf("no file: %v, %v; want nothing", id, err)
	}
	want := wire.Identity{ID: "0123456789abcdef", Secret: strings.Repeat("ab", 32)}
	if err := saveIdentity(path, identityRecord{Identity: want, Name: "r1"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %v; want 0600", err, fi.Mode())
	}
	got, err := loadIdentity(path)
	if err != nil || got == nil || *got != want {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".runner-identity-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	os.WriteFile(path, []byte(`{"id":"nope","secret":"x"}`), 0o600)
	if _, err := loadIdentity(path); err == nil || !strings.Contains(err.Error(), "remove it to enrol again") {
		t.Fatalf("a damaged file: %v", err)
	}
}
