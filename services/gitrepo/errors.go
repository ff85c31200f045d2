package gitrepo

import "errors"

// Sentinel errors. Functions in this package wrap them with the offending
// value and any git diagnostics, so test with [errors.Is].
var (
	// ErrBadRepo reports a repository URL or path that failed validation.
	ErrBadRepo = errors.New("gitrepo: bad repository URL")
	// ErrBadCommit reports a commit id that is not 40 or 64 lowercase hex
	// characters.
	ErrBadCommit = errors.New("gitrepo: bad commit id")
	// ErrCommitNotFound reports a well-formed commit id that the repository
	// does not contain, even after fetching.
	ErrCommitNotFound = errors.New("gitrepo: commit not found")
	// ErrNotRepo reports a local path that does not exist or is not the top
	// of a git repository.
	ErrNotRepo = errors.New("gitrepo: not a git repository")
	// ErrEmptyRepo reports a repository whose HEAD has no commits yet.
	ErrEmptyRepo = errors.New("gitrepo: repository has no commits")
)
