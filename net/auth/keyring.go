package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync/atomic"
)

// Credential is what a token admits, as the dispatcher knows it after the
// handshake.
type Credential struct {
	// ID names the credential in logs and quotas without revealing the token:
	// OpenID without any token, SharedID for --token, else "cred-" and 12 hex
	// digits derived from the token with a key of this process (stable across
	// reloads, meaningless elsewhere).
	ID    string
	Roles Roles
}

// The ids of the two credentials that are not token-file lines.
const (
	OpenID   = "open"  // no token configured: every client, all roles
	SharedID = "token" // the --token, all roles
)

// Keyring is the set of tokens a dispatcher accepts: the shared --token and the
// lines of a --token-file, which LoadFile can replace while clients connect.
// Without either, it admits every client with all roles.
type Keyring struct {
	idKey  [32]byte
	shared *entry
	file   atomic.Pointer[[]entry]
}

type entry struct {
	hash [sha256.Size]byte
	cred Credential
	line int
}

// NewKeyring makes a keyring with the shared token (none when empty).
func NewKeyring(shared string) *Keyring {
	k := &Keyring{}
	rand.Read(k.idKey[:])
	if shared != "" {
		k.shared = &entry{hash: sha256.Sum256([]byte(shared)), cred: Credential{ID: SharedID, Roles: AllRoles}}
	}
	return k
}

// Open reports whether the keyring admits everyone: no token at all.
func (k *Keyring) Open() bool {
	return k.shared == nil && k.file.Load() == nil
}

// Lookup returns the credential of token. Every entry is compared, each in
// constant time on the token's hash, so that the time taken says nothing about
// which entry matched or how much of a token was right.
func (k *Keyring) Lookup(token string) (Credential, bool) {
	if k.Open() {
		return Credential{ID: OpenID, Roles: AllRoles}, true
	}
	h := sha256.Sum256([]byte(token))
	var got Credential
	found := 0
	match := func(e *entry) {
		eq := subtle.ConstantTimeCompare(e.hash[:], h[:])
		if eq&(found^1) == 1 {
			got = e.cred
		}
		found |= eq
	}
	if k.shared != nil {
		match(k.shared)
	}
	if es := k.file.Load(); es != nil {
		for i := range *es {
			match(&(*es)[i])
		}
	}
	return got, found == 1
}

// Known reports whether the credential id is still accepted.
func (k *Keyring) Known(id string) bool {
	switch id {
	case OpenID:
		return k.Open()
	case SharedID:
		return k.shared != nil
	}
	if es := k.file.Load(); es != nil {
		for _, e := range *es {
			if e.cred.ID == id {
				return true
			}
		}
	}
	return false
}

// idOf derives a credential's id from its token's hash.
func (k *Keyring) idOf(hash [sha256.Size]byte) string {
	m := hmac.New(sha256.New, k.idKey[:])
	m.Write(hash[:])
	return "cred-" + hex.EncodeToString(m.Sum(nil)[:6])
}
