// Package testrun decides how to test a checked-out commit and runs that
// test command to completion, timeout or cancellation without leaving
// processes behind.
//
// The hard part of running untrusted test suites is not starting them but
// stopping them: test commands fork servers, daemonise helpers with setsid,
// ignore SIGTERM and hold the output pipe open from grandchildren. Run
// therefore tracks a job's processes two ways, by process group and by a
// per-run marker in the environment (the Jenkins ProcessTreeKiller
// technique), and does not return until both sets are gone or SIGKILLed.
//
// Process tracking is complete on Linux, which has /proc to find marked
// processes and PR_SET_CHILD_SUBREAPER to adopt orphans; on other Unix
// systems only the process group is covered.
package testrun
