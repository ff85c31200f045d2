package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
)

// IdentityFile is where a runner keeps the identity its dispatcher issued it,
// in its WorkDir: readable by the runner's user only.
const IdentityFile = "runner-identity.json"

// identityRecord is the file's content.
type identityRecord struct {
	wire.Identity
	Name       string    `json:"name"`       // the name it enrolled with
	Dispatcher string    `json:"dispatcher"` // where it enrolled
	EnrolledAt time.Time `json:"enrolled_at"`
}

// loadIdentity reads the runner's identity; nil (and no error) when it has none yet.
func loadIdentity(path string) (*wire.Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runner identity: %w", err)
	}
	var rec identityRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("runner identity %s: %v (remove it to enrol again)", path, err)
	}
	if err := rec.Identity.Validate(); err != nil {
		return nil, fmt.Errorf("runner identity %s: %v (remove it to enrol again)", path, err)
	}
	return &rec.Identity, nil
}

// saveIdentity writes the identity atomically with mode 0600: a temporary file
// in the same folder, synced, then renamed over path and the folder synced, so
// that a crash leaves the old state or the new, never half a secret.
func saveIdentity(path string, rec identityRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".runner-identity-*") // created 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// enrolled keeps the identity the dispatcher issued in a welcome, before the
// connection is used: a runner that cannot keep it must not run jobs under it.
func (r *Runner) enrolled(issued *wire.Identity) error {
	r.mu.Lock()
	had := r.ident
	r.mu.Unlock()
	if had != nil {
		return fmt.Errorf("%w: the dispatcher issued identity %s to a runner that has one (%s)", errFatal, issued.ID, had.ID)
	}
	rec := identityRecord{Identity: *issued, Name: r.cfg.Name, Dispatcher: r.cfg.Dispatcher, EnrolledAt: time.Now().UTC()}
	if err := saveIdentity(r.identityPath(), rec); err != nil {
		return fmt.Errorf("%w: enrolled as identity %s but could not keep it in %s: %v; revoke identity %s at the dispatcher before enrolling again",
			errFatal, issued.ID, r.identityPath(), err, issued.ID)
	}
	r.mu.Lock()
	r.ident = issued
	r.mu.Unlock()
	r.log.Info("enrolled with the dispatcher", "identity", issued.ID, "file", r.identityPath())
	return nil
}

func (r *Runner) identityPath() string { return filepath.Join(r.cfg.WorkDir, IdentityFile) }

// errFatal marks a session's end the runner must not redial after.
var errFatal = errors.New("runner cannot go on")

// refusal explains a fatal refusal of the runner's hello for the operator.
func (r *Runner) refusal(err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		return err
	}
	switch we.Code {
	case wire.CodeRevoked:
		return fmt.Errorf("this runner's identity was revoked or is unknown to the dispatcher: %s (identity file %s)", we.Message, r.identityPath())
	case wire.CodeNameTaken:
		return fmt.Errorf("the dispatcher refused this runner's name: %s", we.Message)
	}
	return err
}
