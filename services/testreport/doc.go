// Package testreport turns what a test command prints, or the report files
// it writes, into per-test records and counts.
//
// Parse reads the output and recognises each run in it without being told
// the tool: unittest, pytest, go test (plain, -v, -json), TAP 13/14 (node
// --test off a terminal, prove -v) and prove's summary, node's spec
// reporter, jest, vitest, cargo test, and the plain "N passed, N failed"
// line. Every parser sees
// every line, so an output holding several runs (a make target running go
// test and then pytest, two unittest suites) gives a run for each, in the
// order they ended. ParseJUnit reads a JUnit XML report and ParseTest2JSON
// a file of go test -json events.
//
// What a Report promises:
//   - Counts are the tool's own closing counts where it prints them and
//     they count what a person would, else the top-level records. A count
//     the tool cannot know is Incomplete ("not reported"), never 0: plain
//     go test prints no line for a passing test. Report.Recognised is false
//     when nothing was recognised, so a summary can say so instead of
//     showing 0 passed, 0 failed.
//   - A record's ID is the test's name as its tool prints it, parameters
//     included, so a test keeps its ID from one run to the next (what flaky
//     detection compares). Subtests are records with Parent set; a unittest
//     method or a Go test counts once whatever its subtests did.
//   - Everything kept is bounded and cleaned: MaxRecords records,
//     MaxIDBytes a name, MaxMessageLines and MaxMessageBytes a message,
//     MaxLine a line looked at, no control or bidi characters. Nothing of
//     the output is kept beyond that, so 100 MB of anything costs no more
//     than MaxRecords records (BenchmarkGarbage100MB).
//
// Per format, what is read:
//
//	unittest   " ... ok/FAIL/ERROR/skipped" lines (-v), FAIL:/ERROR: sections
//	           (message: the exception line, not the traceback), "Ran N tests"
//	           and the closing line. Counts: methods, from the records with -v,
//	           else Ran less the methods in FAIL:/ERROR: headers and the skips.
//	pytest     -v lines, the short test summary ("FAILED id - msg"; -rA adds
//	           PASSED/XFAIL), "E   " lines of the failure sections; the closing
//	           "== 1 failed, 2 passed in 0.1s ==" (bare with -q) gives the
//	           counts. xfailed is Skipped, xpassed Passed.
//	go test    "--- PASS/FAIL/SKIP: name (0.01s)", "=== RUN" (-v), the lines
//	           under a failure, "ok"/"FAIL"/"?" package lines (a run each),
//	           "panic:" (the test is an Error), "# pkg" build output and
//	           "[build failed]" (an Error named after the package).
//	-json      test2json events: the same, per package, from pass/fail/skip
//	           and output events; FailedBuild and build-output (Go 1.24+).
//	TAP        test points, "# Subtest:" nesting (4 spaces), YAML blocks
//	           (duration_ms, error/message), "#" diagnostics after a failure,
//	           SKIP/TODO (Skipped), "Bail out!" (Error); node's "# tests/pass/
//	           fail/..." trailer gives the counts.
//	prove      without -v: "Files=N, Tests=M", each file's "Failed tests:"
//	           numbers ("t/x.t #2"), a file that died (Error); with -v the
//	           TAP is counted and the summary is not.
//	node spec  ✔ ✖ ﹣ ▶ lines with their durations and nesting, the error
//	           under a failure, "ℹ pass/fail/..." counts.
//	jest       "● suite › test" failures with their message, --verbose's tree,
//	           "Tests: 1 failed, 2 passed, 3 total".
//	vitest     " FAIL  file > suite > test" failures with their message,
//	           "Tests  1 failed | 2 passed (3)". Passing tests have no record.
//	cargo      "test name ... ok|FAILED|ignored", "---- name stdout ----"
//	           sections, "test result: ..." per test binary.
//	plain      "N passed, N failed[, N skipped]" alone on a line, one word and
//	           a colon possibly before it: counts only.
//	JUnit      <testcase> with <failure>, <error>, <skipped>; encoding/xml in
//	           Strict mode (no entity but the predefined ones; DOCTYPE refused),
//	           within JUnitLimits (size, depth, tokens).
package testreport
