package observer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/eventide-ci/eventide/net/wire"
)

// state is what the observer has dispatched, kept on disk so that a restart neither
// repeats nor misses commits.
type state struct {
	Repo string `json:"repo"`
	// Started is set once the first look (which dispatches only HEAD) is done.
	Started bool `json:"started"`
	// Branches maps each branch to the last commit dispatched (or seen) on it.
	Branches map[string]string `json:"branches"`

	path string
}

// statePath names the file by a hash of the repository location, never by its text.
func statePath(dir, repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+".json")
}

// lockPath is the lock file beside the state file: the observer of a repository
// holds it while it runs, so that two observers never share one state file (and
// submit each commit twice), while observers of different repositories share a
// data dir.
func lockPath(dir, repo string) string {
	return strings.TrimSuffix(statePath(dir, repo), ".json") + ".lock"
}

func loadState(dir, repo string) (*state, error) {
	s := &state{Repo: repo, Branches: map[string]string{}, path: statePath(dir, repo)}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("observer state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("observer state %s is corrupt (%v): move it away to start afresh from HEAD", s.path, err)
	}
	if s.Branches == nil {
		s.Branches = map[string]string{}
	}
	for b, c := range s.Branches {
		if !wire.ValidCommit(c) {
			return nil, fmt.Errorf("observer state %s is corrupt (branch %q has commit %q): move it away to start afresh from HEAD", s.path, b, c)
		}
	}
	return s, nil
}

// save writes the state atomically and durably: temporary file, fsync, rename.
func (s *state) save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("observer state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), ".state-*")
	if err != nil {
		return fmt.Errorf("observer state: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("observer state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("observer state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("observer state: %w", err)
	}
	if err := os.Rename(f.Name(), s.path); err != nil {
		return fmt.Errorf("observer state: %w", err)
	}
	return nil
}
