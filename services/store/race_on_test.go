//go:build race

package store

// suiteSize is the records TestTestRecordsPaged stores: the race detector
// makes SQLite (translated C) some forty times slower, so fewer under it.
const suiteSize = 3_000
