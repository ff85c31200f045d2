package tests

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envScript is a job that prints its environment, one variable a line.
const envScript = `# env
command: env
`

// A job's environment has none of its runner's settings or credentials (here
// the token and three more settings, from the environment as an operator would
// give them), but does have what the runner sets for it and the runner's other
// variables.
func TestJobEnvironment(t *testing.T) {
	t.Parallel()
	const token = "e2e-secret-token-7f3a"
	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil, "--token", token)
	env := childEnv("EVENTIDE_TOKEN="+token, "EVENTIDE_JOB_TIMEOUT=10m", "EVENTIDE_GRACE=2s",
		"EVENTIDE_DISPATCHER_TIMEOUT=1m", "E2E_KEPT=kept", "EVENTIDE_E2E_NOT_A_SETTING=kept")
	startRunner(t, d.addr, t.TempDir(), "env-runner", env)
	d.waitLog(20*time.Second, "runner registered", "runner=env-runner")
	commit := repo.commit("print the environment", map[string]string{".eventide.yml": envScript})
	submitCommit(t, d.addr, token, repo.dir, commit, "main")
	res := waitResult(t, resDir, commit, 60*time.Second)
	if res.get("Status") != "passed" {
		t.Fatalf("the job did not pass:\n%s", res.raw)
	}
	vars := strings.Split(res.output, "\n")
	if strings.Contains(res.output, token) {
		t.Errorf("the job saw the token:\n%s", res.output)
	}
	for _, name := range []string{"EVENTIDE_TOKEN", "EVENTIDE_JOB_TIMEOUT", "EVENTIDE_GRACE", "EVENTIDE_DISPATCHER_TIMEOUT", "EVENTIDE_JOB_SUPERVISOR"} {
		if slices.ContainsFunc(vars, func(kv string) bool { return strings.HasPrefix(kv, name+"=") }) {
			t.Errorf("the job saw %s:\n%s", name, res.output)
		}
	}
	for _, want := range []string{"EVENTIDE_COMMIT=" + commit, "CI=true", "E2E_KEPT=kept", "EVENTIDE_E2E_NOT_A_SETTING=kept"} {
		if !slices.Contains(vars, want) {
			t.Errorf("the job's environment lacks %s:\n%s", want, res.output)
		}
	}
	if !slices.ContainsFunc(vars, func(kv string) bool { return strings.HasPrefix(kv, "EVENTIDE_JOB_ID=") }) {
		t.Errorf("the job's environment lacks EVENTIDE_JOB_ID:\n%s", res.output)
	}
}

// --job-user needs a runner running as root: any other exits 2, saying so. As
// root the runner is started as nobody to see it.
func TestJobUserNeedsRoot(t *testing.T) {
	t.Parallel()
	args := []string{"--mode=runner", "--dispatcher-server", "127.0.0.1:1", "--job-user", "nobody"}
	cmd := exec.Command(binary)
	cmd.Env = childEnv()
	if os.Geteuid() == 0 {
		nobody := lookupNobody(t)
		// The binary and a data dir where nobody can reach and use them.
		dir := reachableDir(t)
		exe := filepath.Join(dir, "eventide")
		copyExecutable(t, binary, exe)
		data := filepath.Join(dir, "data")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, int(nobody.UID), int(nobody.GID)); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(exe)
		cmd.Dir, cmd.Env = data, childEnv("HOME="+data)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody.UID, Gid: nobody.GID, Groups: []uint32{}}}
		args = append(args, "--data-dir", data)
	} else {
		args = append(args, "--data-dir", t.TempDir())
	}
	cmd.Args = append([]string{cmd.Path}, args...)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit status %d (%v), want 2:\n%s", code, err, out)
	}
	msg := oneLine(t, string(out))
	if !strings.Contains(msg, "--job-user nobody") || !strings.Contains(msg, "root") {
		t.Errorf("message %q should name --job-user and say the runner must run as root", msg)
	}
}

// As root, --job-user runs jobs as that user: they can work in their worktree
// (and read it with git) but not read the runner's own files (its identity, mode 0600), under either
// containment, with the CPU time still measured. A data dir the user cannot
// reach is refused at start. Skipped unless the test runs as root.
func TestJobUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skipf("running jobs as another user needs root; these tests run as uid %d", os.Geteuid())
	}
	nobody := lookupNobody(t)

	// A data dir below a 0700 directory: the user could not reach its worktrees.
	out, code := runBinary(t, patience, "--mode=runner", "--dispatcher-server", "127.0.0.1:1",
		"--job-user", "nobody", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if msg := oneLine(t, out); code != 2 || !strings.Contains(msg, "cannot reach") {
		t.Errorf("a data dir nobody cannot reach: exit %d, %q; want 2 and why", code, msg)
	}

	repo, _ := newRepo(t, 0)
	resDir := filepath.Join(t.TempDir(), "results")
	d := startDispatcher(t, 0, resDir, nil)
	const script = `# as another user
command: |
  echo "uid=$(id -u)"
  echo "home=$HOME"
  touch made-by-the-job && echo wrote=yes
  cat "$E2E_IDENTITY" > /dev/null 2>&1 && echo read=yes || echo read=no
  echo "head=$(git rev-parse HEAD)"
  i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done
`
	for _, mode := range []string{"cgroup", "pgroup"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "cgroup" {
				if ok, why := cgroupWritable(); !ok {
					t.Skipf("cgroup2 is not writable here (%s)", why)
				}
			}
			data := reachableDir(t)
			// Where the runner keeps its identity, as it does: 0600 in its folder.
			identity := filepath.Join(data, "runner", "identity")
			if err := os.MkdirAll(filepath.Dir(identity), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(identity, []byte("the runner's secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			name := "job-user-" + mode
			args := []string{"--containment", mode, "--job-user", "nobody"}
			if mode == "pgroup" { // a token the job could read: warned about
				args = append(args, "--token", "on-the-command-line")
			}
			r := startRunner(t, d.addr, data, name, childEnv("E2E_IDENTITY="+identity), args...)
			d.waitLog(20*time.Second, "runner registered", "runner="+name)
			_, warned := r.find("--token is on the command line")
			if want := mode == "pgroup"; warned != want {
				t.Errorf("warned of a --token on the command line: %v, want %v", warned, want)
			}
			commit := repo.commit("as nobody "+mode, map[string]string{".eventide.yml": script})
			submitCommit(t, d.addr, "", repo.dir, commit, "main")
			res := waitResult(t, resDir, commit, 60*time.Second)
			if res.get("Status") != "passed" {
				t.Fatalf("the job did not pass:\n%s", res.raw)
			}
			for k, want := range map[string]string{"uid": strconv.Itoa(int(nobody.UID)), "home": nobody.Home, "wrote": "yes", "read": "no",
				"head": commit} {
				if !strings.Contains(res.output, k+"="+want+"\n") {
					t.Errorf("the job should print %s=%s:\n%s", k, want, res.output)
				}
			}
			if cpu := res.get("CPU time"); cpu == "" || cpu == "not measured" || cpu == "0.00 s" {
				t.Errorf("CPU time %q for a job of another user", cpu)
			}
			// Its worktree, the user's files in it, goes once the job is over.
			worktrees := filepath.Join(data, "runner", "worktrees")
			waitFor(t, patience, func() bool {
				ents, _ := os.ReadDir(worktrees)
				return len(ents) == 0
			}, "the worktree to be removed")
			if l, ok := r.find("removing worktree"); ok {
				t.Errorf("the runner could not remove the job's worktree: %s", l.text)
			}
		})
	}
}

type unixUser struct {
	UID, GID uint32
	Home     string
}

func lookupNobody(t *testing.T) unixUser {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return unixUser{uint32(uid), uint32(gid), u.HomeDir}
}

// reachableDir is a temporary directory that every user can go through (but
// not list), as can the one t.TempDir puts it in.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// copyExecutable copies an executable with cp, not in this process: a file this
// process had open for writing would be inherited by any child another test
// forks meanwhile, and exec would fail with "text file busy" until it exits.
func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v\n%s", from, to, err, out)
	}
	if err := os.Chmod(to, 0o755); err != nil {
		t.Fatal(err)
	}
}
