package gitrepo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MinVersion is the oldest git Eventide works with: fetch --no-write-fetch-head
// and --no-auto-maintenance, and git maintenance, came in 2.29.
var MinVersion = [2]int{2, 29}

// CheckVersion runs `git version` and returns an error that says what to do when
// git is missing or older than MinVersion.
func CheckVersion(ctx context.Context) error {
	out, err := git(ctx, "", "version")
	if err != nil {
		return fmt.Errorf("gitrepo: cannot run git (install git %d.%d or newer): %w", MinVersion[0], MinVersion[1], err)
	}
	major, minor, ok := parseVersion(string(out))
	if !ok {
		return fmt.Errorf("gitrepo: cannot read git's version from %q", strings.TrimSpace(string(out)))
	}
	if major < MinVersion[0] || major == MinVersion[0] && minor < MinVersion[1] {
		return fmt.Errorf("gitrepo: git %d.%d is too old: Eventide needs git %d.%d or newer", major, minor, MinVersion[0], MinVersion[1])
	}
	return nil
}

// parseVersion reads "git version 2.39.5" (and variants such as
// "2.39.5.windows.1" or "2.30.GIT").
func parseVersion(s string) (major, minor int, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(s), "git version ")
	if !found {
		return 0, 0, false
	}
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}
