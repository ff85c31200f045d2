package wire

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// The counts of a Summary, as Summary.Unknown names them.
const (
	CountPassed  = "passed"
	CountFailed  = "failed"
	CountErrors  = "errors"
	CountSkipped = "skipped"
)

// Counts lists the count names in the order a summary shows them.
var Counts = []string{CountPassed, CountFailed, CountErrors, CountSkipped}

// Limits on Summary.Failures: a message is the first line of a failure, cut;
// a duration is at most the longest CPU time a result may report.
const (
	MaxFailureMessage = 512
	MaxDurationMS     = MaxCPUMS
)

// Failure is a failing test's first message line and duration (since 9).
// DurationMS is nil when the output gave none.
type Failure struct {
	ID         string `json:"id"`
	Message    string `json:"message,omitempty"`
	DurationMS *int64 `json:"duration_ms,omitempty"`
}

// NotReported reports whether the summary says that no test output was
// recognised, so its counts mean nothing. Results of runners before 9 never say so.
func (s *Summary) NotReported() bool { return s.Reported != nil && !*s.Reported }

// IsUnknown reports whether count (one of the Count constants) is one the
// output's format could not know.
func (s *Summary) IsUnknown(count string) bool { return slices.Contains(s.Unknown, count) }

// validateReport checks what version 9 added: reported, unknown, failures.
func (s *Summary) validateReport() error {
	if s.NotReported() {
		if s.Passed != 0 || s.Failed != 0 || s.Errors != 0 || s.Skipped != 0 {
			return errors.New("reported is false but a count is not 0")
		}
		if len(s.Unknown) > 0 || len(s.Failing) > 0 || len(s.Failures) > 0 || len(s.Tests) > 0 {
			return errors.New("reported is false but unknown, failing, failures or tests is not empty")
		}
	}
	for i, c := range s.Unknown {
		if !slices.Contains(Counts, c) {
			return fmt.Errorf("unknown[%d] %q: want passed, failed, errors or skipped", i, clip(c))
		}
		if slices.Contains(s.Unknown[:i], c) {
			return fmt.Errorf("unknown[%d] %q is listed twice", i, c)
		}
	}
	if len(s.Failures) > MaxFailing {
		return fmt.Errorf("%d failures listed, at most %d", len(s.Failures), MaxFailing)
	}
	seen := make(map[string]struct{}, len(s.Failures))
	for i, f := range s.Failures {
		if err := checkLine(fmt.Sprintf("failures[%d]: id", i), f.ID, MaxTestName); err != nil {
			return err
		}
		if f.ID == "" {
			return fmt.Errorf("failures[%d]: id is empty", i)
		}
		if _, dup := seen[f.ID]; dup {
			return fmt.Errorf("failures[%d]: id %q is listed twice", i, clip(f.ID))
		}
		seen[f.ID] = struct{}{}
		if err := checkLine(fmt.Sprintf("failures[%d] (%q): message", i, clip(f.ID)), f.Message, MaxFailureMessage); err != nil {
			return err
		}
		if err := checkMeasure(fmt.Sprintf("failures[%d]: duration_ms", i), f.DurationMS, MaxDurationMS); err != nil {
			return err
		}
	}
	return nil
}

// checkLine checks text shown on one line: within max bytes, valid UTF-8, no
// control characters (a line break would forge a line of a result file, an
// escape rewrite a terminal).
func checkLine(field, s string, max int) error {
	if err := checkText(field, s, max); err != nil {
		return err
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s %q has control characters", field, clip(s))
	}
	return nil
}
