//go:build !race

package dispatcher_test

// bigSuite is the suite size the paging test sends: the 50,000 tests the
// issue asks for.
const bigSuite = 50_000
