package dispatcher

// queue is the FIFO of queued job ids. Retried jobs go to the front, so a job that
// lost its runner does not wait behind everything queued since.
//
// It also counts the jobs in it per owner (the credential that submitted them),
// for --max-queued-per-client.
type queue struct {
	ids   []string
	owner map[string]string // job id → its owner, for the owned jobs in the queue
	owned map[string]int    // owner → its jobs in the queue
}

func (q *queue) pushBack(id string)  { q.ids = append(q.ids, id) }
func (q *queue) pushFront(id string) { q.ids = append([]string{id}, q.ids...) }
func (q *queue) len() int            { return len(q.ids) }

func (q *queue) popFront() string {
	id := q.ids[0]
	q.ids[0] = ""
	q.ids = q.ids[1:]
	q.disown(id)
	return id
}

// remove takes id out of the queue, wherever it is.
func (q *queue) remove(id string) {
	for i, x := range q.ids {
		if x == id {
			q.ids = append(q.ids[:i], q.ids[i+1:]...)
			q.disown(id)
			return
		}
	}
}

// own counts id, just queued, as owner's.
func (q *queue) own(id, owner string) {
	if owner == "" {
		return
	}
	if q.owner == nil {
		q.owner, q.owned = make(map[string]string), make(map[string]int)
	}
	if _, ok := q.owner[id]; ok {
		return
	}
	q.owner[id] = owner
	q.owned[owner]++
}

func (q *queue) disown(id string) {
	owner, ok := q.owner[id]
	if !ok {
		return
	}
	delete(q.owner, id)
	if q.owned[owner]--; q.owned[owner] <= 0 {
		delete(q.owned, owner)
	}
}

// ownedBy is how many jobs in the queue owner queued.
func (q *queue) ownedBy(owner string) int { return q.owned[owner] }

// pushBackLocked queues j behind everything; pushFrontLocked ahead of everything.
func (d *Dispatcher) pushBackLocked(j *job) {
	d.seqHi++
	j.Seq = d.seqHi
	d.queue.pushBack(j.ID)
	d.queue.own(j.ID, j.owner)
}

func (d *Dispatcher) pushFrontLocked(j *job) {
	d.seqLo--
	j.Seq = d.seqLo
	d.queue.pushFront(j.ID)
	d.queue.own(j.ID, j.owner)
}
