package dispatcher

import (
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

// appendLogLocked stores a chunk and, past MaxLogBytes, drops the oldest chunks:
// the end of a log is where a failure shows, so the tail is what is kept.
func (d *Dispatcher) appendLogLocked(j *job, off int64, data string) {
	if len(data) == 0 {
		return
	}
	d.emitOutputLocked(j, off, data)
	d.keepOutputLocked(j, off, data)
	ops := []store.Op{store.AppendLog{JobID: j.ID, Attempt: j.Attempt, Offset: off, Data: data}}
	j.extents = append(j.extents, store.Extent{Offset: off, Len: int64(len(data))})
	j.logStored += int64(len(data))
	if j.logStored > d.cfg.MaxLogBytes && len(j.extents) > 1 {
		for j.logStored > d.cfg.MaxLogBytes && len(j.extents) > 1 {
			j.logStored -= j.extents[0].Len
			j.extents = j.extents[1:]
		}
		ops = append(ops, store.TrimLog{JobID: j.ID, Attempt: j.Attempt, Before: j.extents[0].Offset})
		d.dropOutputLocked(j)
	}
	j.saved = d.st.Apply(ops...)
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
