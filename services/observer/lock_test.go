package observer_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/services/dirlock"
	"github.com/eventide-ci/eventide/services/observer"
)

// Two observers of one repository in one data dir would share a state file; the
// second is refused until the first has stopped. Another repository's observer
// shares the data dir.
func TestOneObserverPerRepositoryAndDataDir(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	first := startObserver(t, cfg)

	_, err := observer.New(context.Background(), cfg)
	he, ok := errors.AsType[*dirlock.HeldError](err)
	if !ok {
		t.Fatalf("second observer.New = %v, want a *dirlock.HeldError", err)
	}
	if he.PID != os.Getpid() || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), g.dir) {
		t.Errorf("refusal %q does not name this pid and the repository %s", err, g.dir)
	}

	other := newRepo(t)
	other.commit("elsewhere")
	cfg2 := observerConfig(t, other, d.addr)
	cfg2.DataDir = cfg.DataDir
	startObserver(t, cfg2)

	first.stop()
	startObserver(t, cfg) // the lock went with Run
}
