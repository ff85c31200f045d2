package testreport

import "strconv"

// nodeSummary adds one line of node --test's closing summary ("pass 4", "fail 1",
// …), which its TAP output prints as "# key n" comments and its spec reporter as
// "ℹ key n" lines, to c. It reports whether the line was the last one,
// "duration_ms". A cancelled test is an error; a todo one counts as skipped.
func nodeSummary(c *Counts, key, val string) (last bool) {
	n, _ := strconv.Atoi(val)
	switch key {
	case "pass":
		c.Passed.N = n
	case "fail":
		c.Failed.N = n
	case "cancelled":
		c.Errors.N = n
	case "skipped", "todo":
		c.Skipped.N += n
	case "duration_ms":
		return true
	}
	return false
}
