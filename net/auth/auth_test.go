package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

const (
	tokRunner   = "runner-token-0123456789"
	tokObserver = "observer-token-0123456789"
	tokWatcher  = "watcher-token-0123456789"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileAndLookup(t *testing.T) {
	k := NewKeyring("shared-secret")
	p := writeFile(t, "# runners\n"+
		"runner "+tokRunner+"\n\n"+
		"  observer,console-readonly   "+tokObserver+"  \n"+
		"console-readonly "+tokWatcher+"\n")
	lines, err := k.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[0].N != 2 || lines[1].N != 4 || lines[2].N != 5 {
		t.Fatalf("lines %+v", lines)
	}
	for _, c := range []struct {
		token string
		role  string
		admit bool
	}{
		{tokRunner, wire.RoleRunner, true},
		{tokRunner, wire.RoleObserver, false},
		{tokRunner, wire.RoleConsole, false},
		{tokObserver, wire.RoleObserver, true},
		{tokObserver, wire.RoleConsole, true},
		{tokObserver, wire.RoleRunner, false},
		{tokWatcher, wire.RoleConsole, true},
		{"shared-secret", wire.RoleRunner, true},
		{"shared-secret", wire.RoleConsole, true},
	} {
		cred, ok := k.Lookup(c.token)
		if !ok {
			t.Fatalf("token of %s not found", c.role)
		}
		if cred.Roles.Admits(c.role) != c.admit {
			t.Errorf("%s (%s) admits %s: %v, want %v", cred.ID, cred.Roles, c.role, !c.admit, c.admit)
		}
		if strings.Contains(cred.ID, c.token) {
			t.Errorf("id %q shows the token", cred.ID)
		}
	}
	if c, _ := k.Lookup(tokWatcher); !c.Roles.ReadOnly() {
		t.Error("console-readonly is not read-only")
	}
	if c, _ := k.Lookup("shared-secret"); c.ID != SharedID || c.Roles.ReadOnly() {
		t.Errorf("shared token: %+v", c)
	}
	for _, bad := range []string{"", "nope", tokRunner + "x"} {
		if _, ok := k.Lookup(bad); ok {
			t.Errorf("token %q admitted", bad)
		}
	}

	// Reload: ids are stable, a removed token is unknown, a bad file changes nothing.
	r1, _ := k.Lookup(tokRunner)
	o1, _ := k.Lookup(tokObserver)
	if _, err := k.LoadFile(writeFile(t, "runner,observer "+tokRunner+"\n")); err != nil {
		t.Fatal(err)
	}
	r2, _ := k.Lookup(tokRunner)
	if r2.ID != r1.ID || r2.Roles != Runner|Observer {
		t.Errorf("after reload %+v, before %+v", r2, r1)
	}
	if k.Known(o1.ID) || !k.Known(r1.ID) || !k.Known(SharedID) {
		t.Error("Known after reload is wrong")
	}
	if _, err := k.LoadFile(writeFile(t, "runner short\n")); err == nil {
		t.Fatal("a short token was accepted")
	}
	if _, ok := k.Lookup(tokRunner); !ok {
		t.Error("a bad file replaced the good one")
	}
}

func TestLoadFileErrors(t *testing.T) {
	secret := "s3cret-s3cret-s3cret"
	for _, c := range []struct{ text, want string }{
		{"runner\n", ":1: want ROLES TOKEN (two fields), got 1 fields"},
		{"# c\nrunner " + secret + " extra\n", ":2: want ROLES TOKEN (two fields), got 3 fields"},
		{secret + " runner\n", ":1: role 1 of the list is not one of runner, observer, console, console-readonly"},
		{"runner,obsrver " + secret + "\n", ":1: role 2 of the list"},
		{"runner, " + secret + "\n", ":1: role 2 of the list"},
		{"runner abc\n", ":1: the token is 3 characters, want at least 16"},
		{"runner " + secret + "\nconsole " + secret + "\n", ":2: the same token as line 1"},
		{"runner shared-secret-0123456789\n", ":1: the same token as --token"},
		{"# nothing\n\n", "no credentials"},
	} {
		k := NewKeyring("shared-secret-0123456789")
		p := writeFile(t, c.text)
		_, err := k.LoadFile(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p) {
			t.Errorf("%q: %v, want %s%s", c.text, err, p, c.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error shows the token: %v", c.text, err)
		}
	}
	if _, err := NewKeyring("").LoadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestOpen(t *testing.T) {
	k := NewKeyring("")
	c, ok := k.Lookup("anything")
	if !k.Open() || !ok || c.ID != OpenID || c.Roles != AllRoles {
		t.Errorf("no token: %+v %v", c, ok)
	}
}
