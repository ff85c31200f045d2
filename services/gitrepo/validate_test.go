package gitrepo

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidCommit(t *testing.T) {
	t.Parallel()
	sha1 := strings.Repeat("0123456789", 4)
	sha256 := strings.Repeat("abcdef0123456789", 4)
	tests := []struct {
		in   string
		want bool
	}{
		{sha1, true},
		{sha256, true},
		{strings.Repeat("f", 40), true},
		{"", false},
		{sha1[:39], false},
		{sha1 + "0", false},
		{sha256[:63], false},
		{strings.ToUpper(strings.Repeat("abcdef", 7)[:40]), false},
		{strings.Repeat("g", 40), false},
		{"HEAD", false},
		{"main", false},
		{"--upload-pack=x" + strings.Repeat("0", 25), false},
		{sha1[:20] + " " + sha1[21:], false},
		{sha1[:39] + "\n", false},
		{sha1 + "^{tree}", false},
	}
	for _, tt := range tests {
		if got := ValidCommit(tt.in); got != tt.want {
			t.Errorf("ValidCommit(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckRepoURL(t *testing.T) {
	t.Parallel()
	good := []string{
		"/srv/git/project.git",
		"/home/me/My Projects/repo",
		"/srv/../srv/repo",
		"file:///srv/git/project.git",
		"file://localhost/srv/git/project.git",
		"http://git.example.com/project.git",
		"https://github.com/eventide-ci/eventide.git",
		"https://user:token@example.com/p.git",
		"ssh://git@example.com:2222/project.git",
		"ssh://[2001:db8:0:0:0:0:0:1]/project.git",
		"git://example.com/project.git",
		"git@github.com:eventide-ci/eventide.git",
		"deploy.bot@git-server.internal:/srv/project",
	}
	for _, s := range good {
		if err := CheckRepoURL(s); err != nil {
			t.Errorf("CheckRepoURL(%q) = %v, want nil", s, err)
		}
	}

	bad := []string{
		"",
		"../../etc/passwd",
		"relative/repo",
		".",
		"--upload-pack=x",
		"-oProxyCommand=touch x",
		"ext::sh -c touch x",
		"ext::sh -c touch% x",
		"fd::17",
		"/srv/a::b",
		"https://example.com/repo.git\n--upload-pack=touch x",
		"https://example.com/repo.git\r",
		"/srv/repo\n",
		"/srv/re\tpo",
		"/srv/repo\u2028",
		"/srv/repo\u0085",
		"/srv/repo\x00",
		"/srv/repo\x7f",
		"https://example.com/a b.git",
		"ftp://example.com/repo.git",
		"HTTPS://example.com/repo.git",
		"javascript://x/y",
		"https:///repo.git",
		"https://-oProxyCommand=x/repo",
		"ssh://-oProxyCommand=touch@x/repo",
		"ssh://-host/repo",
		"file://otherhost/srv/repo",
		"file://relative",
		"host:repo",
		"@host:repo",
		"user@:repo",
		"user@host:",
		"user@-oProxyCommand=x:repo",
		"user@host/x:repo",
		"C:\\repos\\project",
		"/srv/" + strings.Repeat("x", 2044),
		"\xff/srv/repo",
	}
	for _, s := range bad {
		err := CheckRepoURL(s)
		if !errors.Is(err, ErrBadRepo) {
			t.Errorf("CheckRepoURL(%q) = %v, want ErrBadRepo", s, err)
			continue
		}
		if len(s) < 80 && !strings.Contains(err.Error(), strconv.Quote(s)) {
			t.Errorf("CheckRepoURL(%q) = %q, does not name the value", s, err)
		}
	}

	// The limit is on bytes and inclusive.
	if s := "/" + strings.Repeat("x", maxURLLen-1); CheckRepoURL(s) != nil {
		t.Errorf("CheckRepoURL of %d bytes failed", len(s))
	}
	long := "/" + strings.Repeat("x", 10000)
	if err := CheckRepoURL(long); err == nil || len(err.Error()) > 300 {
		t.Errorf("CheckRepoURL of 10001 bytes = %d-byte error %.100q..., want a short one", len(err.Error()), err)
	}
}

func TestDisplayArgsHidesPasswords(t *testing.T) {
	t.Parallel()
	got := displayArgs([]string{"clone", "--", "https://bot:s3cret@example.com/p.git", "/tmp/x"})
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "bot:xxxxx@example.com") {
		t.Errorf("displayArgs = %q, want password redacted", got)
	}
}

func TestCapMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxMessageBytes) // 2 bytes each
	got := capMessage("  " + long + "  ")
	if len(got) > MaxMessageBytes || !strings.HasPrefix(long, got) || len(got) < MaxMessageBytes-1 {
		t.Errorf("capMessage: got %d bytes, want a prefix of at most %d whole characters", len(got), MaxMessageBytes)
	}
	if got := capMessage("\n subject\n\nbody\n\n"); got != "subject\n\nbody" {
		t.Errorf("capMessage = %q", got)
	}
	if got := capMessage("bad \xff byte"); got != "bad \uFFFD byte" {
		t.Errorf("capMessage = %q", got)
	}
}

func TestTrimStderr(t *testing.T) {
	t.Parallel()
	got := trimStderr([]byte("fatal: one\r\nremote: evil\x1b[31m\n\n  fatal: two  \n"))
	if want := "fatal: one; remote: evil [31m; fatal: two"; got != want {
		t.Errorf("trimStderr = %q, want %q", got, want)
	}
	long := trimStderr([]byte(strings.Repeat("é", maxStderr) + "fatal: the end"))
	if !strings.HasPrefix(long, "...") || !strings.HasSuffix(long, "fatal: the end") || len(long) > maxStderr+3 || !utf8.ValidString(long) {
		t.Errorf("trimStderr of long input = %d bytes %.20q...", len(long), long)
	}
}
