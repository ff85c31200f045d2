package observer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
	"github.com/eventide-ci/eventide/services/dispatcher"
	"github.com/eventide-ci/eventide/services/observer"
)

// The tests here poll only once an hour: whatever the observer submits within
// them after its first look, it found by watching.
const (
	longInterval = time.Hour
	// watchBound is how soon a watched change must be submitted. Watching is
	// proved by the change being seen at all before longInterval; how fast is a
	// figure the tests log (tens of milliseconds idle), not a bound, so that a
	// busy machine (2 s were exceeded at load 23) does not fail them.
	watchBound = testkit.Patience
)

// watchConfig is observerConfig polling every longInterval.
func watchConfig(t *testing.T, g *gitRepo, addr string) observer.Config {
	cfg := observerConfig(t, g, addr)
	cfg.Interval = longInterval
	return cfg
}

// startWatching starts an observer with cfg and waits for its first look (which
// submits head), after which its watcher is in place.
func startWatching(t *testing.T, d *testDispatcher, cfg observer.Config, head string) *runningObserver {
	t.Helper()
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)
	if got := observingAttr(o.log, "watch"); got != "true" {
		t.Fatalf("observer logged watch=%q, want true\n%s", got, o.log.dump())
	}
	return o
}

// observingAttr is the attribute key of the observer's "observing" record.
func observingAttr(r *logRecorder, key string) string {
	for _, e := range r.Entries() {
		if e.Message == "observing" {
			return e.Attrs[key]
		}
	}
	return ""
}

// waitJobWithin waits for o to log that it submitted commit, and checks that the
// dispatcher queued the job within bound of start. The dispatcher queues a job
// before it replies, and the observer logs the reply, so the wait wakes on that
// record rather than polling the dispatcher; the queueing time is the
// dispatcher's own.
func waitJobWithin(t *testing.T, d *testDispatcher, o *runningObserver, commit string, start time.Time, bound time.Duration) dispatcher.Job {
	t.Helper()
	o.log.Wait(t, max(bound, waitTimeout), "commit submitted", "commit", short(commit))
	j, ok := d.job(commit)
	if !ok {
		t.Fatalf("the observer logged submitting %s, but the dispatcher has no job for it\n%s", short(commit), d.dump())
	}
	if took := j.QueuedAt.Sub(start); took > bound {
		t.Fatalf("the job for %s was queued %v after the change, not within %v, though the observer watches and polls only every %v\n%s\n%s",
			short(commit), took, bound, longInterval, d.dump(), o.log.dump())
	}
	return j
}

// timed runs change (something that moves a ref to commit, which it returns) and
// waits for commit's job, returning the time from the start of change to the
// dispatcher queueing the job.
func timed(t *testing.T, d *testDispatcher, o *runningObserver, change func() string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	commit := change()
	j := waitJobWithin(t, d, o, commit, start, watchBound)
	return commit, j.QueuedAt.Sub(start)
}

func TestWatchSubmitsCommitsAtOnce(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	o := startWatching(t, d, watchConfig(t, g, d.addr), head)

	ws := []want{{head, "main"}}
	ref := filepath.Join(g.dir, ".git", "refs", "heads", "main")
	var total, sinceRef []time.Duration
	for i := range 5 {
		start := time.Now()
		g.git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("commit %d", i))
		c := g.rev("HEAD")
		j := waitJobWithin(t, d, o, c, start, watchBound)
		fi, err := os.Stat(ref)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, want{c, "main"})
		total = append(total, j.QueuedAt.Sub(start))
		sinceRef = append(sinceRef, j.QueuedAt.Sub(fi.ModTime()))
	}
	stats := func(ds []time.Duration) string {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return fmt.Sprintf("min %v, median %v, max %v", ds[0], ds[len(ds)/2], ds[len(ds)-1])
	}
	t.Logf("from starting `git commit` to the job being queued: %s", stats(total))
	// The file's time is the kernel's coarse clock (a tick, a few ms, old).
	t.Logf("from the ref being renamed into place to the job being queued: %s", stats(sinceRef))
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// Branch names with slashes live in directories below refs/heads: those present at
// start, those created later (nested at once, too) and those git removes when
// they empty and creates again.
func TestWatchSeesBranchesWithSlashes(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	g.setRef("release/1.x", head)
	d := startDispatcher(t, "127.0.0.1:0")
	o := startWatching(t, d, watchConfig(t, g, d.addr), head)
	ws := []want{{head, "main"}}

	step := func(branch, parent, msg string) string {
		t.Helper()
		c, l := timed(t, d, o, func() string {
			c := g.chain(parent, msg)[0]
			g.setRef(branch, c)
			return c
		})
		t.Logf("%s: %v", branch, l)
		ws = append(ws, want{c, branch})
		return c
	}
	step("release/1.x", head, "on an existing directory")
	f1 := step("feature/x", head, "in a new directory")
	step("feature/x", f1, "again, in that directory")
	t1 := step("team/a/b", head, "nested new directories")
	step("team/a/b", t1, "again, nested")

	// git removes feature/ with its last branch; a new branch there makes it again.
	g.git("branch", "-D", "feature/x")
	if _, err := os.Stat(filepath.Join(g.dir, ".git", "refs", "heads", "feature")); err == nil {
		t.Logf("git kept refs/heads/feature after deleting its last branch")
	}
	y1 := step("feature/y", head, "in the recreated directory")
	step("feature/y", y1, "again, in the recreated directory")

	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// git pack-refs moves every loose ref into packed-refs and prunes the loose
// files and their directories; packed-refs is also where a clone, or a branch
// deletion, writes refs. Both kinds of change are seen.
func TestWatchSeesPackedRefs(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	g.setRef("topic/a", head)
	d := startDispatcher(t, "127.0.0.1:0")
	o := startWatching(t, d, watchConfig(t, g, d.addr), head)
	ws := []want{{head, "main"}}

	g.git("pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(g.dir, ".git", "refs", "heads", "main")); err == nil {
		t.Fatal("main is still a loose ref after git pack-refs --all")
	}
	c, l := timed(t, d, o, func() string { return g.commit("after pack-refs") })
	t.Logf("commit after pack-refs: %v", l)
	ws = append(ws, want{c, "main"})

	// A branch that exists only in packed-refs, written as git does: a lock file
	// renamed into place.
	p, l := timed(t, d, o, func() string {
		p := g.chain(head, "only in packed-refs")[0]
		writePackedRefs(t, g, map[string]string{"refs/heads/topic/packed": p})
		return p
	})
	t.Logf("branch only in packed-refs: %v", l)
	if _, err := os.Stat(filepath.Join(g.dir, ".git", "refs", "heads", "topic", "packed")); err == nil {
		t.Fatal("topic/packed is a loose ref")
	}
	ws = append(ws, want{p, "topic/packed"})

	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// writePackedRefs rewrites packed-refs with the repository's current branches
// plus extra (refname to commit), sorted, and renames it into place.
func writePackedRefs(t *testing.T, g *gitRepo, extra map[string]string) {
	t.Helper()
	refs := map[string]string{}
	for _, line := range strings.Split(g.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"), "\n") {
		if name, id, ok := strings.Cut(line, " "); ok {
			refs[name] = id
		}
	}
	for name, id := range extra {
		refs[name] = id
	}
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("# pack-refs with: peeled fully-peeled sorted \n")
	for _, name := range names {
		b.WriteString(refs[name] + " " + name + "\n")
	}
	path := filepath.Join(g.dir, ".git", "packed-refs")
	if err := os.WriteFile(path+".lock", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".lock", path); err != nil {
		t.Fatal(err)
	}
}

// A linked worktree keeps its HEAD in its own git directory and its branches in
// the main repository's; a bare repository is its own git directory.
func TestWatchWorktreeAndBareRepository(t *testing.T) {
	t.Parallel()
	t.Run("linked worktree", func(t *testing.T) {
		g := newRepo(t)
		g.commit("initial")
		wt := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "wt")}
		g.git("worktree", "add", "-q", "-b", "wt", wt.dir)
		head := wt.rev("HEAD")
		d := startDispatcher(t, "127.0.0.1:0")
		o := startWatching(t, d, watchConfig(t, wt, d.addr), head)

		c, l := timed(t, d, o, func() string { return wt.commit("in the worktree") })
		t.Logf("commit in the linked worktree: %v", l)
		m, l := timed(t, d, o, func() string { return g.commit("in the main worktree") })
		t.Logf("commit in the main worktree: %v", l)
		d.checkJobs(t, absRepo(t, wt), want{head, "wt"}, want{c, "wt"}, want{m, "main"})
	})
	t.Run("bare", func(t *testing.T) {
		g := newRepo(t)
		g.commit("initial")
		bare := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "bare.git")}
		g.git("clone", "-q", "--bare", g.dir, bare.dir)
		head := bare.rev("HEAD")
		d := startDispatcher(t, "127.0.0.1:0")
		o := startWatching(t, d, watchConfig(t, bare, d.addr), head)

		// A push, as a bare repository receives its commits.
		c := g.commit("pushed")
		_, l := timed(t, d, o, func() string {
			g.git("push", "-q", bare.dir, "main")
			return c
		})
		t.Logf("push to a bare repository: %v", l)
		d.checkJobs(t, absRepo(t, bare), want{head, "main"}, want{c, "main"})
	})
}

// With NoWatch only polling finds commits: with a long interval, nothing after
// the first look. A watching observer of the same repository is the positive
// control showing the change was there to be seen.
func TestNoWatchOnlyPolls(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	dw := startDispatcher(t, "127.0.0.1:0")
	watching := startWatching(t, dw, watchConfig(t, g, dw.addr), head)

	dp := startDispatcher(t, "127.0.0.1:0")
	cfg := watchConfig(t, g, dp.addr)
	cfg.NoWatch = true
	polling := startObserver(t, cfg)
	dp.waitJob(t, head, polling.log.dump)
	if got := observingAttr(polling.log, "watch"); got != "false" {
		t.Fatalf("observer with NoWatch logged watch=%q, want false\n%s", got, polling.log.dump())
	}
	waitSaved(t, cfg.DataDir, map[string]string{"main": head})

	c, l := timed(t, dw, watching, func() string { return g.commit("one") })
	// The watching observer has submitted c; one that watched too would have
	// done so about as fast. Give it many times as long before concluding.
	grace := min(max(10*l, 200*time.Millisecond), time.Second)
	<-time.After(grace)
	polling.stop()
	if _, ok := dp.job(c); ok {
		t.Fatalf("observer with NoWatch and a %v interval submitted %s right after its first look\n%s",
			longInterval, short(c), polling.log.dump())
	}
	polling.log.checkSubmitted(t, want{head, "main"})

	// The commit was pending: a restarted observer finds it at its first look.
	again := startObserver(t, cfg)
	dp.waitJob(t, c, again.log.dump)
	dp.checkJobs(t, absRepo(t, g), want{head, "main"}, want{c, "main"})
	t.Logf("watching observer: %v; polling observer: nothing within a further %v", l, grace)
}

// Where the observer cannot watch, it polls as before: a URL (here file://, read
// through a mirror) silently, a local repository it fails to watch with a warning.
func TestWatchFallsBackToPolling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		prep     func(g *gitRepo) string // returns the Repo to configure
		warnings int                     // about watching
	}{
		{"url", func(g *gitRepo) string { return "file://" + absRepo(t, g) }, 0},
		{"no refs/heads", func(g *gitRepo) string {
			// A valid repository without the directory (all refs packed).
			g.git("pack-refs", "--all")
			if err := os.RemoveAll(filepath.Join(g.dir, ".git", "refs", "heads")); err != nil {
				t.Fatal(err)
			}
			return g.dir
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRepo(t)
			head := g.commit("initial")
			d := startDispatcher(t, "127.0.0.1:0")
			cfg := observerConfig(t, g, d.addr) // polling every 20ms
			cfg.Repo = tc.prep(g)
			o := startObserver(t, cfg)
			d.waitJob(t, head, o.log.dump)
			if got := observingAttr(o.log, "watch"); got != "false" {
				t.Errorf("observer logged watch=%q, want false\n%s", got, o.log.dump())
			}
			if n := o.log.count("cannot watch the repository; polling only"); n != tc.warnings {
				t.Errorf("%d warnings about watching, want %d\n%s", n, tc.warnings, o.log.dump())
			}
			c := g.commit("polled")
			d.waitJob(t, c, o.log.dump)
		})
	}
}
