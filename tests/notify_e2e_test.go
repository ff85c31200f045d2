package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A post-commit hook running `eventide notify` gets each commit tested with no
// observer at all, at once.
func TestNotifyFromPostCommitHook(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	startRunner(t, d.addr, t.TempDir(), "e2e-hooked", nil)
	d.waitLog(patience, "runner registered", "runner=e2e-hooked")

	hook := fmt.Sprintf("#!/bin/sh\nexec %q notify --dispatcher-server %s --data-dir %q \"$(git rev-parse --show-toplevel)\" >>%q 2>&1\n",
		binary, d.addr, t.TempDir(), filepath.Join(t.TempDir(), "hook.log"))
	if err := os.WriteFile(filepath.Join(repo.dir, ".git", "hooks", "post-commit"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		start := time.Now()
		c := repo.commit(fmt.Sprintf("hooked %d", i), map[string]string{"tests/test_sample.py": sampleTest(0, false, fmt.Sprint(i))})
		res := waitResult(t, resDir, c, patience)
		t.Logf("commit (with its hook) → result: %v", time.Since(start).Round(time.Millisecond))
		checkOutcome(t, res, "failed", 1, 1)
		if got := res.get("Branch"); got != "main" {
			t.Errorf("Branch = %q, want main", got)
		}
	}

	// Named branches, and clear errors for what does not exist.
	repo.git("branch", "topic")
	out, code := runBinary(t, patience, "notify", "--dispatcher-server", d.addr, "--data-dir", t.TempDir(), repo.dir, "refs/heads/topic")
	if code != 0 || !strings.Contains(out, "topic") {
		t.Errorf("notify topic: exit %d\n%s", code, out)
	}
	if out, code := runBinary(t, patience, "notify", "--dispatcher-server", d.addr, repo.dir, "nope"); code != 2 || !strings.Contains(out, `no branch "nope"`) {
		t.Errorf("notify of a missing branch: exit %d\n%s", code, out)
	}
	if out, code := runBinary(t, patience, "notify", "--dispatcher-server", "127.0.0.1:1", repo.dir); code != 1 || !strings.Contains(out, "dispatcher 127.0.0.1:1") {
		t.Errorf("notify with no dispatcher: exit %d\n%s", code, out)
	}
}
