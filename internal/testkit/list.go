package testkit

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// List is an append-only list that tests wait on: what a fake server received,
// what a component logged. The zero List is empty and ready; it is safe for
// concurrent use.
type List[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // closed and replaced on every Add
}

// Add appends v and returns its index.
func (l *List[T]) Add(v T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
	return len(l.items) - 1
}

// Items returns a copy of the list.
func (l *List[T]) Items() []T {
	items, _ := l.Snapshot()
	return items
}

// Snapshot returns a copy of the list and a channel closed at the next Add.
func (l *List[T]) Snapshot() ([]T, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return slices.Clone(l.items), l.changed
}

// WaitFor waits until cond holds for the list, looking again at each Add
// rather than at intervals, and returns the list it held for. It fails the
// test if cond does not hold within timeout; like t.Fatal, it is for the
// test's own goroutine.
func (l *List[T]) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]T) bool) []T {
	t.Helper()
	items, ok := l.wait(timeout, cond)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	return items
}

// wait is WaitFor reporting a timeout as false.
func (l *List[T]) wait(timeout time.Duration, cond func([]T) bool) ([]T, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		items, changed := l.Snapshot()
		if cond(items) {
			return items, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return items, false
		}
	}
}
