package observer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/services/gitrepo"
	"github.com/eventide-ci/eventide/services/observer"
)

// savedState runs an observer until its first look is saved and returns its config
// (with the DataDir holding the state), the state file and the HEAD it submitted.
func savedState(t *testing.T) (*gitRepo, observer.Config, string, string) {
	t.Helper()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"main": head})
	o.stop()
	return g, cfg, stateFile(t, cfg.DataDir), head
}

func TestCorruptStateFileFailsNew(t *testing.T) {
	t.Parallel()
	g, cfg, path, _ := savedState(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"garbage":   "this is not JSON\x00\xff",
		"truncated": string(good[:len(good)/2]),
		"empty":     "",
		"wrongType": `{"repo": 1, "started": "yes", "branches": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg.Logger = nil
			o, err := observer.New(context.Background(), cfg)
			if err == nil {
				t.Fatalf("New accepted a corrupt state file (%s): %v", name, o)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the state file %s: %v", path, err)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("New changed the corrupt state file")
			}
		})
	}

	// Moving it away, as the error suggests, starts afresh from HEAD.
	if err := os.Rename(path, path+".bad"); err != nil {
		t.Fatal(err)
	}
	c1 := g.commit("after the state was reset")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg.Dispatcher = d.addr
	o := startObserver(t, cfg)
	d.waitJob(t, c1, o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	d.checkJobs(t, absRepo(t, g), want{c1, "main"}, want{marker, "main"})
}

// Well-formed JSON recording something that is not a commit id is corrupt too.
func TestStateWithBadCommitIDFailsNew(t *testing.T) {
	t.Parallel()
	_, cfg, path, _ := savedState(t)
	if err := os.WriteFile(path, []byte(`{"started": true, "branches": {"main": "not-a-commit"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Logger = nil
	_, err := observer.New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("New with a state naming %q as main's tip: err %v, want an error naming %s", "not-a-commit", err, path)
	}
}

func TestNewRefusesWhatIsNotARepository(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	g.commit("initial")
	sub := filepath.Join(g.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	file := filepath.Join(plain, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"plain directory":         plain,
		"missing":                 filepath.Join(plain, "nothing-here"),
		"file":                    file,
		"directory inside a repo": sub,
		"empty":                   "",
	} {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "observer")
			o, err := observer.New(context.Background(), observer.Config{
				Dispatcher: "127.0.0.1:1", Name: "test-observer", Repo: path, DataDir: dataDir,
			})
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", path, o)
			}
			if !errors.Is(err, gitrepo.ErrNotRepo) {
				t.Errorf("New(%q): %v, want an error wrapping gitrepo.ErrNotRepo", path, err)
			}
			if _, err := os.Stat(dataDir); err == nil {
				m, _ := filepath.Glob(filepath.Join(dataDir, "*.json"))
				if len(m) > 0 {
					t.Errorf("New left state behind: %v", m)
				}
			}
		})
	}
}
