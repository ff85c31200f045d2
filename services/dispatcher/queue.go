package dispatcher

// queue is the FIFO of queued job ids. Retried jobs go to the front, so a job that
// lost its runner does not wait behind everything queued since.
type queue struct {
	ids []string
}

func (q *queue) pushBack(id string)  { q.ids = append(q.ids, id) }
func (q *queue) pushFront(id string) { q.ids = append([]string{id}, q.ids...) }
func (q *queue) len() int            { return len(q.ids) }

func (q *queue) popFront() string {
	id := q.ids[0]
	q.ids[0] = ""
	q.ids = q.ids[1:]
	return id
}

// remove takes id out of the queue, wherever it is.
func (q *queue) remove(id string) {
	for i, x := range q.ids {
		if x == id {
			q.ids = append(q.ids[:i], q.ids[i+1:]...)
			return
		}
	}
}

// pushBackLocked queues j behind everything; pushFrontLocked ahead of everything.
func (d *Dispatcher) pushBackLocked(j *job) {
	d.seqHi++
	j.Seq = d.seqHi
	d.queue.pushBack(j.ID)
}

func (d *Dispatcher) pushFrontLocked(j *job) {
	d.seqLo--
	j.Seq = d.seqLo
	d.queue.pushFront(j.ID)
}
