package testrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// User is who a job runs as when that is not the runner's own user
// (Options.User): its processes get the user's ids and groups, so they
// cannot read what only the runner's user may, such as its identity.
type User struct {
	Name   string   `json:"name"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"` // supplementary
	Home   string   `json:"home,omitempty"`
}

// LookupUser finds a user by name or numeric id in the system's user database.
func LookupUser(name string) (*User, error) {
	u, err := user.Lookup(name)
	if _, unknown := errors.AsType[user.UnknownUserError](err); unknown {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("job user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("job user %q: ids %s:%s are not numbers: %w", name, u.Uid, u.Gid, err)
	}
	out := &User{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("job user %q: its groups: %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != out.GID {
			out.Groups = append(out.Groups, uint32(n))
		}
	}
	return out, nil
}

// credential is what a job's process gets instead of the runner's ids.
func (u *User) credential() *syscall.Credential {
	// Groups must be set even when empty: left nil, the runner's own
	// supplementary groups (root's) would stay with the job.
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32{}, u.Groups...)}
}

// Own gives dir and everything in it to the user, so that the job can
// change its worktree as it would its own checkout. Symbolic links are
// changed themselves, never what they point to.
func (u *User) Own(dir string) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("giving %s to job user %s: %w", path, u.Name, err)
		}
		return nil
	})
}

// CheckReach says whether the user may go through every directory from the
// root down to dir (search permission by mode bits; ACLs are not read): a
// job's worktree there must be reachable by its absolute path.
func (u *User) CheckReach(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // no owners to compare: nothing to say
		}
		mode := fi.Mode().Perm()
		var x fs.FileMode = 0o001
		switch {
		case st.Uid == u.UID:
			x = 0o100
		case st.Gid == u.GID || slices.Contains(u.Groups, st.Gid):
			x = 0o010
		}
		if mode&x == 0 {
			return fmt.Errorf("job user %s cannot reach %s: %s is mode %04o, owned by %d:%d", u.Name, abs, d, mode, st.Uid, st.Gid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
