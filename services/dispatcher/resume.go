package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// resume rebuilds the dispatcher's memory from the store: queued jobs are queued
// again in their order; jobs that were assigned or running become orphans that
// their runners may claim within ReclaimWindow; recent finished jobs come back
// for the console; result files that were not written yet are written.
func (d *Dispatcher) resume() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snap, err := d.st.Load(ctx, d.cfg.KeepFinished)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = newIdentities(snap.Identities)
	for _, sj := range snap.Recent {
		j := &job{Job: sj}
		d.jobs[j.ID] = j
		d.done.pushBack(j.ID)
	}
	for _, sj := range append(snap.Recent, snap.Active...) {
		// New ids continue after the newest known (they grow with the clock, but
		// the clock may have gone back, and older versions made random ids).
		if n, err := strconv.ParseUint(sj.ID, 16, 64); err == nil && n > d.lastID && n < math.MaxUint64-1<<32 {
			d.lastID = n
		}
	}
	for _, sj := range snap.Active {
		j := &job{Job: sj}
		d.jobs[j.ID] = j
		d.active[j.key()] = j
		d.seqLo, d.seqHi = min(d.seqLo, j.Seq), max(d.seqHi, j.Seq)
		if j.State == wire.StateQueued {
			d.queue.pushBack(j.ID)
			continue
		}
		j.restoreLog(snap.Extents[j.ID], headLimit(d.cfg.MaxLogBytes))
		d.orphans[j.ID] = j
	}
	for _, sj := range snap.Unwritten {
		d.results.queue(pendingFile{job: sj})
	}
	if len(snap.Unwritten) >= store.UnwrittenLoaded {
		d.results.fallBehind(nil) // the store has more
	}
	if n := len(snap.Active); n > 0 || len(snap.Unwritten) > 0 {
		d.log.Info("resumed from the store", "queued", d.queue.len(), "awaiting runners", len(d.orphans),
			"recent", len(snap.Recent), "result files to write", len(snap.Unwritten))
	}
	return nil
}

// housekeeping re-queues the orphans their runners did not claim in time, and
// applies the log retention hourly.
func (d *Dispatcher) housekeeping() {
	reclaim := time.NewTimer(d.cfg.ReclaimWindow)
	defer reclaim.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	beats := time.NewTicker(max(d.cfg.Heartbeat, 250*time.Millisecond))
	defer beats.Stop()
	d.prune()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-reclaim.C:
			d.reclaimOrphans()
		case <-prune.C:
			d.prune()
		case <-beats.C:
			d.emitBeats()
		}
	}
}

func (d *Dispatcher) reclaimOrphans() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return
	}
	for id, j := range d.orphans {
		delete(d.orphans, id)
		// Whatever is still an orphan was not reported in time: its runner is
		// gone, or came back without it (it died too, or never got the
		// assignment before the old dispatcher died).
		if j.State.Active() && j.State != wire.StateQueued {
			d.orphanLostLocked(j, fmt.Sprintf("runner %s did not report attempt %d within %v of the dispatcher's restart",
				j.Runner, j.Attempt, d.cfg.ReclaimWindow))
		}
	}
}

func (d *Dispatcher) prune() {
	if d.cfg.LogRetention <= 0 {
		return
	}
	n, err := d.st.Prune(d.ctx, time.Now().Add(-d.cfg.LogRetention))
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		d.log.Error("removing old logs", "err", err)
	case n > 0:
		d.log.Info("removed old logs", "attempts", n, "older than", d.cfg.LogRetention)
	}
}

// lookupLocked finds a job in memory or, for one evicted from memory, in the
// store, which it then brings back; nil if neither has it.
func (d *Dispatcher) lookupLocked(id string) *job {
	if j, ok := d.jobs[id]; ok {
		return j
	}
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	sj, err := d.st.Job(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			d.log.Error("looking up a job in the store", "job", id, "err", err)
		}
		return nil
	}
	j := &job{Job: sj}
	d.jobs[id] = j
	if !j.State.Active() {
		d.done.pushBack(id)
	}
	return j
}
