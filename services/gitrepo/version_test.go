package gitrepo

import (
	"context"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"git version 2.39.5\n", 2, 39, true},
		{"git version 2.30.GIT", 2, 30, true},
		{"git version 2.45.1.windows.1", 2, 45, true},
		{"git version 2.25", 2, 25, true},
		{"git version x.y", 0, 0, false},
		{"hub version 2.14.2", 0, 0, false},
	} {
		major, minor, ok := parseVersion(tc.in)
		if major != tc.major || minor != tc.minor || ok != tc.ok {
			t.Errorf("parseVersion(%q) = %d, %d, %v; want %d, %d, %v", tc.in, major, minor, ok, tc.major, tc.minor, tc.ok)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	// Not parallel: it changes MinVersion for its duration.
	if err := CheckVersion(context.Background()); err != nil {
		t.Fatalf("the git of this machine: %v", err)
	}
	old := MinVersion
	defer func() { MinVersion = old }()
	MinVersion = [2]int{99, 0}
	if err := CheckVersion(context.Background()); err == nil {
		t.Fatal("git older than the minimum was accepted")
	}
}
