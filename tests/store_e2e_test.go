package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestTruncatedDatabaseRefused: a dispatcher whose eventide.db was cut to 0 bytes
// while it was stopped does not start afresh with an empty history (it had jobs):
// it exits 2 with one line naming the file and what to do, and leaves the file
// as it found it.
func TestTruncatedDatabaseRefused(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	base := t.TempDir()
	resDir := filepath.Join(base, "results")
	d := startDispatcher(t, 0, resDir, nil)
	var commits []string
	for i := range 3 {
		commits = append(commits, repo.commit("commit", map[string]string{"n": strings.Repeat("x", i+1)}))
	}
	for _, c := range commits {
		submitCommit(t, d.addr, "", repo.dir, c, "main")
	}
	d.waitLog(patience, "job queued", "commit="+commits[2][:12])
	d.signal(syscall.SIGTERM)
	if code := d.wait(patience); code != 0 {
		t.Fatalf("dispatcher exited %d on SIGTERM", code)
	}

	db := filepath.Join(base, ".eventide", "eventide.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	out, code := runBinary(t, patience, "--mode=dispatcher", "--host", "127.0.0.1", "--port", "0",
		"--data-dir", filepath.Dir(db), "--results-dir", resDir)
	if code != 2 {
		t.Errorf("exit %d, want 2; output:\n%s", code, out)
	}
	msg := oneLine(t, out)
	for _, want := range []string{db, "0 bytes", "backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the truncated database was changed: %v, %v", fi, err)
	}
}
