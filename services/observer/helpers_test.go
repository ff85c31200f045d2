package observer_test

import (
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
)

// waitTimeout bounds every wait for a condition; conditions normally hold within a
// few looks (tens of milliseconds).
const waitTimeout = testkit.Patience

// waitFor polls cond every 10 ms until it holds or waitTimeout passes. It is for
// what gives no notice of change (the dispatcher's jobs, the state file); the
// observer's log is waited on through the recorder instead.
func waitFor(t *testing.T, what string, cond func() bool, dump ...func() string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			var extra []string
			for _, d := range dump {
				extra = append(extra, d())
			}
			t.Fatalf("timed out after %v waiting for %s\n%s", waitTimeout, what, strings.Join(extra, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- git ----

// defaultAuthor is the author of the fixtures' commits, as a job shows it.
const defaultAuthor = testkit.AuthorName + " <" + testkit.AuthorEmail + ">"

// gitRepo is a real repository in a temporary directory, driven by the git binary
// in testkit's clean environment.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *gitRepo {
	t.Helper()
	return &gitRepo{t: t, dir: testkit.NewRepo(t, "main").Dir}
}

// env returns variables for run to set over the fixture's environment.
func (g *gitRepo) env(extra ...string) []string { return extra }

func (g *gitRepo) run(stdin string, env []string, args ...string) string {
	g.t.Helper()
	return testkit.GitCmd{Dir: g.dir, Env: env, Stdin: stdin}.Must(g.t, args...)
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	return testkit.Git(g.t, g.dir, args...)
}

func (g *gitRepo) rev(name string) string {
	g.t.Helper()
	return g.git("rev-parse", "--verify", "-q", name+"^{commit}")
}

// commit makes an empty commit on the checked-out branch and returns its id.
func (g *gitRepo) commit(msg string) string {
	g.t.Helper()
	g.git("commit", "-q", "--allow-empty", "-m", msg)
	return g.rev("HEAD")
}

// commitAs is commit with another author.
func (g *gitRepo) commitAs(name, email, msg string) string {
	g.t.Helper()
	g.run("", g.env("GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email), "commit", "-q", "--allow-empty", "-m", msg)
	return g.rev("HEAD")
}

// chain makes commits on top of parent without moving any branch, so that a later
// setRef publishes all of them at once (between two looks of the observer).
func (g *gitRepo) chain(parent string, msgs ...string) []string {
	g.t.Helper()
	tree := g.git("rev-parse", parent+"^{tree}")
	var ids []string
	for _, m := range msgs {
		parent = g.git("commit-tree", tree, "-p", parent, "-m", m)
		ids = append(ids, parent)
	}
	return ids
}

// setRef points branch at id in one atomic ref update.
func (g *gitRepo) setRef(branch, id string) {
	g.t.Helper()
	g.git("update-ref", "refs/heads/"+branch, id)
}

// ---- dispatcher ----

type testDispatcher struct {
	*dispatcher.Dispatcher
	addr string
	stop func()
}

// startDispatcher runs a real dispatcher listening on addr ("127.0.0.1:0" for any
// port); stop (also run at cleanup) shuts it down and waits for Serve to return.
func startDispatcher(t *testing.T, addr string) *testDispatcher {
	t.Helper()
	return startDispatcherIn(t, addr, t.TempDir())
}

// startDispatcherIn starts a dispatcher keeping its store in dataDir, so that a
// second one on the same dir resumes what the first stored.
func startDispatcherIn(t *testing.T, addr, dataDir string) *testDispatcher {
	t.Helper()
	d, err := dispatcher.New(dispatcher.Config{
		ResultsDir: filepath.Join(t.TempDir(), "results"),
		DataDir:    dataDir,
		// The product's default: a shorter one makes a busy machine's stalls look
		// like a lost peer, and no test here is about heartbeats.
		Heartbeat: time.Second,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		d.Shutdown(ctx)
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	var once sync.Once
	td := &testDispatcher{Dispatcher: d, addr: l.Addr().String()}
	td.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := d.Shutdown(ctx); err != nil {
				t.Errorf("dispatcher shutdown: %v", err)
			}
			select {
			case <-served:
			case <-time.After(waitTimeout):
				t.Errorf("dispatcher Serve did not return after Shutdown")
			}
		})
	}
	t.Cleanup(td.stop)
	return td
}

// reserveAddr returns a loopback address on which nothing listens (a port the
// kernel handed out and that was released at once).
func reserveAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// jobs returns the dispatcher's jobs in the order they were queued.
func (d *testDispatcher) jobs() []dispatcher.Job {
	js := d.Jobs()
	slices.SortStableFunc(js, func(a, b dispatcher.Job) int { return a.QueuedAt.Compare(b.QueuedAt) })
	return js
}

func (d *testDispatcher) job(commit string) (dispatcher.Job, bool) {
	for _, j := range d.Jobs() {
		if j.Commit == commit {
			return j, true
		}
	}
	return dispatcher.Job{}, false
}

func (d *testDispatcher) dump() string {
	var b strings.Builder
	b.WriteString("dispatcher jobs:")
	for _, j := range d.jobs() {
		fmt.Fprintf(&b, "\n  %s %s branch=%q state=%s", j.QueuedAt.Format("15:04:05.000000"), short(j.Commit), j.Branch, j.State)
	}
	return b.String()
}

// waitJob waits until the dispatcher has a job for commit and returns it.
func (d *testDispatcher) waitJob(t *testing.T, commit string, dumps ...func() string) dispatcher.Job {
	t.Helper()
	var j dispatcher.Job
	waitFor(t, "a job for "+short(commit), func() bool {
		var ok bool
		j, ok = d.job(commit)
		return ok
	}, append([]func() string{d.dump}, dumps...)...)
	return j
}

// want is an expected job: a commit and the branch it was submitted for.
type want struct {
	commit, branch string
}

// checkJobs asserts that the dispatcher holds exactly the wanted jobs, queued in
// that order, each queued and from repo.
func (d *testDispatcher) checkJobs(t *testing.T, repo string, wants ...want) {
	t.Helper()
	js := d.jobs()
	var got, exp []string
	for _, j := range js {
		got = append(got, short(j.Commit)+"@"+j.Branch)
	}
	for _, w := range wants {
		exp = append(exp, short(w.commit)+"@"+w.branch)
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("dispatcher jobs, in queue order:\n got  %v\n want %v", got, exp)
	}
	for _, j := range js {
		if j.State != wire.StateQueued {
			t.Errorf("job %s is %s, want %s", short(j.Commit), j.State, wire.StateQueued)
		}
		if j.Repo != repo {
			t.Errorf("job %s repo %q, want %q", short(j.Commit), j.Repo, repo)
		}
	}
}

func short(id string) string { return id[:min(len(id), 12)] }

// ---- observer ----

// logRecorder keeps every record of the observer's log, so tests can see exactly
// what it submitted (including duplicates the dispatcher absorbed) and what it
// complained about.
type logRecorder struct{ *testkit.LogRecorder }

func (r *logRecorder) count(msg string) int { return r.Count(msg) }

// submitted lists the observer's acknowledged submissions as "commit12@branch",
// with " (duplicate)" appended when the dispatcher already had the commit.
func submitted(es []testkit.LogEntry) []string {
	var out []string
	for _, e := range es {
		if e.Message != "commit submitted" {
			continue
		}
		s := e.Attrs["commit"] + "@" + e.Attrs["branch"]
		if e.Attrs["duplicate"] == "true" {
			s += " (duplicate)"
		}
		out = append(out, s)
	}
	return out
}

func (r *logRecorder) dump() string { return "observer log:\n" + r.String() }

// checkSubmitted asserts the observer's submissions, in order, none of them a
// duplicate.
func (r *logRecorder) checkSubmitted(t *testing.T, wants ...want) {
	t.Helper()
	var exp []string
	for _, w := range wants {
		exp = append(exp, short(w.commit)+"@"+w.branch)
	}
	// The dispatcher queues a job before the observer has its reply: wait for the
	// observer's record of the last one first.
	r.WaitFor(t, waitTimeout, fmt.Sprintf("%d acknowledged submissions", len(exp)), func(es []testkit.LogEntry) bool {
		return len(submitted(es)) >= len(exp)
	})
	if got := submitted(r.Entries()); !slices.Equal(got, exp) {
		t.Fatalf("observer submissions:\n got  %v\n want %v", got, exp)
	}
}

type runningObserver struct {
	log  *logRecorder
	stop func() // cancels Run and waits for it; run at cleanup too
}

// observerConfig is a config for repo g reporting to addr, with its own DataDir.
func observerConfig(t *testing.T, g *gitRepo, addr string) observer.Config {
	return observer.Config{
		Dispatcher: addr,
		Name:       "test-observer",
		Repo:       g.dir,
		Interval:   20 * time.Millisecond,
		DataDir:    filepath.Join(t.TempDir(), "observer"),
	}
}

// startObserver runs observer.New and Run with cfg; a nil Logger becomes a recorder.
func startObserver(t *testing.T, cfg observer.Config) *runningObserver {
	t.Helper()
	rec := &logRecorder{testkit.NewLogRecorder()}
	if cfg.Logger == nil {
		cfg.Logger = rec.Logger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	o, err := observer.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("observer.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	ro := &runningObserver{log: rec}
	ro.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("observer Run returned %v after cancel, want nil", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("observer Run did not return within %v of cancel", waitTimeout)
			}
		})
	}
	t.Cleanup(ro.stop)
	return ro
}

// absRepo is the repository location the observer sends: the absolute path.
func absRepo(t *testing.T, g *gitRepo) string {
	t.Helper()
	p, err := filepath.Abs(g.dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stateFile finds the observer's single state file in dataDir.
func stateFile(t *testing.T, dataDir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 {
		t.Fatalf("state files in %s: %v, want exactly one", dataDir, m)
	}
	return m[0]
}

// savedState is the observer's state file as JSON, for waiting on its progress.
type savedStateFile struct {
	Started  bool              `json:"started"`
	Branches map[string]string `json:"branches"`
}

// waitSaved waits until the state in dataDir records each branch at the given
// commit, so that a submission is settled (acknowledged and saved) before a test
// stops the observer or the dispatcher.
func waitSaved(t *testing.T, dataDir string, tips map[string]string) {
	t.Helper()
	var last savedStateFile
	waitFor(t, fmt.Sprintf("the observer to save %v", tips), func() bool {
		m, _ := filepath.Glob(filepath.Join(dataDir, "*.json"))
		if len(m) != 1 {
			return false
		}
		b, err := os.ReadFile(m[0])
		if err != nil {
			return false
		}
		last = savedStateFile{}
		if json.Unmarshal(b, &last) != nil || !last.Started {
			return false
		}
		for br, c := range tips {
			if last.Branches[br] != c {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("last state read: %+v", last) })
}
