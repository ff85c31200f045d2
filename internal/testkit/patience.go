package testkit

import "time"

// Patience bounds a test's wait for something that should happen within a second
// or two: a process starting or exiting, a log record, a reply, a result. It only
// has to tell a stuck test from a slow one, so it is generous: on a 2-core machine
// with other work beside the suite (CI, other test packages, CPU-bound
// neighbours), a step can take many times longer than on a quiet one, and a test
// whose condition holds early never waits for the bound.
//
// A test that asserts a timing property of Eventide (a lost runner noticed within
// three heartbeats, say) measures it and bounds it on its own terms instead.
const Patience = 60 * time.Second
