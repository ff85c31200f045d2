package gitrepo

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

func TestGitDirs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := newTestRepo(t)
	repo.Commit("one", nil)
	linked := filepath.Join(t.TempDir(), "linked")
	repo.Git("worktree", "add", "--quiet", "-b", "wt", linked)
	bare := filepath.Join(t.TempDir(), "bare.git")
	testkit.Git(t, "", "clone", "--quiet", "--bare", repo.Dir, bare)
	dotGit := filepath.Join(repo.Dir, ".git")

	for _, tc := range []struct {
		name, path, gitDir, commonDir string
	}{
		{"work tree", repo.Dir, dotGit, dotGit},
		{"path not clean", filepath.Join(repo.Dir, ".git", "..", "."), dotGit, dotGit},
		{"linked worktree", linked, filepath.Join(dotGit, "worktrees", "linked"), dotGit},
		{"bare", bare, bare, bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gitDir, commonDir, err := GitDirs(ctx, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if gitDir != tc.gitDir || commonDir != tc.commonDir {
				t.Errorf("GitDirs(%s) = %s, %s; want %s, %s", tc.path, gitDir, commonDir, tc.gitDir, tc.commonDir)
			}
		})
	}
}

// Inside a git hook GIT_DIR and friends name the hook's repository; GitDirs
// must still answer for the one it was given.
func TestGitDirsIgnoresRedirections(t *testing.T) {
	// Not parallel: t.Setenv changes the environment every git command inherits.
	repo := newTestRepo(t)
	repo.Commit("one", nil)
	other := newTestRepo(t)
	t.Setenv("GIT_DIR", filepath.Join(other.Dir, ".git"))
	t.Setenv("GIT_COMMON_DIR", filepath.Join(other.Dir, ".git"))
	t.Setenv("GIT_WORK_TREE", other.Dir)
	gitDir, commonDir, err := GitDirs(context.Background(), repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(repo.Dir, ".git")
	if gitDir != want || commonDir != want {
		t.Errorf("GitDirs with GIT_DIR set elsewhere = %s, %s; want %s for both", gitDir, commonDir, want)
	}
}

func TestGitDirsErrors(t *testing.T) {
	t.Parallel()
	plain := t.TempDir()
	_, _, err := GitDirs(context.Background(), plain)
	if err == nil || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("GitDirs of a plain directory: %v; want an error naming it and saying why", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	repo := newTestRepo(t)
	if _, _, err := GitDirs(ctx, repo.Dir); !errors.Is(err, context.Canceled) {
		t.Errorf("GitDirs with a cancelled context: %v; want context.Canceled", err)
	}
}
