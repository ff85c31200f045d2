package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The demo's sample project: one test that passes, one that fails while the file
// BROKEN exists, and one that takes a few seconds, so that a newcomer sees every
// state go by.
var demoFiles = map[string]string{
	"README.md":         "# eventide demo\n\nA throwaway repository made by `eventide --demo`.\n",
	"calc.py":           "def add(a, b):\n    return a + b\n",
	"tests/__init__.py": "",
	"tests/test_calc.py": `import os
import time
import unittest

import calc

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CalcTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(calc.add(2, 3), 5)

    def test_not_broken(self):
        self.assertFalse(os.path.exists(os.path.join(HERE, "BROKEN")), "the BROKEN file is in this commit")

    def test_slow(self):
        time.sleep(3)
        self.assertEqual(calc.add(-1, 1), 0)
`,
}

// prepareDemo points o at a throwaway sample repository and data directory,
// removed by cleanup, with two runners and (unless --port was given) a free
// port, so that a demo does not clash with a real dispatcher.
func prepareDemo(ctx context.Context, o *options) (cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "eventide-demo-")
	if err != nil {
		return nil, err
	}
	repo, err := makeDemoRepo(ctx, filepath.Join(tmp, "repo"))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	o.Repo, o.DataDir, o.ResultsDir = repo, filepath.Join(tmp, "data"), filepath.Join(tmp, "test_results")
	if o.Runners == 0 {
		o.Runners = 2
	}
	if !o.portSet {
		o.Port = 0
	}
	return func() { os.RemoveAll(tmp) }, nil
}

// makeDemoRepo creates the sample repository in dir with its first commit.
func makeDemoRepo(ctx context.Context, dir string) (string, error) {
	for name, body := range demoFiles {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	if err := demoGit(ctx, dir, "init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	if err := demoCommit(ctx, dir, "Start the demo project"); err != nil {
		return "", err
	}
	return dir, nil
}

// demoCommits makes a commit every few seconds until ctx ends, breaking and fixing
// the project in turn.
func demoCommits(ctx context.Context, dir string, log *slog.Logger) {
	t := time.NewTicker(6 * time.Second)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		broken := filepath.Join(dir, "BROKEN")
		msg := fmt.Sprintf("Fix the build (%d)", n)
		if n%2 == 1 {
			os.WriteFile(broken, []byte("this commit fails test_not_broken\n"), 0o644)
			msg = fmt.Sprintf("Break the build (%d)", n)
		} else {
			os.Remove(broken)
		}
		if err := demoCommit(ctx, dir, msg); err != nil && ctx.Err() == nil {
			log.Error("demo commit", "err", err)
		}
	}
}

func demoCommit(ctx context.Context, dir, msg string) error {
	if err := demoGit(ctx, dir, "add", "-A"); err != nil {
		return err
	}
	return demoGit(ctx, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

func demoGit(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Eventide Demo", "GIT_AUTHOR_EMAIL=demo@eventide.invalid",
		"GIT_COMMITTER_NAME=Eventide Demo", "GIT_COMMITTER_EMAIL=demo@eventide.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return nil
}
