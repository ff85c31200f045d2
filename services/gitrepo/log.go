package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessageBytes caps [Commit.Message]: enough for any sensible commit
// message, and it keeps a hostile multi-megabyte one out of storage and UIs.
const MaxMessageBytes = 4 << 10

// Commit describes one commit.
type Commit struct {
	ID      string
	Author  string    // "Name <email>", as recorded in the commit
	Message string    // full message, trimmed, at most MaxMessageBytes
	Time    time.Time // author time, in the author's time zone
}

// logFormat prints the fields of a Commit separated by NUL. With -z each
// record ends in NUL too. Git cannot put NUL inside any of these fields (it
// ends the message at one), so the output splits unambiguously however
// strange the message.
const logFormat = "--format=%H%x00%an <%ae>%x00%aI%x00%B"

const logFields = 4

// logArgs are the options for every log command. Raw identities and UTF-8
// are requested explicitly so a user's log.mailmap, log.showSignature or
// i18n.logOutputEncoding settings cannot change the output.
var logArgs = []string{"log", "-z", logFormat, "--no-use-mailmap", "--no-show-signature", "--encoding=UTF-8"}

// NewCommits returns the commits reachable from tip but from none of
// exclude, oldest first (parents before children). If there are more than
// limit, it returns the newest limit of them, still oldest first; limit <= 0
// means no limit.
//
// Exclusions that the repository no longer has, for instance a branch's old
// tip after a force-push and garbage collection, are ignored. A tip it does
// not have gives an error wrapping [ErrCommitNotFound]. All ids must be
// valid ([ValidCommit]).
func (r *Repo) NewCommits(ctx context.Context, tip string, exclude []string, limit int) ([]Commit, error) {
	for _, id := range append([]string{tip}, exclude...) {
		if !ValidCommit(id) {
			return nil, fmt.Errorf("%w: %q", ErrBadCommit, abbreviate(id))
		}
	}
	// One git command checks the tip and the exclusions.
	present, err := r.presentCommits(ctx, append([]string{tip}, exclude...))
	if err != nil {
		return nil, err
	}
	if len(present) == 0 || present[0] != tip {
		return nil, fmt.Errorf("%w: %s in %s", ErrCommitNotFound, tip, r.shown)
	}
	present = present[1:]

	// Revisions go through stdin so that thousands of exclusions cannot
	// overflow the command line.
	var revs strings.Builder
	revs.WriteString(tip + "\n")
	for _, id := range present {
		revs.WriteString("^" + id + "\n")
	}
	// --max-count applies before --reverse, which is exactly "the newest
	// limit commits, oldest first".
	args := append(append([]string{}, logArgs...), "--topo-order", "--reverse")
	if limit > 0 {
		args = append(args, "--max-count="+strconv.Itoa(limit))
	}
	args = append(args, "--stdin")
	out, err := invocation{dir: r.dir, args: args, stdin: strings.NewReader(revs.String())}.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list commits of %s: %w", r.shown, err)
	}
	commits, err := parseLog(out)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list commits of %s: %w", r.shown, err)
	}
	return commits, nil
}

// presentCommits returns those of ids that name commits in the repository,
// asking git about all of them in one process.
func (r *Repo) presentCommits(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var in strings.Builder
	for _, id := range ids {
		in.WriteString(id + "^{commit}\n")
	}
	out, err := invocation{dir: r.dir, args: []string{"cat-file", "--batch-check"}, stdin: strings.NewReader(in.String())}.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: look up commits in %s: %w", r.shown, err)
	}
	// One line per input line, in order: "<id> commit <size>" when found,
	// "<input> missing" otherwise.
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(ids) {
		return nil, fmt.Errorf("gitrepo: look up commits in %s: %d answers for %d commits", r.shown, len(lines), len(ids))
	}
	var present []string
	for i, line := range lines {
		if f := strings.Fields(line); len(f) == 3 && f[1] == "commit" {
			present = append(present, ids[i])
		}
	}
	return present, nil
}

// Commit returns the commit with the given id, or an error wrapping
// [ErrCommitNotFound] if the repository does not have it.
func (r *Repo) Commit(ctx context.Context, id string) (Commit, error) {
	if !ValidCommit(id) {
		return Commit{}, fmt.Errorf("%w: %q", ErrBadCommit, abbreviate(id))
	}
	if ok, err := hasCommit(ctx, r.dir, id); err != nil {
		return Commit{}, err
	} else if !ok {
		return Commit{}, fmt.Errorf("%w: %s in %s", ErrCommitNotFound, id, r.shown)
	}
	args := append(append([]string{}, logArgs...), "--max-count=1", id, "--")
	out, err := git(ctx, r.dir, args...)
	if err != nil {
		return Commit{}, fmt.Errorf("gitrepo: read commit %s of %s: %w", id, r.shown, err)
	}
	commits, err := parseLog(out)
	if err == nil && len(commits) != 1 {
		err = fmt.Errorf("got %d commits, want 1", len(commits))
	}
	if err != nil {
		return Commit{}, fmt.Errorf("gitrepo: read commit %s of %s: %w", id, r.shown, err)
	}
	return commits[0], nil
}

// parseLog parses the output of a log command using logFormat and -z.
func parseLog(out []byte) ([]Commit, error) {
	if len(out) == 0 {
		return nil, nil
	}
	fields := bytes.Split(out, []byte{0})
	// Every record ends in NUL, so a complete output ends with an empty
	// field after the last separator.
	if last := fields[len(fields)-1]; len(last) != 0 {
		return nil, fmt.Errorf("truncated log output")
	}
	fields = fields[:len(fields)-1]
	if len(fields)%logFields != 0 {
		return nil, fmt.Errorf("malformed log output: %d fields", len(fields))
	}
	commits := make([]Commit, 0, len(fields)/logFields)
	for i := 0; i < len(fields); i += logFields {
		id := string(fields[i])
		if !ValidCommit(id) {
			return nil, fmt.Errorf("malformed log output: commit id %q", abbreviate(id))
		}
		when, err := time.Parse(time.RFC3339, string(fields[i+2]))
		if err != nil {
			return nil, fmt.Errorf("malformed log output for %s: %w", id, err)
		}
		commits = append(commits, Commit{
			ID:      id,
			Author:  strings.ToValidUTF8(string(fields[i+1]), "\uFFFD"),
			Message: capMessage(string(fields[i+3])),
			Time:    when,
		})
	}
	return commits, nil
}

// capMessage trims msg, makes it valid UTF-8 (a commit's claimed encoding
// is not always its real one) and cuts it to MaxMessageBytes on a character
// boundary.
func capMessage(msg string) string {
	msg = strings.ToValidUTF8(strings.TrimSpace(msg), "\uFFFD")
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	cut := MaxMessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return strings.TrimSpace(msg[:cut])
}
