//go:build race

package dispatcher_test

// bigSuite is the suite size the paging test sends: the race detector makes
// SQLite (translated C) and JSON some forty times slower, so under it the test
// pages through fewer records, still over many chunks and pages.
const bigSuite = 2_500
