package runner

import (
	"testing"
	"time"
)

func timeAfter(t *testing.T) <-chan time.Time {
	t.Helper()
	return time.After(5 * time.Second)
}
