package dispatcher

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// testsLine is a result file's "Tests:" value. Its shape stays what scripts
// read, four counts in one order split by ", ", each "<count> <word>":
//
//	4 passed, 2 failed, 0 errors, 1 skipped
//	not reported passed, 3 failed, 0 errors, not reported skipped
//	at least 2 passed, 1 failed, 0 errors, not reported skipped
//
// A count the output's format could not know says "not reported" (or "at
// least N" when some were seen) instead of a misleading 0; when no test output
// was recognised at all the whole line says so.
func testsLine(s *store.Summary) string {
	if s.Reported != nil && !*s.Reported {
		return "not reported; the exit status decides"
	}
	counts := []int{s.Passed, s.Failed, s.Errors, s.Skipped}
	parts := make([]string, len(counts))
	for i, name := range wire.Counts {
		n := fmt.Sprint(counts[i])
		if slices.Contains(s.Unknown, name) {
			n = "not reported"
			if counts[i] > 0 {
				n = fmt.Sprintf("at least %d", counts[i])
			}
		}
		parts[i] = n + " " + name
	}
	return strings.Join(parts, ", ")
}

// failingLines are a result file's "Failing:" values: each failing test with
// the first line of its message and its duration where the runner sent them
// (protocol 9). Older runners' results give the bare names.
func failingLines(s *store.Summary) []string {
	byID := make(map[string]store.Failure, len(s.Failures))
	for _, f := range s.Failures {
		byID[f.ID] = f
	}
	out := make([]string, 0, len(s.Failing))
	for _, name := range s.Failing {
		f, ok := byID[name]
		if !ok {
			out = append(out, name)
			continue
		}
		out = append(out, failureText(f))
	}
	return out
}

// failureText is "id — message (1.2s)", leaving out what is not known. The
// id comes first and " — " after it, so a script can cut the name off.
func failureText(f store.Failure) string {
	var rest []string
	if f.Message != "" {
		rest = append(rest, f.Message)
	}
	if f.DurationMS != nil {
		rest = append(rest, "("+(time.Duration(*f.DurationMS)*time.Millisecond).String()+")")
	}
	if len(rest) == 0 {
		return f.ID
	}
	return f.ID + " — " + strings.Join(rest, " ")
}

// flakySuffix marks a passed job that another attempt of its commit failed:
// still passed for filters and exit codes, never shown as plainly passed.
const flakySuffix = " · flaky"

// statusText is a result file's "Status:" value: the state, "passed · flaky"
// for a flaky pass.
func statusText(j *Job) string {
	if flaky(j) {
		return string(j.State) + flakySuffix
	}
	return string(j.State)
}

// flaky says whether j passed after another attempt of its commit failed.
func flaky(j *Job) bool {
	return j.State == wire.StatusPassed && j.Result != nil && j.Result.Flaky
}

// withFound is j with what storing its result revealed (nil: nothing to add).
func withFound(j Job, found *store.Flakiness) Job {
	if found == nil || j.Result == nil {
		return j
	}
	r := *j.Result
	r.Flaky = found.Flaky
	j.Result, j.FlakyTests = &r, found.Tests
	return j
}
