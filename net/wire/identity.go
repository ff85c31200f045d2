package wire

import (
	"errors"
	"fmt"
	"regexp"
)

// MinRunnerVersion is the oldest protocol version a runner may speak (observers
// and consoles keep MinProtocolVersion): a runner older than version 8 has no
// identity, and admitting it by its name alone would let any client take over a
// runner's jobs.
const MinRunnerVersion = 8

// Identity is a runner's credential (since version 8): an id and a secret the
// dispatcher issued once, on enrolment. The dispatcher keeps only the secret's
// SHA-256. In a hello it proves who the runner is; in a welcome it is the new
// identity of a runner that asked to enrol.
type Identity struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// IdentitySecretLen is the length of a secret: 32 random bytes in lowercase hex.
const IdentitySecretLen = 64

var (
	identityIDRE     = regexp.MustCompile(`^[0-9a-f]{16}$`)
	identitySecretRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidIdentityID reports whether s has the form of an identity id (16 lowercase
// hex characters).
func ValidIdentityID(s string) bool { return identityIDRE.MatchString(s) }

// Validate checks an identity's form; whether the dispatcher knows it is the
// dispatcher's to say. The secret is never quoted in an error.
func (i *Identity) Validate() error {
	if !ValidIdentityID(i.ID) {
		return fmt.Errorf("identity id %q: want 16 lowercase hex characters", clip(i.ID))
	}
	if !identitySecretRE.MatchString(i.Secret) {
		return errors.New("identity secret: want 64 lowercase hex characters")
	}
	return nil
}

// checkIdentity validates a runner hello's identity fields.
func (h *Hello) checkIdentity() error {
	if h.Role != RoleRunner {
		if h.Identity != nil || h.Enrol {
			return fmt.Errorf("identity and enrol are for runners, not a %s", h.Role)
		}
		return nil
	}
	if h.Identity != nil && h.Enrol {
		return errors.New("a hello has an identity or asks to enrol, not both")
	}
	if h.Identity != nil {
		return h.Identity.Validate()
	}
	return nil
}

// RevokeRunner names the identity to revoke (params of MethodRunnerRevoke): by
// its id, or by the name it holds. Exactly one is set.
type RevokeRunner struct {
	Identity string `json:"identity,omitempty"`
	Name     string `json:"name,omitempty"`
}

// Validate checks a revocation.
func (r *RevokeRunner) Validate() error {
	switch {
	case r.Identity != "" && r.Name != "":
		return errors.New("give identity or name, not both")
	case r.Identity != "":
		if !ValidIdentityID(r.Identity) {
			return fmt.Errorf("identity %q: want 16 lowercase hex characters", clip(r.Identity))
		}
		return nil
	case r.Name != "":
		return CheckName(r.Name)
	}
	return errors.New("give the identity or the name of the runner to revoke")
}

// Revoked is the reply to runner.revoke.
type Revoked struct {
	Identity string `json:"identity"`
	Name     string `json:"name"`
	// Requeued counts the jobs its connection held, queued again.
	Requeued int `json:"requeued"`
}
