package runner

import (
	"os"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// TestMain runs more tests at once than there are cores: they mostly wait for
// git, a job's process and the dispatcher's replies.
func TestMain(m *testing.M) {
	testkit.RaiseParallel(testkit.WaitingParallel)
	os.Exit(m.Run())
}
