// Package auth holds the dispatcher's credentials: which tokens it accepts and,
// for each, the roles it admits (see --token and --token-file). A credential is
// known by an opaque id, for logs and quotas; the token itself is kept only as a
// hash and never logged.
package auth

import (
	"fmt"
	"strings"

	"github.com/eventide-ci/eventide/net/wire"
)

// Roles is a set of roles a credential admits.
type Roles uint8

// The roles a token-file line may grant. ConsoleReadOnly admits a console that
// may only watch: subscribe, list, get and read logs.
const (
	Runner Roles = 1 << iota
	Observer
	Console
	ConsoleReadOnly

	AllRoles = Runner | Observer | Console | ConsoleReadOnly
)

var roleNames = []struct {
	name string
	role Roles
}{
	{wire.RoleRunner, Runner},
	{wire.RoleObserver, Observer},
	{wire.RoleConsole, Console},
	{"console-readonly", ConsoleReadOnly},
}

// roleList is the roles' names, for messages.
const roleList = "runner, observer, console, console-readonly"

// ParseRoles reads a comma-separated list of roles. An unknown role is named by its
// position only: a line written the wrong way round has the token there.
func ParseRoles(s string) (Roles, error) {
	var rs Roles
	for i, f := range strings.Split(s, ",") {
		r := roleOf(f)
		if r == 0 {
			return 0, fmt.Errorf("role %d of the list is not one of %s", i+1, roleList)
		}
		rs |= r
	}
	return rs, nil
}

func roleOf(name string) Roles {
	for _, n := range roleNames {
		if n.name == name {
			return n.role
		}
	}
	return 0
}

func (r Roles) String() string {
	var names []string
	for _, n := range roleNames {
		if r&n.role != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Admits reports whether a client may say hello in role (one of wire's roles):
// console-readonly admits the console role, read-only. A role that is none of
// these is left to the dispatcher to refuse.
func (r Roles) Admits(role string) bool {
	switch role {
	case wire.RoleConsole:
		return r&(Console|ConsoleReadOnly) != 0
	case wire.RoleRunner, wire.RoleObserver:
		return r&roleOf(role) != 0
	}
	return true
}

// ReadOnly reports whether a console admitted with r may only watch.
func (r Roles) ReadOnly() bool { return r&Console == 0 }
