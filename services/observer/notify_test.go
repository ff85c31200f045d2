package observer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/services/observer"
)

// Notify submits branch tips as an observer does (same repository location, same
// branch names), says which were already queued, and tells the user's mistakes
// (RepoError) from the dispatcher's absence.
func TestNotify(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	c1 := g.commit("first")
	g.git("branch", "topic")
	c2 := g.commit("second")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	ctx := context.Background()

	got, err := observer.Notify(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Commit != c2 || got[0].Branch != "main" || got[0].JobID == "" || got[0].Duplicate {
		t.Fatalf("notify of HEAD: %+v", got)
	}
	got, err = observer.Notify(ctx, cfg, []string{"refs/heads/topic", "main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Commit != c1 || got[0].Branch != "topic" || got[0].Duplicate || !got[1].Duplicate {
		t.Fatalf("notify of topic and main: %+v", got)
	}
	d.checkJobs(t, g.dir, want{c2, "main"}, want{c1, "topic"})

	_, err = observer.Notify(ctx, cfg, []string{"nope"})
	if _, ok := errors.AsType[*observer.RepoError](err); !ok || !strings.Contains(err.Error(), `no branch "nope"`) {
		t.Errorf("a missing branch: %v, want a RepoError naming it", err)
	}
	cfg.Dispatcher = reserveAddr(t)
	_, err = observer.Notify(ctx, cfg, nil)
	if _, ok := errors.AsType[*observer.RepoError](err); ok || err == nil || !strings.Contains(err.Error(), cfg.Dispatcher) {
		t.Errorf("no dispatcher: %v, want an error naming %s that is no RepoError", err, cfg.Dispatcher)
	}
}
