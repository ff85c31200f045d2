package dispatcher

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/wire"
)

// After a restart, a runner that comes back without the job it was running has
// that attempt counted lost at once (not at the end of the reclaim window), and the
// job runs again as its next attempt.
func TestRunnerBackAfterRestartWithoutItsJob(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	cfg := Config{DataDir: data, ReclaimWindow: time.Hour}
	d1 := newTestDispatcher(t, cfg)
	r1, _ := connectRunner(t, d1, "r1", 1)
	s, err := d1.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
	if err != nil {
		t.Fatal(err)
	}
	r1.next(t)
	waitFor(t, "job running", func() bool { j, _ := d1.findJob(s.JobID); return j.State == wire.StateRunning })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := d1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	d2 := newTestDispatcher(t, cfg)
	if j, _ := d2.findJob(s.JobID); j.State != wire.StateRunning || j.Attempt != 1 {
		t.Fatalf("after the restart the job is %s at attempt %d, want running at 1 (awaiting its runner)", j.State, j.Attempt)
	}
	r2, w := connectRunner(t, d2, "r1", 1) // holding nothing: it lost the job meanwhile
	if len(w.Cancel) != 0 {
		t.Fatalf("welcome cancels %v, want nothing", w.Cancel)
	}
	a := r2.next(t) // well before the hour-long reclaim window
	if a.JobID != s.JobID || a.Attempt != 2 {
		t.Fatalf("assignment %s attempt %d, want %s attempt 2", a.JobID, a.Attempt, s.JobID)
	}
	j, _ := d2.findJob(s.JobID)
	if len(j.Attempts) != 2 || j.Attempts[0].Outcome != outcomeLost {
		t.Fatalf("attempts %+v, want the first ended lost", j.Attempts)
	}
}

// Job ids are valid, unique and in creation order (the store's indexes stay
// append-mostly), also across a restart whose clock went back.
func TestJobIDsGrow(t *testing.T) {
	t.Parallel()
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
	d1 := newTestDispatcher(t, cfg)
	var ids []string
	for i := range 50 {
		s, err := d1.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: fmt.Sprintf("%040x", i%20), Branch: "main"})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Duplicate {
			ids = append(ids, s.JobID)
		}
	}
	// A job far in the future, as if the clock had gone back since it was made.
	d1.mu.Lock()
	d1.lastID = uint64(time.Now().Add(time.Hour).UnixMilli()) << 20
	d1.mu.Unlock()
	s, err := d1.Submit(t.Context(), &wire.Submit{Repo: "/other", Commit: commit(0)})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, s.JobID)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := d1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	d2 := newTestDispatcher(t, cfg)
	s2, err := d2.Submit(t.Context(), &wire.Submit{Repo: "/third", Commit: commit(1)})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, s2.JobID)
	for i, id := range ids {
		if !wire.ValidJobID(id) {
			t.Fatalf("id %q is not a valid job id", id)
		}
		if i > 0 && id <= ids[i-1] {
			t.Fatalf("id %d %s does not sort after %s", i, id, ids[i-1])
		}
	}
}
