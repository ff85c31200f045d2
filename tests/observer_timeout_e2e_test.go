package tests

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startObserverWith starts an observer of repo looking every 200ms, with extra flags.
func startObserverWith(t *testing.T, addr, dataDir, repo string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--mode=observer", "--dispatcher-server", addr, "--interval", "200ms",
		"--data-dir", dataDir, "--name", "e2e-observer"}, extra...)
	return startProc(t, "observer", dataDir, childEnv(), append(args, repo)...)
}

// gaveUp checks that p exited 1 with one line saying it gave up on the dispatcher
// at addr, and returns how long after since it exited.
func gaveUp(t *testing.T, p *proc, addr string, since time.Time) time.Duration {
	t.Helper()
	if code := p.wait(patience); code != 1 {
		t.Errorf("observer exited %d, want 1", code)
	}
	took := time.Since(since)
	if n := p.count("observer exiting"); n != 1 {
		t.Errorf("%d lines saying why the observer exits, want 1:\n%s", n, p.output())
	}
	if _, ok := p.find("observer exiting", "giving up", "no dispatcher at "+addr); !ok {
		t.Errorf("the observer's last words do not say it gave up on %s:\n%s", addr, p.output())
	}
	return took
}

// An observer that never reaches a dispatcher exits 1 after --dispatcher-timeout,
// saying why, as a runner does.
func TestObserverGivesUpWithoutDispatcher(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	addr := "127.0.0.1:" + strconv.Itoa(reservePort(t))
	const timeout = 700 * time.Millisecond
	start := time.Now()
	o := startObserverWith(t, addr, t.TempDir(), repo.dir, "--dispatcher-timeout", timeout.String())
	took := gaveUp(t, o, addr, start)
	if took < timeout {
		t.Errorf("observer gave up after %v, before its timeout of %v", took, timeout)
	}
	t.Logf("exited %v after start with --dispatcher-timeout %v (%v past it, process start included)", took, timeout, took-timeout)
}

// An observer whose dispatcher dies exits 1 once the timeout has passed, with
// what it submitted saved: restarted on the same data dir against a new
// dispatcher that knows nothing, it neither repeats nor skips a commit.
func TestObserverGivesUpWhenDispatcherDies(t *testing.T) {
	t.Parallel()
	repo, first := newRepo(t, 0)
	obsDir := t.TempDir()
	d1 := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	const timeout = time.Second
	o1 := startObserverWith(t, d1.addr, obsDir, repo.dir, "--dispatcher-timeout", timeout.String())
	o1.waitLog(patience, "commit submitted", "commit="+first[:12])
	c1 := repo.commit("one", map[string]string{"one.txt": "1"})
	o1.waitLog(patience, "commit submitted", "commit="+c1[:12])

	d1.kill()
	lost := o1.waitLog(patience, "lost the dispatcher")
	// Commits made while no dispatcher listens wait for the next observer.
	c2 := repo.commit("two", map[string]string{"two.txt": "2"})
	c3 := repo.commit("three", map[string]string{"three.txt": "3"})
	took := gaveUp(t, o1, d1.addr, lost.at)
	if took < timeout {
		t.Errorf("observer gave up %v after losing the dispatcher, before its timeout of %v", took, timeout)
	}
	t.Logf("exited %v after losing the dispatcher with --dispatcher-timeout %v (%v past it)", took, timeout, took-timeout)

	// A new dispatcher with an empty store has no position to give: the
	// observer's saved state alone says where to resume.
	d2 := startDispatcher(t, 0, filepath.Join(t.TempDir(), "results"), nil)
	o2 := startObserverWith(t, d2.addr, obsDir, repo.dir, "--dispatcher-timeout", timeout.String())
	o2.waitLog(patience, "commit submitted", "commit="+c3[:12])
	marker := repo.commit("marker", map[string]string{"marker.txt": "m"})
	o2.waitLog(patience, "commit submitted", "commit="+marker[:12])
	got := o2.linesWith("commit submitted")
	want := []string{c2, c3, marker}
	if len(got) != len(want) {
		t.Fatalf("restarted observer submitted %d commits, want %d (%v):\n%s", len(got), len(want), want, strings.Join(got, "\n"))
	}
	for i, c := range want {
		if !strings.Contains(got[i], "commit="+c[:12]) {
			t.Errorf("submission %d is %q, want commit %s", i+1, got[i], c[:12])
		}
	}
}

// With --dispatcher-timeout 0 the observer waits for ever (as under a service
// manager, which restarts it anyway).
func TestObserverZeroTimeoutWaits(t *testing.T) {
	t.Parallel()
	repo, _ := newRepo(t, 0)
	addr := "127.0.0.1:" + strconv.Itoa(reservePort(t))
	o := startObserverWith(t, addr, t.TempDir(), repo.dir, "--dispatcher-timeout", "0")
	o.waitLog(patience, "waiting for the dispatcher")
	// Several times what the other tests give up after: a bounded check of "never".
	select {
	case <-o.done:
		t.Fatalf("observer with --dispatcher-timeout 0 exited:\n%s", o.output())
	case <-time.After(3 * time.Second):
	}
	o.signal(syscall.SIGTERM)
	if code := o.wait(patience); code != 0 {
		t.Errorf("observer exited %d on SIGTERM, want 0", code)
	}
}
