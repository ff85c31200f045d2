package gitrepo

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/wire"
)

// maxURLLen bounds repository URLs: real ones are short, and a bound keeps
// hostile values out of command lines, logs and error messages.
const maxURLLen = 2048

// ValidCommit reports whether s is 40 or 64 lowercase hex characters: a full
// SHA-1 or SHA-256 object id. Such a value can never be mistaken by git for an
// option, a revision expression or a path, so it is safe on a command line.
func ValidCommit(s string) bool { return wire.ValidCommit(s) }

// CheckRepoURL returns an error wrapping [ErrBadRepo] unless s is an absolute
// local path, a file://, http://, https://, ssh:// or git:// URL, or an
// scp-like user@host:path.
//
// It also rejects anything git could misread: a leading '-' (an option),
// "::" anywhere (git's transport-helper syntax, as in ext::sh -c ..., which
// runs commands), control characters and line breaks (which could smuggle a
// second line into configuration or logs), and values over 2048 bytes.
func CheckRepoURL(s string) error {
	if problem := repoURLProblem(s); problem != "" {
		return fmt.Errorf("%w %q: %s", ErrBadRepo, abbreviate(s), problem)
	}
	return nil
}

func repoURLProblem(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > maxURLLen:
		return fmt.Sprintf("longer than %d bytes", maxURLLen)
	case s[0] == '-':
		return "starts with '-'"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.Contains(s, "::"):
		// Git picks a transport helper for "<name>::<address>". Rejecting
		// "::" everywhere is simpler to reason about than git's exact rule;
		// the only casualty is IPv6 shorthand, which can be written out.
		return `contains "::" (transport helper syntax)`
	case strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && (unicode.IsControl(r) || unicode.IsSpace(r)) }):
		return "contains a control or line-break character"
	}
	if strings.HasPrefix(s, "/") {
		// Local paths may legitimately contain spaces; URLs may not.
		return ""
	}
	if strings.Contains(s, " ") {
		return "contains a space"
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		return urlProblem(s, scheme)
	}
	if isSCPLike(s) {
		return ""
	}
	return "not an absolute path, a file, http, https, ssh or git URL, or user@host:path"
}

func urlProblem(s, scheme string) string {
	switch scheme {
	case "file", "http", "https", "ssh", "git":
	default:
		// Compared before parsing because url.Parse folds case, while git
		// does not recognise "HTTPS://" as https.
		return fmt.Sprintf("scheme %q not allowed", scheme)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "malformed URL"
	}
	if u.User != nil && strings.HasPrefix(u.User.Username(), "-") {
		// ssh would take it as an option.
		return "user name starts with '-'"
	}
	if scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return "file URL names a remote host"
		}
		if !strings.HasPrefix(u.Path, "/") {
			return "file URL without an absolute path"
		}
		return ""
	}
	host := u.Hostname()
	switch {
	case host == "":
		return "no host"
	case strings.HasPrefix(host, "-"):
		return "host starts with '-'"
	}
	return ""
}

// isSCPLike reports whether s has the form user@host:path. Git treats any
// host:path without a slash before the colon as ssh; requiring the user part
// keeps relative paths that happen to contain a colon from qualifying.
func isSCPLike(s string) bool {
	user, rest, ok := strings.Cut(s, "@")
	if !ok || user == "" || user[0] == '-' || !onlyRunes(user, "._~+-") {
		return false
	}
	host, path, ok := strings.Cut(rest, ":")
	if !ok || host == "" || path == "" || host[0] == '-' || !onlyRunes(host, ".-_") {
		return false
	}
	return true
}

// onlyRunes reports whether s consists of ASCII letters, digits and the
// given punctuation.
func onlyRunes(s, punct string) bool {
	for _, r := range s {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(punct, r)
		if !ok {
			return false
		}
	}
	return true
}

// abbreviate shortens a value for quoting in an error message, so an
// oversized hostile input does not flood logs.
func abbreviate(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
