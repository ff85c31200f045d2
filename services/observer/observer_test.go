package observer_test

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/wire"
)

// setup makes a repository with one commit on main, a dispatcher and an observer
// whose first look has been acknowledged (HEAD submitted).
func setup(t *testing.T) (*gitRepo, *testDispatcher, *runningObserver, string) {
	t.Helper()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	o := startObserver(t, observerConfig(t, g, d.addr))
	d.waitJob(t, head, o.log.dump)
	return g, d, o, head
}

func TestFirstLookSubmitsOnlyHead(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	c1 := g.commit("first")
	g.commit("second")
	head := g.commitAs("Grace Hopper", "grace@example.com", "Third commit\n\nWith a body\nof two lines.\n")
	// Another branch's history is recorded as seen, not submitted.
	g.setRef("other", g.chain(c1, "other work")[0])
	d := startDispatcher(t, "127.0.0.1:0")
	o := startObserver(t, observerConfig(t, g, d.addr))

	j := d.waitJob(t, head, o.log.dump)
	if j.Branch != "main" {
		t.Errorf("branch %q, want main", j.Branch)
	}
	if want := "Grace Hopper <grace@example.com>"; j.Author != want {
		t.Errorf("author %q, want %q", j.Author, want)
	}
	if want := "Third commit\n\nWith a body\nof two lines."; j.Message != want {
		t.Errorf("message %q, want %q", j.Message, want)
	}
	if j.Repo != absRepo(t, g) {
		t.Errorf("repo %q, want %q", j.Repo, absRepo(t, g))
	}

	// Nothing else came with the first look: a later commit is the next job.
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	d.checkJobs(t, absRepo(t, g), want{head, "main"}, want{marker, "main"})
	o.log.checkSubmitted(t, want{head, "main"}, want{marker, "main"})
}

func TestNewCommitsOnMainOldestFirst(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)

	// Three commits published at once, so one look has to order them.
	cs := g.chain(head, "one", "two", "three")
	g.setRef("main", cs[2])
	d.waitJob(t, cs[2], o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)

	ws := []want{{head, "main"}, {cs[0], "main"}, {cs[1], "main"}, {cs[2], "main"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
	for i, msg := range []string{"one", "two", "three"} {
		j, _ := d.job(cs[i])
		if j.Message != msg || j.Author != defaultAuthor {
			t.Errorf("job %d: message %q author %q, want %q and %q", i, j.Message, j.Author, msg, defaultAuthor)
		}
	}

	// Commits made one by one (each possibly seen by a separate look) too.
	c4 := g.commit("four")
	c5 := g.commit("five")
	c6 := g.commit("six")
	d.waitJob(t, c6, o.log.dump)
	ws = append(ws, want{c4, "main"}, want{c5, "main"}, want{c6, "main"})
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestNewBranchSubmitsOnlyItsCommits(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)
	c1 := g.commit("main one")
	d.waitJob(t, c1, o.log.dump)

	// The branch appears with both its commits at once.
	fs := g.chain(c1, "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)

	ws := []want{{head, "main"}, {c1, "main"}, {fs[0], "feature"}, {fs[1], "feature"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)

	// A branch created at an already-tested commit brings nothing new.
	g.setRef("copy", fs[1])
	f3 := g.chain(fs[1], "feature three")[0]
	g.setRef("feature", f3)
	d.waitJob(t, f3, o.log.dump)
	marker2 := g.commit("marker two")
	d.waitJob(t, marker2, o.log.dump)
	ws = append(ws, want{f3, "feature"}, want{marker2, "main"})
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestMergeCommitIsTheOnlyNewCommitOnMain(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)
	fs := g.chain(head, "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)

	g.git("merge", "-q", "--no-ff", "-m", "Merge branch feature", "feature")
	merge := g.rev("HEAD")
	j := d.waitJob(t, merge, o.log.dump)
	if j.Branch != "main" || j.Message != "Merge branch feature" {
		t.Errorf("merge job: branch %q message %q", j.Branch, j.Message)
	}
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)

	ws := []want{{head, "main"}, {fs[0], "feature"}, {fs[1], "feature"}, {merge, "main"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	// The dispatcher would absorb a resubmission of the feature commits (they are
	// still queued) as duplicates; the observer's own record shows there was none.
	o.log.checkSubmitted(t, ws...)
}

// The usual "merge the pull request and delete its branch": both changes are seen
// by the same look. Stopping the observer around them makes that deterministic.
func TestMergeAndDeleteBranchInOneLook(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)

	fs := g.chain(head, "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"feature": fs[1]})
	o.stop()

	g.git("merge", "-q", "--no-ff", "-m", "Merge branch feature", "feature")
	merge := g.rev("HEAD")
	g.git("branch", "-D", "feature")

	// A fresh dispatcher, so that resubmissions show as jobs, not as duplicates.
	d2 := startDispatcher(t, "127.0.0.1:0")
	cfg.Dispatcher = d2.addr
	o2 := startObserver(t, cfg)
	d2.waitJob(t, merge, o2.log.dump)
	marker := g.commit("marker")
	d2.waitJob(t, marker, o2.log.dump)
	d2.checkJobs(t, absRepo(t, g), want{merge, "main"}, want{marker, "main"})
}

// Commits new on main and a branch made on top of them, seen by one look: the
// main commits should be submitted as main's, whatever the other branch is called.
func TestNewMainCommitsKeepTheirBranch(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"main": head})
	o.stop()

	c1 := g.commit("main one")
	f1 := g.chain(c1, "feature one")[0]
	g.setRef("feature", f1)

	o2 := startObserver(t, cfg)
	d.waitJob(t, f1, o2.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o2.log.dump)
	j, _ := d.job(c1)
	if j.Branch != "main" {
		t.Errorf("commit %s, new on main, was submitted for branch %q", short(c1), j.Branch)
	}
}

func TestLatestOnly(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	cfg.LatestOnly = true
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)

	cs := g.chain(head, "one", "two", "three")
	g.setRef("main", cs[2])
	d.waitJob(t, cs[2], o.log.dump)
	fs := g.chain(cs[2], "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)

	ws := []want{{head, "main"}, {cs[2], "main"}, {fs[1], "feature"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestMaxNewKeepsTheNewest(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	cfg.MaxNew = 2
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)

	cs := g.chain(head, "one", "two", "three")
	g.setRef("main", cs[2])
	d.waitJob(t, cs[2], o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)

	ws := []want{{head, "main"}, {cs[1], "main"}, {cs[2], "main"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestRestartResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)
	c1 := g.commit("one")
	d.waitJob(t, c1, o.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"main": c1})
	o.stop()

	c2 := g.commit("two")
	c3 := g.commit("three")
	o2 := startObserver(t, cfg)
	d.waitJob(t, c3, o2.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o2.log.dump)

	d.checkJobs(t, absRepo(t, g), want{head, "main"}, want{c1, "main"}, want{c2, "main"}, want{c3, "main"}, want{marker, "main"})
	// Nothing repeated: the restarted observer submitted only what was new.
	o2.log.checkSubmitted(t, want{c2, "main"}, want{c3, "main"}, want{marker, "main"})

	// The same against a dispatcher that never saw the earlier jobs, where a
	// repeat would show as a job rather than as a duplicate.
	waitSaved(t, cfg.DataDir, map[string]string{"main": marker})
	o2.stop()
	c4 := g.commit("four")
	c5 := g.commit("five")
	d2 := startDispatcher(t, "127.0.0.1:0")
	cfg.Dispatcher = d2.addr
	o3 := startObserver(t, cfg)
	d2.waitJob(t, c5, o3.log.dump)
	marker2 := g.commit("marker two")
	d2.waitJob(t, marker2, o3.log.dump)
	d2.checkJobs(t, absRepo(t, g), want{c4, "main"}, want{c5, "main"}, want{marker2, "main"})
	o3.log.checkSubmitted(t, want{c4, "main"}, want{c5, "main"}, want{marker2, "main"})
}

// The observer starts while no dispatcher listens, with state from an earlier run;
// what accumulates meanwhile arrives once the dispatcher comes up, each commit once.
func TestDispatcherDownThenUp(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d1 := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d1.addr)
	o1 := startObserver(t, cfg)
	d1.waitJob(t, head, o1.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"main": head})
	o1.stop()

	addr := reserveAddr(t)
	cfg.Dispatcher = addr
	o := startObserver(t, cfg)
	waitFor(t, "the observer to fail to reach the dispatcher", func() bool {
		return o.log.count("waiting for the dispatcher") > 0
	}, o.log.dump)
	c1 := g.commit("one")
	c2 := g.commit("two")
	f1 := g.chain(head, "feature one")[0]
	g.setRef("feature", f1)

	d := startDispatcher(t, addr)
	d.waitJob(t, c2, o.log.dump)
	d.waitJob(t, f1, o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	// HEAD's branch is visited first, then the others in name order.
	ws := []want{{c1, "main"}, {c2, "main"}, {f1, "feature"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// With no saved state, the first look waits for the dispatcher and then submits
// only the HEAD of that moment.
func TestDispatcherDownAtFirstLook(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	g.commit("initial")
	addr := reserveAddr(t)
	o := startObserver(t, observerConfig(t, g, addr))
	waitFor(t, "the observer to fail to reach the dispatcher", func() bool {
		return o.log.count("waiting for the dispatcher") > 0
	}, o.log.dump)
	g.commit("one")
	head := g.commit("two")

	d := startDispatcher(t, addr)
	d.waitJob(t, head, o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	ws := []want{{head, "main"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// The dispatcher goes away while the observer runs and comes back on the same address.
func TestDispatcherRestarts(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d1 := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d1.addr)
	o := startObserver(t, cfg)
	d1.waitJob(t, head, o.log.dump)
	c1 := g.commit("one")
	d1.waitJob(t, c1, o.log.dump)

	waitSaved(t, cfg.DataDir, map[string]string{"main": c1})
	d1.stop()
	waitFor(t, "the observer to notice the dispatcher is gone", func() bool {
		return o.log.count("lost the dispatcher; reconnecting") > 0
	}, o.log.dump)
	c2 := g.commit("two")
	c3 := g.commit("three")

	d2 := startDispatcher(t, d1.addr)
	d2.waitJob(t, c3, o.log.dump)
	marker := g.commit("marker")
	d2.waitJob(t, marker, o.log.dump)
	d1.checkJobs(t, absRepo(t, g), want{head, "main"}, want{c1, "main"})
	d2.checkJobs(t, absRepo(t, g), want{c2, "main"}, want{c3, "main"}, want{marker, "main"})
	o.log.checkSubmitted(t, want{head, "main"}, want{c1, "main"}, want{c2, "main"}, want{c3, "main"}, want{marker, "main"})
}

func TestBranchDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)
	fs := g.chain(head, "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)

	// Deleted: the marker's look listed the branches after the deletion.
	g.git("branch", "-D", "feature")
	m1 := g.commit("marker one")
	d.waitJob(t, m1, o.log.dump)

	// Recreated from main with one new commit: only that commit is new.
	g1 := g.chain(m1, "feature again")[0]
	g.setRef("feature", g1)
	j := d.waitJob(t, g1, o.log.dump)
	if j.Branch != "feature" {
		t.Errorf("recreated branch's commit submitted for %q", j.Branch)
	}
	m2 := g.commit("marker two")
	d.waitJob(t, m2, o.log.dump)

	ws := []want{{head, "main"}, {fs[0], "feature"}, {fs[1], "feature"}, {m1, "main"}, {g1, "feature"}, {m2, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestBranchRecreatedWhileStopped(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	d.waitJob(t, head, o.log.dump)
	fs := g.chain(head, "feature one", "feature two")
	g.setRef("feature", fs[1])
	d.waitJob(t, fs[1], o.log.dump)
	waitSaved(t, cfg.DataDir, map[string]string{"feature": fs[1]})
	o.stop()

	// Deleted and recreated from main with one new commit between two looks.
	g.git("branch", "-D", "feature")
	h1 := g.chain(head, "feature again")[0]
	g.setRef("feature", h1)
	o2 := startObserver(t, cfg)
	d.waitJob(t, h1, o2.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o2.log.dump)
	d.checkJobs(t, absRepo(t, g), want{head, "main"}, want{fs[0], "feature"}, want{fs[1], "feature"},
		want{h1, "feature"}, want{marker, "main"})
	o2.log.checkSubmitted(t, want{h1, "feature"}, want{marker, "main"})
}

// A commit written with raw bytes (git's porcelain would re-encode them): invalid
// UTF-8 in author and message, a message over 4 KiB and an author over the wire's
// limit. The dispatcher must still get it, with the text sanitised and clipped.
func TestInvalidUTF8AndOversizedTextStillSubmitted(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)
	tree := g.git("rev-parse", head+"^{tree}")
	author := "B\xffad " + strings.Repeat("Ñ", 300) // 606 bytes
	msg := "Subject \xfe\xff here\n\n" + strings.Repeat("é", 2600) + "\xc3\n"
	raw := "tree " + tree + "\nparent " + head + "\n" +
		"author " + author + " <bad@example.com> 1700000000 +0000\n" +
		"committer Eventide Test <ci@example.com> 1700000000 +0000\n\n" + msg
	id := g.run(raw, g.env(), "hash-object", "-t", "commit", "-w", "--stdin")
	g.setRef("main", id)

	j := d.waitJob(t, id, o.log.dump)
	if !utf8.ValidString(j.Message) || len(j.Message) > wire.MaxMessageLen {
		t.Errorf("message: valid UTF-8 %v, %d bytes (at most %d)", utf8.ValidString(j.Message), len(j.Message), wire.MaxMessageLen)
	}
	if !strings.HasPrefix(j.Message, "Subject ") || !strings.Contains(j.Message, " here\n\néé") {
		t.Errorf("message lost its text: %.40q", j.Message)
	}
	if len(j.Message) < wire.MaxMessageLen-8 {
		t.Errorf("message clipped to %d bytes, more than needed", len(j.Message))
	}
	if !utf8.ValidString(j.Author) || len(j.Author) > wire.MaxAuthorLen {
		t.Errorf("author: valid UTF-8 %v, %d bytes (at most %d)", utf8.ValidString(j.Author), len(j.Author), wire.MaxAuthorLen)
	}
	if !strings.HasPrefix(j.Author, "B") || !strings.Contains(j.Author, "ad ÑÑ") || len(j.Author) < wire.MaxAuthorLen-4 {
		t.Errorf("author lost its text: %.40q (%d bytes)", j.Author, len(j.Author))
	}
	if j.Branch != "main" {
		t.Errorf("branch %q", j.Branch)
	}

	// And the observer went on normally.
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	ws := []want{{head, "main"}, {id, "main"}, {marker, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

func TestEmptyRepositoryWaitsForItsFirstCommit(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	d := startDispatcher(t, "127.0.0.1:0")
	o := startObserver(t, observerConfig(t, g, d.addr))
	waitFor(t, "the observer to connect", func() bool {
		return o.log.count("connected to the dispatcher") > 0
	}, o.log.dump)
	c1 := g.commit("first")
	d.waitJob(t, c1, o.log.dump)
	c2 := g.commit("second")
	d.waitJob(t, c2, o.log.dump)
	ws := []want{{c1, "main"}, {c2, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
}

// Branch names git accepts but the protocol refuses are skipped, each reported
// once, without holding up the other branches.
func TestUnsendableBranchesAreSkipped(t *testing.T) {
	t.Parallel()
	g, d, o, head := setup(t)
	long := strings.Repeat("a", 200) + "/" + strings.Repeat("b", 100) // 301 bytes
	bad := g.chain(head, "on a long branch", "on a non-UTF-8 branch")
	g.setRef(long, bad[0])
	g.setRef("\xff-latin1", bad[1])
	good := g.chain(head, "good")[0]
	g.setRef("good", good)
	d.waitJob(t, good, o.log.dump)
	marker := g.commit("marker")
	d.waitJob(t, marker, o.log.dump)
	marker2 := g.commit("marker two")
	d.waitJob(t, marker2, o.log.dump)

	ws := []want{{head, "main"}, {good, "good"}, {marker, "main"}, {marker2, "main"}}
	d.checkJobs(t, absRepo(t, g), ws...)
	o.log.checkSubmitted(t, ws...)
	if n := o.log.count("branch name cannot be sent; not testing it"); n != 2 {
		t.Errorf("%d reports of unsendable branches over several looks, want 2 (one per branch)\n%s", n, o.log.dump())
	}
}

// HEAD on a branch whose name the protocol refuses (git allows a 301-byte name).
func TestFirstLookOnUnsendableHeadBranch(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	long := strings.Repeat("a", 200) + "/" + strings.Repeat("b", 100)
	g.commit("initial")
	g.git("checkout", "-q", "-b", long)
	g.commit("on the long branch")
	d := startDispatcher(t, "127.0.0.1:0")
	cfg := observerConfig(t, g, d.addr)
	o := startObserver(t, cfg)
	// The state file is first written when the first look is done.
	waitFor(t, "the first look to be saved", func() bool {
		m, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*.json"))
		return len(m) > 0
	}, o.log.dump)

	// Whatever becomes of HEAD's commit, later work on a sendable branch is tested.
	dev := g.chain(g.rev("HEAD"), "on dev")[0]
	g.setRef("dev", dev)
	d.waitJob(t, dev, o.log.dump)
}

// The observer's own state is lost (a new machine, a wiped data dir) while the
// dispatcher, restarted on the same store, remembers what it accepted: the new
// observer resumes from the dispatcher's position, so the commits made meanwhile
// are all tested (a fresh observer alone would test only HEAD) and none is repeated.
func TestResumesFromDispatcherPositionWhenStateIsLost(t *testing.T) {
	t.Parallel()
	g := newRepo(t)
	head := g.commit("initial")
	store := t.TempDir()
	d1 := startDispatcherIn(t, "127.0.0.1:0", store)
	cfg := observerConfig(t, g, d1.addr)
	o := startObserver(t, cfg)
	d1.waitJob(t, head, o.log.dump)
	c1 := g.commit("one")
	d1.waitJob(t, c1, o.log.dump)
	o.stop()
	d1.stop()

	c2 := g.commit("two")
	c3 := g.commit("three")
	d2 := startDispatcherIn(t, d1.addr, store)
	cfg.DataDir = t.TempDir() // the observer's state is gone
	o2 := startObserver(t, cfg)
	d2.waitJob(t, c3, o2.log.dump)
	marker := g.commit("marker")
	d2.waitJob(t, marker, o2.log.dump)
	o2.log.checkSubmitted(t, want{c2, "main"}, want{c3, "main"}, want{marker, "main"})
	if n := o2.log.count("resuming from the dispatcher's position"); n != 1 {
		t.Errorf("%d resumptions from the dispatcher's position, want 1\n%s", n, o2.log.dump())
	}
}
