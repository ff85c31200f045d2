// Package tui is Eventide's console: a terminal dashboard of a dispatcher's
// runners, jobs and logs, built on bubbletea. It reaches the dispatcher only
// through Backend, so the same console serves a dispatcher hosted in-process and
// a remote one.
package tui

import (
	"context"

	"github.com/eventide-ci/eventide/net/wire"
)

// Backend is how the console reaches a dispatcher. Every method may block on the
// network; the console calls them only from commands, never from Update or View.
type Backend interface {
	// Subscribe returns the current state, then event batches on the channel until ctx ends
	// or the connection drops, when the channel is closed.
	Subscribe(ctx context.Context) (*wire.Snapshot, <-chan wire.Events, error)
	// JobGet returns one job with its attempts and, when q.TestsLimit > 0, a
	// page of an attempt's per-test records (since wire.VersionTestRecords).
	JobGet(ctx context.Context, q wire.JobGet) (wire.JobInfo, error)
	// FlakyTests lists a repository's flaky tests, most recently seen first
	// (since wire.VersionTestRecords).
	FlakyTests(ctx context.Context, q wire.FlakyQuery) (wire.FlakyList, error)
	// Log returns part of an attempt's stored output.
	Log(ctx context.Context, q wire.LogQuery) (wire.LogChunk, error)
	// Retry makes a new attempt of a job; finished jobs may be retried.
	Retry(ctx context.Context, id string) (wire.JobInfo, error)
	// Stop cancels a queued or running job.
	Stop(ctx context.Context, id string) error
	// Drain lets a runner finish its jobs and gives it no more.
	Drain(ctx context.Context, runner string) error
	// Revoke ends a runner identity: its connection closes, its jobs are queued
	// again, and it is refused from then on.
	Revoke(ctx context.Context, identity string) (wire.Revoked, error)
}
