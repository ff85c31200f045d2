package runner

import (
	"bytes"
	"strings"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/testreport"
)

// testSummary is a result's summary from what the test command printed: the
// counts testreport found, the failing tests with their first message line, and
// each test's outcome, all within the wire's limits. When nothing was
// recognised it says so (Reported false) rather than 0 passed, 0 failed.
func testSummary(output []byte) wire.Summary {
	// A bytes.Reader cannot fail, so neither can Parse.
	rep, _ := testreport.Parse(bytes.NewReader(output))
	return summaryOf(rep)
}

func summaryOf(rep *testreport.Report) wire.Summary {
	if !rep.Recognised() {
		return wire.Summary{Reported: new(false)}
	}
	c := rep.Totals
	s := wire.Summary{Reported: new(true),
		Passed: bound(c.Passed.N), Failed: bound(c.Failed.N), Errors: bound(c.Errors.N), Skipped: bound(c.Skipped.N)}
	for i, n := range []testreport.Count{c.Passed, c.Failed, c.Errors, c.Skipped} {
		if n.Incomplete {
			s.Unknown = append(s.Unknown, wire.Counts[i])
		}
	}

	seen := make(map[string]struct{})
	for _, r := range rep.Failing() {
		id := wire.Clip(oneLine(r.ID), wire.MaxTestName)
		if _, dup := seen[id]; dup || id == "" {
			continue
		}
		if len(s.Failing) == wire.MaxFailing {
			break
		}
		seen[id] = struct{}{}
		f := wire.Failure{ID: id, Message: firstLine(r.Message)}
		if r.Duration >= 0 {
			f.DurationMS = new(min(r.Duration.Milliseconds(), wire.MaxDurationMS))
		}
		s.Failing = append(s.Failing, id)
		s.Failures = append(s.Failures, f)
	}

	// Per-test outcomes: each test once (two Go packages may both have a
	// TestMain), keeping its worst outcome, within MaxTests and MaxTestsBytes.
	index := make(map[string]int)
	total := 0
	for _, run := range rep.Runs {
		for _, r := range run.Records {
			id := wire.Clip(oneLine(r.ID), wire.MaxTestName)
			if id == "" {
				continue
			}
			if i, ok := index[id]; ok {
				if worse(string(r.Outcome), s.Tests[i].Outcome) {
					s.Tests[i].Outcome = string(r.Outcome)
				}
				continue
			}
			if len(s.Tests) == wire.MaxTests || total+len(id) > wire.MaxTestsBytes {
				continue
			}
			index[id] = len(s.Tests)
			total += len(id)
			s.Tests = append(s.Tests, wire.TestOutcome{Name: id, Outcome: string(r.Outcome)})
		}
	}
	return s
}

// bound keeps a count within what the wire accepts.
func bound(n int) int { return min(max(n, 0), 1_000_000_000) }

// worse reports whether outcome a is worse than b: error, failed, passed, skipped.
func worse(a, b string) bool {
	rank := func(o string) int {
		return strings.Index("skipped passed failed error", o)
	}
	return rank(a) > rank(b)
}

// firstLine is a message's first non-blank line, cut to the wire's limit.
func firstLine(msg string) string {
	for l := range strings.Lines(msg) {
		if l = oneLine(l); l != "" {
			return wire.Clip(l, wire.MaxFailureMessage)
		}
	}
	return ""
}

// oneLine drops control characters (testreport already removed most) and
// trims, so that the text is one line the wire accepts.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s))
}
