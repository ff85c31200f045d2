package testrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestMain makes the test binary a child subreaper, as the runner is, so
// that orphans of the commands under test become our children and the
// tests can check that Run reaped them rather than leaving zombies.
func TestMain(m *testing.M) {
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testkit.RaiseParallel(testkit.WaitingParallel) // the tests mostly wait for their processes
	os.Exit(m.Run())
}

// markedProcesses lists the live processes carrying token, to prove that
// nothing of a run survived.
func markedProcesses(token string) ([]int, error) {
	ms, err := members(-1, TokenEnv+"="+token)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, m := range ms {
		if !m.zombie {
			pids = append(pids, m.pid)
		}
	}
	return pids, nil
}

// pidExists reports whether pid is in the process table, zombies included.
func pidExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// requireNoSurvivors checks, right after Run returned, that no process
// carries the run's token and that each of pids is gone: not running and
// not a zombie, so Run both killed and reaped them.
func requireNoSurvivors(t *testing.T, token string, pids []int) {
	t.Helper()
	if len(token) != 32 {
		t.Fatalf("bad token %q: did the command print it?", token)
	}
	marked, err := markedProcesses(token)
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) > 0 {
		t.Errorf("processes still carrying the run's token: %v", marked)
	}
	for _, pid := range pids {
		if pidExists(pid) {
			t.Errorf("pid %d still exists after Run returned", pid)
		}
	}
}

// killAndReap disposes of a process a test deliberately let escape Run.
func killAndReap(t *testing.T, pid int) {
	t.Helper()
	_ = unix.Kill(pid, unix.SIGKILL)
	deadline := time.Now().Add(testkit.Patience)
	for time.Now().Before(deadline) {
		wpid, err := unix.Wait4(pid, nil, unix.WNOHANG, nil)
		if wpid == pid || (errors.Is(err, unix.ECHILD) && !pidExists(pid)) {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising
	}
	t.Errorf("escaped pid %d did not go away", pid)
}

func TestMembersScan(t *testing.T) {
	t.Parallel()
	// A program name with spaces and parentheses checks that the stat
	// parser does not split the comm field. The kernel takes comm from the
	// name executed, so a symlink does; a copy would risk ETXTBSY.
	exe := filepath.Join(t.TempDir(), "x) y (z")
	if err := os.Symlink("/bin/sleep", exe); err != nil {
		t.Fatal(err)
	}
	token := newToken()
	cmd := exec.Command(exe, "30")
	cmd.Env = []string{TokenEnv + "=" + token}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid

	m, ok := readStat(pid, make([]byte, 512))
	if !ok || m.pgid != pid || m.zombie {
		t.Fatalf("readStat(%d) = %+v, %v; want pgid %d, live", pid, m, ok, pid)
	}
	got, err := markedProcesses(token)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{pid}) {
		t.Fatalf("markedProcesses = %v, want [%d]", got, pid)
	}
	// A token nobody carries must match nothing: the scan may only ever
	// select our own run's processes.
	if got, _ := markedProcesses(newToken()); len(got) != 0 {
		t.Fatalf("unused token matched %v", got)
	}
}
