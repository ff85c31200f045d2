package dirlock_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/services/dirlock"
)

// holdEnv, when set, makes the test binary a child that takes the lock at its
// value, says "held" and waits to be killed.
const holdEnv = "DIRLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		if _, err := dirlock.Acquire(path, "the test's lock"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		select {} // until killed
	}
	os.Exit(m.Run())
}

func held(t *testing.T, err error) *dirlock.HeldError {
	t.Helper()
	he, ok := errors.AsType[*dirlock.HeldError](err)
	if !ok {
		t.Fatalf("Acquire = %v, want a *HeldError", err)
	}
	return he
}

// A second lock is refused with the holder's pid, and granted once released.
func TestSecondLockRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "lock")
	l, err := dirlock.Acquire(path, "the runner's folder")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid %d", b, os.Getpid())
	}
	_, err = dirlock.Acquire(path, "the runner's folder")
	he := held(t, err)
	if he.PID != os.Getpid() || he.Path != path {
		t.Errorf("HeldError = %+v, want pid %d and path %s", he, os.Getpid(), path)
	}
	for _, want := range []string{"the runner's folder", "pid " + strconv.Itoa(os.Getpid()), path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	l.Release()
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("released lock file still holds %q", b)
	}
	l2, err := dirlock.Acquire(path, "the runner's folder")
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

// The lock dies with its process, however it dies.
func TestLockDiesWithProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	child := startHolder(t, path)
	_, err := dirlock.Acquire(path, "the dispatcher's database")
	if he := held(t, err); he.PID != child.Process.Pid {
		t.Errorf("HeldError names pid %d, want the child's %d", he.PID, child.Process.Pid)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	l, err := dirlock.Acquire(path, "the dispatcher's database")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid %d", b, os.Getpid())
	}
}

// A process started while the lock is held (a runner's job) does not keep it.
func TestChildrenDoNotInheritLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := dirlock.Acquire(path, "the runner's folder")
	if err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	l.Release()
	l2, err := dirlock.Acquire(path, "the runner's folder")
	if err != nil {
		t.Fatalf("with the holder's child still running: %v", err)
	}
	l2.Release()
}

// A lock file that is not a file at all is an error, not a HeldError.
func TestUnusablePath(t *testing.T) {
	path := t.TempDir() // a directory
	_, err := dirlock.Acquire(path, "x")
	if err == nil {
		t.Fatal("Acquire on a directory succeeded")
	}
	if _, ok := errors.AsType[*dirlock.HeldError](err); ok {
		t.Errorf("Acquire on a directory = %v, want an error other than HeldError", err)
	}
}

// startHolder re-executes the test binary as a process holding the lock at path,
// and waits until it holds it. It is killed at cleanup.
func startHolder(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s != "held" {
			t.Fatalf("holder said %q", s)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("holder did not take the lock within 60s")
	}
	return cmd
}

func BenchmarkAcquireRelease(b *testing.B) {
	path := filepath.Join(b.TempDir(), "lock")
	for b.Loop() {
		l, err := dirlock.Acquire(path, "x")
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}
