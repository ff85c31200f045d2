package repoallow

import (
	"errors"
	"testing"
)

func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/srv/git/app", "/srv/git/app"},
		{"/srv/git/app/", "/srv/git/app"},
		{"/srv/git/app.git", "/srv/git/app"},
		{"/srv/git/app.git/", "/srv/git/app"},
		{"/srv/git/app/.git", "/srv/git/app"},
		{"/srv//git/./app", "/srv/git/app"},
		{"file:///srv/git/app", "/srv/git/app"},
		{"file://localhost/srv/git/app.git", "/srv/git/app"},
		{"HTTPS://Git.Example.COM/Team/App.git", "https://git.example.com/Team/App"},
		{"https://user@git.example.com/team/app/", "https://git.example.com/team/app"},
		{"ssh://git@host:2222/team/app.git", "ssh://host:2222/team/app"},
		{"git@GitHub.com:team/app.git", "github.com:team/app"},
		{"git@host:/abs/app", "host:/abs/app"},
	} {
		got, err := Canonical(c.in)
		if err != nil || got != c.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"/srv/git/../etc", "file:///srv/git/a/../../etc", "https://h/team/../x", "https://h/team/%2e%2e/x",
		"git@host:team/../x", "file://otherhost/x", "https://h/x?q=1", "relative/path",
	} {
		if got, err := Canonical(bad); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := Canonical("/a/../b"); !errors.Is(err, ErrDotDot) {
		t.Errorf(`"/a/../b": %v, want ErrDotDot`, err)
	}
}

func TestAllows(t *testing.T) {
	l, err := New([]string{"/srv/git/*", "https://git.example.com/team/*", "file:///home/ci/one.git/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		loc  string
		want bool
	}{
		{"/srv/git/app", true},
		{"/srv/git/app.git", true},
		{"file:///srv/git/app/", true},
		{"/srv/git/team/app", false}, // * does not cross /
		{"/srv/git", false},
		{"/srv/gitx/app", false},
		{"HTTPS://GIT.EXAMPLE.COM/team/app.git", true},
		{"https://git.example.com/Team/app", false}, // the path keeps its case
		{"https://git.example.com/team/sub/app", false},
		{"http://git.example.com/team/app", false},
		{"https://evil.example.com/team/app", false},
		{"/home/ci/one", true},
		{"/home/ci/one/.git", true},
		{"/home/ci/two", false},
	} {
		got, err := l.Allows(c.loc)
		if err != nil || got != c.want {
			t.Errorf("Allows(%q) = %v, %v; want %v", c.loc, got, err, c.want)
		}
	}
	if ok, err := l.Allows("/srv/git/x/../../../etc"); ok || !errors.Is(err, ErrDotDot) {
		t.Errorf("a location with .. is %v, %v; want refused with ErrDotDot", ok, err)
	}
	var none *List
	if ok, err := none.Allows("/anything/../at/all"); !ok || err != nil {
		t.Errorf("no patterns: %v, %v; want every location allowed", ok, err)
	}
	for _, bad := range []string{"/srv/[git", "/srv/../x", "not-a-location"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q): want an error", bad)
		}
	}
}
