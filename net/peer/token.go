package peer

import (
	"crypto/sha256"
	"crypto/subtle"
)

// TokenMatches reports whether got is the expected token; an empty expected token
// admits everyone. Both sides are hashed first so that the comparison takes the same
// time whatever their lengths.
func TokenMatches(want, got string) bool {
	if want == "" {
		return true
	}
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}
