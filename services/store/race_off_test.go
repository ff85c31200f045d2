//go:build !race

package store

// suiteSize is the records TestTestRecordsPaged stores: a suite of 50,000.
const suiteSize = 50_000
