package testreport

// Limits on what one output or report file may cost. The output is the
// test suite's, so nothing in it is trusted to be small.
const (
	// MaxRecords bounds the records kept for one report, all runs
	// together; past it tests are still counted (Run.Dropped).
	MaxRecords = 100_000
	// MaxRuns bounds the runs kept for one report; past it a run is
	// counted in the totals only (Report.DroppedRuns).
	MaxRuns = 10_000
	// MaxIDBytes bounds a record's ID, Suite and Parent.
	MaxIDBytes = 512
	// MaxMessageLines and MaxMessageBytes bound a record's Message.
	MaxMessageLines = 20
	MaxMessageBytes = 4 << 10
	// MaxLine is the longest line looked at; the rest of a longer line is
	// skipped (a test's own output, or a test2json event for one).
	MaxLine = 64 << 10
	// maxOpen bounds the tests whose output is buffered at once while
	// waiting for their result (go test -v, test2json, unittest).
	maxOpen = 256
	// maxNesting bounds the suite and subtest levels followed (by
	// indentation in TAP, node's spec reporter and jest's tree).
	maxNesting = 32
)
