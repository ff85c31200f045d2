package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// safetyArgs come before every git subcommand. They allow exactly the
// transports CheckRepoURL accepts and nothing else, so even a URL rewritten
// by an insteadOf setting cannot reach a remote helper. ext:: and fd::, which
// run arbitrary commands, are named explicitly as well so that no later
// change to the list can let them back in.
//
// file must be allowed explicitly: since git 2.38.1 its default policy is
// "user", which GIT_PROTOCOL_FROM_USER=0 turns into "never", and local
// repositories are legitimate here. The restriction it guards against
// (submodules cloning local repositories) does not apply, as no command
// here recurses into submodules.
var safetyArgs = []string{
	"-c", "protocol.allow=never",
	"-c", "protocol.file.allow=always",
	"-c", "protocol.git.allow=always",
	"-c", "protocol.http.allow=always",
	"-c", "protocol.https.allow=always",
	"-c", "protocol.ssh.allow=always",
	"-c", "protocol.ext.allow=never",
	"-c", "protocol.fd.allow=never",
}

// repoLocationEnv are variables that make git operate on some other
// repository than the one in the working directory. They are set, for
// example, when Eventide itself runs inside a git hook; inheriting them would
// silently redirect every command.
var repoLocationEnv = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
	"GIT_PREFIX", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
}

// maxStderr bounds how much of git's diagnostics an error carries.
const maxStderr = 2048

// waitDelay bounds how long Wait lingers for output after git is killed.
const waitDelay = 5 * time.Second

// invocation is one run of the git program.
type invocation struct {
	dir   string    // working directory
	args  []string  // arguments after the safety options
	stdin io.Reader // nil for none
	env   []string  // extra KEY=value pairs
}

// git runs git with args in dir and returns its standard output.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	return invocation{dir: dir, args: args}.run(ctx)
}

func (inv invocation) run(ctx context.Context) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append(append([]string{}, safetyArgs...), inv.args...)...)
	cmd.Dir = inv.dir
	cmd.Env = gitEnv(inv.env)
	cmd.Stdin = inv.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// A new session has no controlling terminal, so neither git nor ssh
	// can stop to ask for a password or a host key confirmation, and the
	// whole process group (git, ssh, remote helpers) can be killed at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error {
		err := unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		if errors.Is(err, unix.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay

	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	err = fmt.Errorf("git %s: %w", displayArgs(inv.args), err)
	if msg := trimStderr(stderr.Bytes()); msg != "" {
		err = fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.Bytes(), err
}

// gitEnv returns the environment for git: the process's own (so HOME, SSH
// agent sockets and proxies keep working) minus repository redirections,
// plus settings that keep git non-interactive and its messages stable.
func gitEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(repoLocationEnv, key) {
			env = append(env, kv)
		}
	}
	// exec.Cmd keeps the last of duplicate keys, so these win.
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		// Transports with the "user" policy become unavailable, so only
		// the well-known ones remain.
		"GIT_PROTOCOL_FROM_USER=0",
		"LC_ALL=C",
	)
	return append(env, extra...)
}

// displayArgs renders a command line for an error message, hiding any
// password embedded in a URL so that errors are safe to log.
func displayArgs(args []string) string {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = redactURL(a)
	}
	return strings.Join(shown, " ")
}

// redactURL hides the password of a URL with credentials (an https token,
// typically) and returns anything else unchanged.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}

// trimStderr turns git's diagnostics into one line for an error message.
// Part of them can come from the remote ("remote: ..."), so line breaks and
// other control characters are flattened rather than passed on to logs, and
// only the end, where the fatal message is, is kept.
func trimStderr(b []byte) string {
	lines := strings.FieldsFunc(strings.ToValidUTF8(string(b), "\uFFFD"), func(r rune) bool { return r == '\n' || r == '\r' })
	var kept []string
	for _, line := range lines {
		line = strings.TrimSpace(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, line))
		if line != "" {
			kept = append(kept, line)
		}
	}
	s := strings.Join(kept, "; ")
	if len(s) > maxStderr {
		cut := len(s) - maxStderr
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = "..." + s[cut:]
	}
	return s
}

// exitCode returns git's exit status when err means git ran to completion
// and failed, which for several commands is an answer rather than a failure,
// and -1 otherwise (git did not start, or ctx cancelled it).
func exitCode(ctx context.Context, err error) int {
	var exitErr *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exitErr) {
		return -1
	}
	return exitErr.ExitCode()
}
