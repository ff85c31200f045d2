package observer

import (
	"os"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// TestMain runs more tests at once than there are cores: they mostly wait for
// git, a watch event or a dispatcher's reply.
func TestMain(m *testing.M) {
	testkit.RaiseParallel(testkit.WaitingParallel)
	os.Exit(m.Run())
}
