package gitrepo

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// history is a local repository shaped like this, with main checked out:
//
//	A - B - C ------ M   main
//	     \          /
//	      D ---- E       feature
type history struct {
	repo             *testRepo
	a, b, c, d, e, m string
}

func newHistory(t *testing.T) *history {
	t.Helper()
	r := newTestRepo(t)
	h := &history{repo: r}
	h.a = r.Commit("A", map[string]string{"a": "a"})
	h.b = r.Commit("B", map[string]string{"b": "b"})
	r.Git("branch", "feature")
	h.c = r.Commit("C", map[string]string{"c": "c"})
	r.Git("checkout", "--quiet", "feature")
	h.d = r.Commit("D", map[string]string{"d": "d"})
	h.e = r.Commit("E", map[string]string{"e": "e"})
	r.Git("checkout", "--quiet", "main")
	r.Git("merge", "--quiet", "--no-ff", "--message", "M", "feature")
	h.m = r.Git("rev-parse", "HEAD")
	return h
}

// name maps commit ids back to their letters for readable failures.
func (h *history) names(commits []Commit) string {
	letters := map[string]string{h.a: "A", h.b: "B", h.c: "C", h.d: "D", h.e: "E", h.m: "M"}
	var s []string
	for _, c := range commits {
		if l, ok := letters[c.ID]; ok {
			s = append(s, l)
		} else {
			s = append(s, c.ID)
		}
	}
	return strings.Join(s, " ")
}

func openRepo(t *testing.T, urlOrPath string) *Repo {
	t.Helper()
	r, err := Open(context.Background(), urlOrPath, filepath.Join(t.TempDir(), "mirrors"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBranches(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	// A tag named like a branch makes %(refname:short) say "heads/main".
	h.repo.Git("tag", "main", h.a)
	h.repo.Git("branch", "release/v1", h.b)
	r := openRepo(t, h.repo.Dir)
	got, err := r.Branches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"main": h.m, "feature": h.e, "release/v1": h.b}
	if !maps.Equal(got, want) {
		t.Errorf("Branches = %v, want %v", got, want)
	}
}

func TestRefsNamesHeadBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	h.repo.Git("branch", "release/v1", h.b)
	r := openRepo(t, h.repo.Dir)
	for _, tc := range []struct{ checkout, want string }{
		{"release/v1", "release/v1"},
		{"main", "main"},
		{"--detach", ""},
	} {
		h.repo.Git("checkout", "--quiet", tc.checkout)
		branches, head, err := r.Refs(ctx)
		if err != nil || head != tc.want || len(branches) != 3 {
			t.Errorf("after checkout %s: Refs = %v, %q, %v; want 3 branches and HEAD on %q", tc.checkout, branches, head, err, tc.want)
		}
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	r := openRepo(t, h.repo.Dir)
	if branch, commit, err := r.Head(ctx); err != nil || branch != "main" || commit != h.m {
		t.Errorf("Head = %q, %s, %v; want main, %s", branch, commit, err, h.m)
	}
	h.repo.Git("checkout", "--quiet", "--detach", h.b)
	if branch, commit, err := r.Head(ctx); err != nil || branch != "" || commit != h.b {
		t.Errorf("detached Head = %q, %s, %v; want \"\", %s", branch, commit, err, h.b)
	}

	empty := openRepo(t, newTestRepo(t).Dir)
	if _, _, err := empty.Head(ctx); !errors.Is(err, ErrEmptyRepo) {
		t.Errorf("Head of empty repository = %v, want ErrEmptyRepo", err)
	}
	if b, err := empty.Branches(ctx); err != nil || len(b) != 0 {
		t.Errorf("Branches of empty repository = %v, %v", b, err)
	}
}

func TestNewCommits(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	r := openRepo(t, h.repo.Dir)
	tests := []struct {
		name    string
		tip     string
		exclude []string
		limit   int
		want    string
	}{
		{"whole history", h.c, nil, 0, "A B C"},
		{"excluding an ancestor", h.c, []string{h.a}, 0, "B C"},
		{"other branch's tip excludes shared history", h.e, []string{h.c}, 0, "D E"},
		{"two exclusions", h.c, []string{h.e, h.a}, 0, "C"},
		{"tip excluded", h.c, []string{h.c}, 0, ""},
		{"limit keeps the newest", h.c, nil, 2, "B C"},
		{"limit with exclusion", h.e, []string{h.a}, 1, "E"},
		{"limit above count", h.c, []string{h.a}, 10, "B C"},
		{"merge brings in the branch", h.m, []string{h.c}, 0, "D E M"},
		{"merge from the branch's view", h.m, []string{h.e}, 0, "C M"},
		{"merge limited", h.m, []string{h.c}, 2, "E M"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.NewCommits(context.Background(), tt.tip, tt.exclude, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if h.names(got) != tt.want {
				t.Errorf("NewCommits = %q, want %q", h.names(got), tt.want)
			}
		})
	}

	// Oldest first means every commit comes after its parents.
	all, err := r.NewCommits(context.Background(), h.m, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range all {
		for _, p := range strings.Fields(h.repo.Git("rev-list", "--parents", "-n1", c.ID))[1:] {
			if !seen[p] {
				t.Errorf("%s listed before its parent %s in %s", c.ID, p, h.names(all))
			}
		}
		seen[c.ID] = true
	}
	if len(all) != 6 || all[5].ID != h.m || all[5].Message != "M" {
		t.Errorf("full history = %s, want 6 commits ending in the merge", h.names(all))
	}
}

func TestNewCommitsAfterForcePush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	h.repo.Git("checkout", "--quiet", "-b", "topic", h.c)
	lost := h.repo.Commit("lost", nil)
	// Force-push: topic is rewritten, and garbage collection deletes the
	// old tip the observer remembered.
	h.repo.Git("reset", "--quiet", "--hard", h.c)
	fresh := h.repo.Commit("fresh", nil)
	h.repo.Git("reflog", "expire", "--expire=now", "--all")
	h.repo.Git("gc", "--quiet", "--prune=now")
	if !gitFails(h.repo.Dir, "cat-file", "-e", lost) {
		t.Fatal("old tip survived gc; the test would prove nothing")
	}

	r := openRepo(t, h.repo.Dir)
	got, err := r.NewCommits(ctx, fresh, []string{lost, h.c}, 0)
	if err != nil {
		t.Fatalf("NewCommits with a vanished exclusion: %v", err)
	}
	if len(got) != 1 || got[0].ID != fresh {
		t.Errorf("NewCommits = %s, want only the fresh commit", h.names(got))
	}
	// With only the vanished exclusion, everything is new.
	got, err = r.NewCommits(ctx, fresh, []string{lost}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3].ID != fresh {
		t.Errorf("NewCommits = %s, want A B C fresh", h.names(got))
	}
}

func TestNewCommitsRejectsBadIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	r := openRepo(t, h.repo.Dir)
	if _, err := r.NewCommits(ctx, "main", nil, 0); !errors.Is(err, ErrBadCommit) {
		t.Errorf("NewCommits(main) = %v, want ErrBadCommit", err)
	}
	if _, err := r.NewCommits(ctx, h.c, []string{"--all"}, 0); !errors.Is(err, ErrBadCommit) {
		t.Errorf("NewCommits excluding --all = %v, want ErrBadCommit", err)
	}
	unknown := strings.Repeat("ab", 20)
	if _, err := r.NewCommits(ctx, unknown, nil, 0); !errors.Is(err, ErrCommitNotFound) {
		t.Errorf("NewCommits of unknown tip = %v, want ErrCommitNotFound", err)
	}
}

func TestCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := newTestRepo(t)
	msg := "  Fix the frobnicator\n\nIt was \x1e broken; see\tdetails.\n\n"
	repo.Git("commit", "--quiet", "--allow-empty", "--author=Zoë Example <zoe@example.com>",
		"--date=2024-03-01T12:34:56+02:00", "--message", msg)
	id := repo.Git("rev-parse", "HEAD")
	long := strings.Repeat("é", MaxMessageBytes)
	repo.Git("commit", "--quiet", "--allow-empty", "--message", long)
	longID := repo.Git("rev-parse", "HEAD")

	r := openRepo(t, repo.Dir)
	got, err := r.Commit(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantTime := time.Date(2024, 3, 1, 12, 34, 56, 0, time.FixedZone("", 2*3600))
	if got.ID != id || got.Author != "Zoë Example <zoe@example.com>" ||
		got.Message != "Fix the frobnicator\n\nIt was \x1e broken; see\tdetails." || !got.Time.Equal(wantTime) {
		t.Errorf("Commit = %+v", got)
	}
	if _, off := got.Time.Zone(); off != 2*3600 {
		t.Errorf("Commit time zone offset = %d, want the author's +02:00", off)
	}

	got, err = r.Commit(ctx, longID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Message) > MaxMessageBytes || !strings.HasPrefix(long, got.Message) || len(got.Message) < MaxMessageBytes-1 {
		t.Errorf("long message came back as %d bytes", len(got.Message))
	}

	if _, err := r.Commit(ctx, strings.Repeat("0", 40)); !errors.Is(err, ErrCommitNotFound) {
		t.Errorf("Commit of unknown id = %v, want ErrCommitNotFound", err)
	}
	tree := repo.Git("rev-parse", "HEAD^{tree}")
	if _, err := r.Commit(ctx, tree); !errors.Is(err, ErrCommitNotFound) {
		t.Errorf("Commit of a tree = %v, want ErrCommitNotFound", err)
	}
	if _, err := r.Commit(ctx, "HEAD"); !errors.Is(err, ErrBadCommit) {
		t.Errorf("Commit(HEAD) = %v, want ErrBadCommit", err)
	}
}

func TestOpenLocal(t *testing.T) {
	// Not parallel: t.Chdir changes the working directory of the whole process.
	ctx := context.Background()
	repo := newTestRepo(t)
	c1 := repo.Commit("one", nil)

	t.Chdir(filepath.Dir(repo.Dir))
	r, err := Open(ctx, "repo", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.URL() != repo.Dir {
		t.Errorf("URL() = %q, want the absolute path %q", r.URL(), repo.Dir)
	}
	// A local repository needs no Refresh to see new commits.
	c2 := repo.Commit("two", nil)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := r.NewCommits(ctx, c2, []string{c1}, 0); err != nil || len(got) != 1 || got[0].ID != c2 {
		t.Errorf("NewCommits = %v, %v; want the new commit", got, err)
	}

	bare := filepath.Join(t.TempDir(), "bare.git")
	testkit.Git(t, "", "clone", "--quiet", "--bare", repo.Dir, bare)
	rb := openRepo(t, bare)
	if branch, commit, err := rb.Head(ctx); err != nil || branch != "main" || commit != c2 {
		t.Errorf("Head of bare repository = %q, %s, %v", branch, commit, err)
	}
}

func TestOpenNotRepo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := newTestRepo(t)
	repo.Commit("one", map[string]string{"file": "x"})
	subdir := filepath.Join(repo.Dir, "sub")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing":           filepath.Join(t.TempDir(), "missing"),
		"plain directory":   t.TempDir(),
		"file":              filepath.Join(repo.Dir, "file"),
		"inside a git repo": subdir,
	} {
		_, err := Open(ctx, path, t.TempDir())
		if !errors.Is(err, ErrNotRepo) {
			t.Errorf("Open(%s) = %v, want ErrNotRepo", name, err)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %q, does not name the path", name, err)
		}
	}
	for _, bad := range []string{"https://example.com/a b", "ftp://example.com/x", "ext::sh -c touch% x", "https://example.com/x\n"} {
		if _, err := Open(ctx, bad, t.TempDir()); !errors.Is(err, ErrBadRepo) {
			t.Errorf("Open(%q) = %v, want ErrBadRepo", bad, err)
		}
	}
	if _, err := Open(ctx, repo.url(), ""); err == nil {
		t.Error("Open of a URL without a mirror root succeeded")
	}
}
