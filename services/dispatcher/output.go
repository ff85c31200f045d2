package dispatcher

import (
	"unicode/utf8"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/store"
)

// output stores a chunk of an attempt's output at its offset, so a chunk sent again
// after a reconnect is dropped and a gap shows as a gap. The chunk is stored once
// the returned ticket is.
func (d *Dispatcher) output(r *runner, o *wire.Output) (*store.Ticket, error) {
	d.mu.Lock()
	if j := d.recordedLocked(r, o.JobID, o.Attempt); j != nil {
		t := j.saved
		d.mu.Unlock()
		return t, nil // a repeat from before the result was recorded
	}
	j, err := d.currentLocked(r, o.JobID, o.Attempt)
	if err != nil {
		d.mu.Unlock()
		d.refused("output", r, o.JobID, o.Attempt, err)
		return nil, err
	}
	d.startLocked(j) // output can overtake the lease goroutine; refused once running
	data, off := o.Data, o.Offset
	if end := off + int64(len(data)); end > j.logBytes {
		if off < j.logBytes {
			data, off = data[j.logBytes-off:], j.logBytes
		}
		j.logBytes = end
		d.appendLogLocked(j, off, data)
	}
	t := j.saved
	d.mu.Unlock()
	return t, nil
}

// maxHead bounds the head of a log: its start says what ran and the end how it
// failed, so the end gets the most.
const maxHead = 1 << 20

// headLimit is how much of an attempt's output is kept from its start, for a log
// limit of max bytes: a quarter of it, at most maxHead. The tail gets the rest.
func headLimit(max int64) int64 { return min(maxHead, max/4) }

// appendLogLocked stores a chunk, keeping the log within MaxLogBytes: the head
// (headLimit) stays, and the tail holds the last of the rest. The tail is
// contiguous: after a gap past the head (the runner dropped output it could not
// send in time) it starts again, so that one hole lies between head and tail.
func (d *Dispatcher) appendLogLocked(j *job, off int64, data string) {
	if len(data) == 0 {
		return
	}
	d.emitOutputLocked(j, off, data)
	d.keepOutputLocked(j, off, data)
	var ops []store.Op
	head := headLimit(d.cfg.MaxLogBytes)
	if !j.headDone {
		n := len(data)
		if off+int64(n) >= head {
			n = int(max(head-off, 0))
			for n > 0 && n < len(data) && !utf8.RuneStart(data[n]) {
				n-- // the head ends at a whole character
			}
			j.headDone = true
		}
		if n > 0 {
			ops = append(ops, store.AppendLog{JobID: j.ID, Attempt: j.Attempt, Offset: off, Data: data[:n]})
			j.headEnd = off + int64(n)
			off, data = off+int64(n), data[n:]
		}
	}
	if len(data) > 0 {
		next := j.headEnd
		if n := len(j.extents); n > 0 {
			next = j.extents[n-1].Offset + j.extents[n-1].Len
		}
		if off > next {
			ops = append(ops, store.TrimLog{JobID: j.ID, Attempt: j.Attempt, From: j.headEnd, Before: off})
			j.extents, j.logStored = j.extents[:0], 0
			d.dropOutputLocked(j)
		}
		ops = append(ops, store.AppendLog{JobID: j.ID, Attempt: j.Attempt, Offset: off, Data: data})
		j.extents = append(j.extents, store.Extent{Offset: off, Len: int64(len(data))})
		j.logStored += int64(len(data))
		if tailMax := d.cfg.MaxLogBytes - head; j.logStored > tailMax {
			cut := off + int64(len(data)) - tailMax
			for j.extents[0].Offset+j.extents[0].Len <= cut {
				j.logStored -= j.extents[0].Len
				j.extents = j.extents[1:]
			}
			if e := &j.extents[0]; e.Offset < cut {
				j.logStored -= cut - e.Offset
				e.Len -= cut - e.Offset
				e.Offset = cut
			}
			ops = append(ops, store.TrimLog{JobID: j.ID, Attempt: j.Attempt, From: j.headEnd, Before: cut})
			d.dropOutputLocked(j)
		}
	}
	j.saved = d.st.Apply(ops...)
}

// restoreLog takes up the stored chunks of j's current attempt after a restart:
// those ending within the head are the head, the others the tail.
func (j *job) restoreLog(extents []store.Extent, head int64) {
	for _, e := range extents {
		end := e.Offset + e.Len
		j.logBytes = max(j.logBytes, end)
		if end <= head {
			j.headEnd, j.headDone = end, end == head
			continue
		}
		j.headDone = true
		j.extents = append(j.extents, e)
		j.logStored += e.Len
	}
}

// Bounds of the output kept in memory for result files: per attempt, and in all
// (for the running attempts, and again, at most twice over, for the files waiting
// to be written and those being written).
// Beyond them the file's output is read back from the store.
const (
	memOutputMax    = 64 << 10
	memOutputBudget = 32 << 20
)

// keepOutputLocked adds a chunk to the attempt's output in memory while it is
// small, in order and within the budget.
func (d *Dispatcher) keepOutputLocked(j *job, off int64, data string) {
	if !j.outOK {
		return
	}
	if off != int64(len(j.out)) || len(j.out)+len(data) > memOutputMax || d.outMem+int64(len(data)) > memOutputBudget {
		d.dropOutputLocked(j)
		return
	}
	j.out = append(j.out, data...)
	d.outMem += int64(len(data))
}

// dropOutputLocked forgets the output kept in memory for j.
func (d *Dispatcher) dropOutputLocked(j *job) {
	d.outMem -= int64(len(j.out))
	j.out, j.outOK = nil, false
}
