package runner

import "github.com/eventide-ci/eventide/services/testrun"

// Jobs run under a supervisor that is this binary re-executed, as eventide
// is: main calls the same hook first.
func init() { testrun.MaybeSupervise() }
