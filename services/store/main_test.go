package store

import (
	"os"
	"testing"

	"github.com/eventide-ci/eventide/internal/testkit"
)

// TestMain runs more tests at once than there are cores: they mostly wait for
// fsync: each test has its own database file.
func TestMain(m *testing.M) {
	testkit.RaiseParallel(testkit.WaitingParallel)
	os.Exit(m.Run())
}
