package auth

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MinTokenLen is the shortest token a token file may hold: a token is all that
// stands between the network and the roles it grants.
const MinTokenLen = 16

// Line is one credential of a token file, as LoadFile reports it for the log.
type Line struct {
	N int // the line number
	Credential
}

// LoadFile reads a token file and, when it is good, makes its lines the keyring's
// tokens in place of the previous file's; a bad file changes nothing. Each line is
// "ROLES TOKEN" (ROLES a comma-separated subset of runner, observer, console and
// console-readonly); blank lines and lines starting with # are skipped. An error
// names the file and line, never the token.
func (k *Keyring) LoadFile(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	var es []entry
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want ROLES TOKEN (two fields), got %d fields", path, n, len(fields))
		}
		roles, err := ParseRoles(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		token := fields[1]
		if len(token) < MinTokenLen {
			return nil, fmt.Errorf("%s:%d: the token is %d characters, want at least %d (for example: openssl rand -hex 32)", path, n, len(token), MinTokenLen)
		}
		h := sha256.Sum256([]byte(token))
		if prev, dup := seen[h]; dup {
			return nil, fmt.Errorf("%s:%d: the same token as line %d", path, n, prev)
		}
		if k.shared != nil && k.shared.hash == h {
			return nil, fmt.Errorf("%s:%d: the same token as --token, which admits every role already", path, n)
		}
		seen[h] = n
		es = append(es, entry{hash: h, cred: Credential{ID: k.idOf(h), Roles: roles}, line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line too long", path, n+1)
		}
		return nil, fmt.Errorf("token file: %w", err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%s: no credentials in it (want lines of ROLES TOKEN)", path)
	}
	k.file.Store(&es)
	lines := make([]Line, len(es))
	for i, e := range es {
		lines[i] = Line{N: e.line, Credential: e.cred}
	}
	return lines, nil
}
