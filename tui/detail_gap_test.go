package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// A log with a hole between its head and its tail shows the head, the marker
// once, and the tail: the reader goes on from where the reply says, not from the
// length of what it got.
func TestDetailLogShowsTheHoleOnce(t *testing.T) {
	b := newFake(sample())
	b.logs[idPassed] = "head line\n" + strings.Repeat("m", 1000) + "tail line\n"
	b.gaps = map[string]wire.LogGap{idPassed: {Offset: 10, Length: 1000}}
	b.final[idPassed] = true
	hs := newHarness(t, b, 100, 30)
	hs.selectJob(idPassed)
	hs.press("enter")
	d := hs.m.detail
	hs.waitFor("the whole log", func() bool { return d.log.final })
	want := []string{"head line", "", "[eventide: 1000 bytes of output were dropped here; a log keeps its start and its end]", "tail line"}
	if !slices.Equal(d.log.lines, want) {
		t.Fatalf("log lines %q, want %q", d.log.lines, want)
	}
	hs.wantScreen("head line", "1000 bytes of output were dropped here", "tail line")
}
