// Package gitrepo is Eventide's only way of touching git repositories.
//
// The runner side ([Cache]) keeps one bare clone per repository and hands out
// detached worktrees, so a runner testing many commits of one repository
// downloads its history once. The observer side ([Repo]) reads branches and
// commit history, either directly from a local repository or from a bare
// mirror of a remote one.
//
// Everything here shells out to the git command line program. Repository
// URLs, commit ids and branch names may come from the network, so every
// value is validated ([CheckRepoURL], [ValidCommit]) before it reaches a git
// command line, git runs without a terminal and with the transports that can
// execute arbitrary commands (ext::, fd::) disabled, and on-disk names are
// derived from a hash of the URL rather than from its text.
package gitrepo
