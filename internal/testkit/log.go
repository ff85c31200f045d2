package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// LogEntry is one record a [LogRecorder] kept. Attrs holds every attribute,
// the logger's (from With) and the record's, as text; a key inside a group is
// qualified by the group's name ("group.key").
type LogEntry struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// String renders the entry on one line, attributes sorted by key.
func (e LogEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", e.Level, e.Message)
	for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
		fmt.Fprintf(&b, " %s=%s", k, e.Attrs[k])
	}
	return b.String()
}

// LogRecorder is a slog.Handler that keeps every record, at every level, for
// tests to look at and wait on. Handlers made from it by WithAttrs and
// WithGroup add to the same records.
type LogRecorder struct {
	list   *List[LogEntry]
	attrs  map[string]string // from WithAttrs, qualified
	prefix string            // the open groups, each followed by a dot
}

// NewLogRecorder returns an empty recorder.
func NewLogRecorder() *LogRecorder {
	return &LogRecorder{list: &List[LogEntry]{}}
}

// Logger returns a logger writing to the recorder.
func (h *LogRecorder) Logger() *slog.Logger { return slog.New(h) }

func (h *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	e := LogEntry{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: maps.Clone(h.attrs)}
	if e.Attrs == nil {
		e.Attrs = make(map[string]string)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(e.Attrs, h.prefix, a)
		return true
	})
	h.list.Add(e)
	return nil
}

func (h *LogRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = maps.Clone(h.attrs)
	if h2.attrs == nil {
		h2.attrs = make(map[string]string)
	}
	for _, a := range attrs {
		addAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

func (h *LogRecorder) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix += name + "."
	return &h2
}

// addAttr records a as text under prefix, flattening groups as slog's text
// handler does.
func addAttr(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = v.String()
}

// Entries returns a copy of the entries so far, oldest first.
func (h *LogRecorder) Entries() []LogEntry { return h.list.Items() }

// Count counts the entries with message msg.
func (h *LogRecorder) Count(msg string) int {
	n := 0
	for _, e := range h.Entries() {
		if e.Message == msg {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds for the entries so far and returns them,
// looking again at each new entry; see [List.WaitFor]. A timeout fails the
// test with every entry in the message.
func (h *LogRecorder) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]LogEntry) bool) []LogEntry {
	t.Helper()
	es, ok := h.list.wait(timeout, cond)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s; the log:\n%s", timeout, what, h)
	}
	return es
}

// Wait waits for an entry with message msg whose attributes include every
// key=value pair of attrs (given as alternating keys and values), and returns
// the first such entry.
func (h *LogRecorder) Wait(t testing.TB, timeout time.Duration, msg string, attrs ...string) LogEntry {
	t.Helper()
	if len(attrs)%2 != 0 {
		t.Fatalf("LogRecorder.Wait: attrs %q are not key, value pairs", attrs)
	}
	match := func(e LogEntry) bool {
		if e.Message != msg {
			return false
		}
		for i := 0; i < len(attrs); i += 2 {
			if v, ok := e.Attrs[attrs[i]]; !ok || v != attrs[i+1] {
				return false
			}
		}
		return true
	}
	var found LogEntry
	h.WaitFor(t, timeout, fmt.Sprintf("a log record %q with %q", msg, attrs), func(es []LogEntry) bool {
		i := slices.IndexFunc(es, match)
		if i >= 0 {
			found = es[i]
		}
		return i >= 0
	})
	return found
}

// String lists the entries, one per line.
func (h *LogRecorder) String() string {
	var b strings.Builder
	for _, e := range h.Entries() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}
