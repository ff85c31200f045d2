// Package repoallow decides which repository locations a dispatcher hands to its
// runners (--allow-repo): every runner clones and runs whatever location a job
// carries, so a client that may submit must not be able to name any location.
//
// Locations and patterns are compared in a canonical form, so that spellings of
// one repository agree: file:///x is /x; a trailing "/" or ".git" is dropped;
// a URL's scheme and host are lower-cased and its user dropped. A location with
// a ".." component is refused outright: cleaned, it would name another directory
// than the one git is given (symbolic links), and it is never needed.
package repoallow

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// ErrDotDot is the error of a location with a ".." component.
var ErrDotDot = errors.New(`a ".." component is not allowed`)

// List is a set of patterns; the zero List allows every location.
type List struct {
	patterns []pattern
}

type pattern struct {
	raw, canon string
}

// New checks and canonicalises patterns: each an exact location or a glob in
// path.Match's syntax, where "*" does not cross "/".
func New(patterns []string) (*List, error) {
	l := &List{}
	for _, p := range patterns {
		c, err := Canonical(p)
		if err != nil {
			return nil, fmt.Errorf("--allow-repo %q: %w", p, err)
		}
		if _, err := path.Match(c, ""); err != nil {
			return nil, fmt.Errorf("--allow-repo %q: %w", p, err)
		}
		l.patterns = append(l.patterns, pattern{raw: p, canon: c})
	}
	return l, nil
}

// Restricts reports whether l allows only some locations.
func (l *List) Restricts() bool { return l != nil && len(l.patterns) > 0 }

// Allows reports whether location matches one of the patterns (any location, for
// an empty List); the error says why a location cannot be matched at all.
func (l *List) Allows(location string) (bool, error) {
	if !l.Restricts() {
		return true, nil
	}
	c, err := Canonical(location)
	if err != nil {
		return false, err
	}
	for _, p := range l.patterns {
		if ok, _ := path.Match(p.canon, c); ok { // patterns were checked by New
			return true, nil
		}
	}
	return false, nil
}

// Canonical is the form in which locations are compared: an absolute path for a
// local repository (file:///x included), scheme://host/path for a URL and
// host:path for an scp-like address, without a trailing "/" or ".git".
func Canonical(location string) (string, error) {
	switch {
	case strings.Contains(location, "://"):
		u, err := url.Parse(location)
		if err != nil {
			return "", err
		}
		if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return "", fmt.Errorf("%q: a repository URL has no query or fragment", location)
		}
		scheme := strings.ToLower(u.Scheme)
		p, err := cleanPath(u.Path)
		if err != nil {
			return "", err
		}
		if scheme == "file" {
			if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
				return "", fmt.Errorf("%q: a file URL names no host other than localhost", location)
			}
			return p, nil
		}
		return scheme + "://" + strings.ToLower(u.Host) + p, nil
	case strings.HasPrefix(location, "/"):
		return cleanPath(location)
	}
	// scp-like: [user@]host:path
	host, p, ok := strings.Cut(location, ":")
	if !ok || p == "" {
		return "", fmt.Errorf("%q: want an absolute path, a URL or user@host:path", location)
	}
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	rel := !strings.HasPrefix(p, "/")
	c, err := cleanPath("/" + p)
	if err != nil {
		return "", err
	}
	if rel {
		c = c[1:]
	}
	return strings.ToLower(host) + ":" + c, nil
}

// cleanPath cleans an absolute path, refusing "..", and drops a trailing ".git".
func cleanPath(p string) (string, error) {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", ErrDotDot
		}
	}
	c := path.Clean("/" + p)
	if c != "/" {
		c = strings.TrimSuffix(c, ".git")
		c = strings.TrimSuffix(c, "/") // "/x/.git" is "/x"
	}
	if c == "" {
		c = "/"
	}
	return c, nil
}
