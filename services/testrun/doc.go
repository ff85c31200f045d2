// Package testrun decides how to test a checked-out commit and runs that
// test command to completion, timeout or cancellation without leaving
// processes behind.
//
// The hard part of running untrusted test suites is not starting them but
// stopping them: test commands fork servers, daemonise helpers with setsid,
// clear their environment, ignore SIGTERM and hold the output pipe open from
// grandchildren. And the runner that should stop them may itself be killed.
//
// A runner therefore runs each job under a supervisor (Options.Contain, see
// Containment): its own binary re-executed (MaybeSupervise), which is the
// child subreaper of the job, so every orphan of the job becomes its child.
// It kills the whole job when the command ends, when the runner asks (timeout,
// cancel) and, reading end of file on a pipe only the runner holds, the
// moment the runner dies, however it died. The job lives in a cgroup v2 of
// its own where the runner can make one (killed whole with cgroup.kill,
// which also gives its CPU time and peak memory); otherwise in a process
// group, where the supervisor's descendants are the job. Every process also
// carries a marker in its environment naming the runner's data dir, and
// every cgroup that id, so a runner started again on the data dir kills
// what an earlier one left.
//
// A job gets the runner's environment without its settings and credentials
// (Options.Hide), and can run as another user (Options.User): the supervisor
// keeps the runner's ids, so that the job's processes can neither signal it
// nor read what only the runner's user may.
//
// Without Options.Contain, Run tracks the job itself, by process group and
// marker (the Jenkins ProcessTreeKiller technique): complete on Linux, which
// has /proc to find marked processes and PR_SET_CHILD_SUBREAPER to adopt
// orphans, but a process that clears its environment after setsid escapes
// it, and nothing survives the runner's own death.
package testrun
