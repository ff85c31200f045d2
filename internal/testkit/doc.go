// Package testkit is what Eventide's tests share: real git repositories to
// test against, and a log recorder to wait on.
//
// The git fixtures run the real git program in a temporary directory, with an
// environment that keeps the machine out of the test: no system or global git
// configuration, no inherited GIT_* variable, a fixed identity, the C locale and
// signing off. A test that passes on one machine passes on another.
//
// [LogRecorder] is a slog.Handler keeping every record. Tests wait for a record
// (or any condition over the records) with [LogRecorder.Wait] and
// [LogRecorder.WaitFor], which look again each time a record arrives: no
// polling interval, no sleep. [List] is the same waitable list for anything
// else a test collects from other goroutines.
//
// It is for tests only; nothing outside _test.go files imports it.
package testkit
