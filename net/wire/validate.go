package wire

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on fields, so that no peer can make the other side hold unbounded data.
const (
	MaxNameLen    = 64
	MaxLabels     = 32
	MaxSlots      = 256
	MaxRepoLen    = 2048
	MaxBranchLen  = 255
	MaxAuthorLen  = 512
	MaxMessageLen = 4096
	MaxReasonLen  = 2048
	MaxFailing    = 200
	MaxTestName   = 512
	MaxAttempt    = 1000
	MaxTokenLen   = 1024
)

var (
	commitRE = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	jobIDRE  = regexp.MustCompile(`^[0-9a-f]{16}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	labelRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:=/-]*$`)
	scpRE    = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^:]`)
)

// ValidCommit reports whether s is a full commit id: 40 (SHA-1) or 64 (SHA-256)
// lowercase hex characters. Only such ids reach git or the file system.
func ValidCommit(s string) bool { return commitRE.MatchString(s) }

// ValidJobID reports whether s has the form of a job id (16 lowercase hex characters).
func ValidJobID(s string) bool { return jobIDRE.MatchString(s) }

// CheckName validates a runner or observer name.
func CheckName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen || !nameRE.MatchString(s) {
		return fmt.Errorf("name %q: want 1-%d of A-Z a-z 0-9 . _ -, not starting with . _ or -", clip(s), MaxNameLen)
	}
	return nil
}

// CheckLabels validates a runner's labels.
func CheckLabels(labels []string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels: at most %d", len(labels), MaxLabels)
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > MaxNameLen || !labelRE.MatchString(l) {
			return fmt.Errorf("label %q: want 1-%d of A-Z a-z 0-9 . _ : = / -, starting with a letter or digit", clip(l), MaxNameLen)
		}
	}
	return nil
}

// CheckRepo validates a repository location as runners will pass it to git: an
// absolute local path, a file, http(s), ssh or git URL, or scp-like user@host:path.
// Nothing that git could read as an option or as a command-running transport passes.
func CheckRepo(s string) error {
	switch {
	case s == "":
		return errors.New("repository is empty")
	case len(s) > MaxRepoLen:
		return fmt.Errorf("repository is %d bytes, at most %d", len(s), MaxRepoLen)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("repository %q has control characters", clip(s))
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("repository %q starts with '-'", clip(s))
	case strings.Contains(s, "::"):
		return fmt.Errorf("repository %q uses a transport helper (::), which is refused", clip(s))
	}
	for _, scheme := range []string{"file://", "http://", "https://", "ssh://", "git://"} {
		if strings.HasPrefix(s, scheme) && len(s) > len(scheme) {
			return nil
		}
	}
	if filepath.IsAbs(s) || scpRE.MatchString(s) {
		return nil
	}
	return fmt.Errorf("repository %q: want an absolute path or a file, http(s), ssh or git URL", clip(s))
}

// CheckBranch validates a branch name (shown and stored, never passed to git).
func CheckBranch(s string) error {
	switch {
	case len(s) > MaxBranchLen:
		return fmt.Errorf("branch is %d bytes, at most %d", len(s), MaxBranchLen)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("branch %q has control characters", clip(s))
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("branch %q starts with '-'", clip(s))
	}
	return nil
}

// checkText validates free text such as a commit message: valid UTF-8 and bounded.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s is %d bytes, at most %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}

func checkJob(id string, attempt int) error {
	if !ValidJobID(id) {
		return fmt.Errorf("job_id %q: want 16 lowercase hex characters", clip(id))
	}
	if attempt < 1 || attempt > MaxAttempt {
		return fmt.Errorf("attempt %d: want 1-%d", attempt, MaxAttempt)
	}
	return nil
}

func checkCommit(s string) error {
	if !ValidCommit(s) {
		return fmt.Errorf("commit %q: want 40 or 64 lowercase hex characters", clip(s))
	}
	return nil
}

// clip keeps error messages short whatever a peer sent.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Clip makes s valid UTF-8 of at most n bytes, cut on a character boundary, so that
// free text read from a repository always passes validation.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkMeasure checks an optional usage figure: absent, or 0 to max.
func checkMeasure(field string, v *int64, max int64) error {
	if v != nil && (*v < 0 || *v > max) {
		return fmt.Errorf("%s %d: want 0-%d", field, *v, max)
	}
	return nil
}
