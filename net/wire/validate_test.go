package wire

import (
	"strings"
	"testing"
	"time"
)

func TestCheckRepo(t *testing.T) {
	good := []string{"/srv/repo", "file:///srv/repo", "https://example.com/a/b.git", "ssh://git@h/x", "git@github.com:a/b.git"}
	bad := []string{"", "relative/path", "../../etc/passwd", "--upload-pack=x", "-oProxyCommand=x",
		"ext::sh -c touch% /tmp/pwned", "fd::3", "/srv/repo\n--x", "file://", strings.Repeat("/a", 2000)}
	for _, s := range good {
		if err := CheckRepo(s); err != nil {
			t.Errorf("CheckRepo(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range bad {
		if err := CheckRepo(s); err == nil {
			t.Errorf("CheckRepo(%q) accepted", s)
		}
	}
}

func TestValidCommit(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("a", 40): true, strings.Repeat("0", 64): true,
		strings.Repeat("A", 40): false, strings.Repeat("a", 39): false, strings.Repeat("a", 41): false,
		"../../etc/passwd": false, "--upload-pack=x": false, "HEAD": false, "": false,
		strings.Repeat("a", 40) + "\n": false,
	} {
		if got := ValidCommit(s); got != want {
			t.Errorf("ValidCommit(%q) = %v", s, got)
		}
	}
}

func TestPayloadValidation(t *testing.T) {
	c := strings.Repeat("b", 40)
	now := time.Now()
	cases := []struct {
		name string
		v    interface{ Validate() error }
		ok   bool
	}{
		{"runner hello", &Hello{Role: RoleRunner, Name: "host-12", Slots: 2, Labels: []string{"os=linux"}}, true},
		{"observer hello", &Hello{Role: RoleObserver, Name: "obs"}, true},
		{"bad role", &Hello{Role: "admin", Name: "x", Slots: 1}, false},
		{"runner without slots", &Hello{Role: RoleRunner, Name: "x"}, false},
		{"observer with slots", &Hello{Role: RoleObserver, Name: "x", Slots: 1}, false},
		{"name with slash", &Hello{Role: RoleObserver, Name: "../x"}, false},
		{"bad label", &Hello{Role: RoleRunner, Name: "x", Slots: 1, Labels: []string{"a b"}}, false},
		{"submit", &Submit{Repo: "/r", Commit: c, Branch: "main"}, true},
		{"submit traversal", &Submit{Repo: "/r", Commit: "../../tmp/pwned"}, false},
		{"submit option", &Submit{Repo: "--upload-pack=x", Commit: c}, false},
		{"submit branch option", &Submit{Repo: "/r", Commit: c, Branch: "--force"}, false},
		{"assign", &Assign{JobID: "00112233445566aa", Attempt: 1, Repo: "/r", Commit: c}, true},
		{"assign attempt 0", &Assign{JobID: "00112233445566aa", Attempt: 0, Repo: "/r", Commit: c}, false},
		{"assign bad id", &Assign{JobID: "../x", Attempt: 1, Repo: "/r", Commit: c}, false},
		{"result", &Result{JobID: "00112233445566aa", Attempt: 2, Status: StatusFailed, StartedAt: now, FinishedAt: now,
			Summary: Summary{Passed: 1, Failed: 1, Failing: []string{"test_bad (t.T.test_bad)"}}}, true},
		{"result bad status", &Result{JobID: "00112233445566aa", Attempt: 1, Status: "great"}, false},
		{"result newline name", &Result{JobID: "00112233445566aa", Attempt: 1, Status: StatusFailed,
			Summary: Summary{Failing: []string{"a\nStatus: passed"}}}, false},
		{"result negative", &Result{JobID: "00112233445566aa", Attempt: 1, Status: StatusPassed, Summary: Summary{Passed: -1}}, false},
		{"output too big", &Output{JobID: "00112233445566aa", Attempt: 1, Data: strings.Repeat("x", MaxChunkSize+1)}, false},
	}
	for _, tc := range cases {
		if err := tc.v.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
