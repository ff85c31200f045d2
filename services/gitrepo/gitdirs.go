package gitrepo

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// GitDirs returns the git directory (where HEAD is) and the common directory
// (where refs and packed-refs are) of the local repository at path, both
// absolute and clean. They differ only for a linked worktree; for a bare
// repository both are path itself. It is for a caller that watches those
// files, as the observer does, and runs git like everything else here: with
// no repository-redirecting variable inherited.
func GitDirs(ctx context.Context, path string) (gitDir, commonDir string, err error) {
	out, err := git(ctx, path, "rev-parse", "--absolute-git-dir", "--git-common-dir")
	if err != nil {
		return "", "", fmt.Errorf("gitrepo: find the git directory of %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return "", "", fmt.Errorf("gitrepo: find the git directory of %s: unexpected output %q", path, out)
	}
	gitDir, commonDir = lines[0], lines[1]
	// --git-common-dir is relative to the directory git ran in, unless absolute.
	if !filepath.IsAbs(commonDir) {
		commonDir = filepath.Join(path, commonDir)
	}
	return filepath.Clean(gitDir), filepath.Clean(commonDir), nil
}
