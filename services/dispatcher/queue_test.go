package dispatcher

import "testing"

// The queue counts its jobs per owner through every way in and out, so that the
// quota sees only jobs still waiting.
func TestQueueOwned(t *testing.T) {
	var q queue
	q.pushBack("a")
	q.own("a", "obs")
	q.pushBack("b")
	q.own("b", "obs")
	q.own("b", "obs") // counted once
	q.pushBack("c")
	q.own("c", "other")
	q.pushBack("d") // no owner: a job resumed after a restart
	q.own("d", "")
	if q.ownedBy("obs") != 2 || q.ownedBy("other") != 1 || q.ownedBy("") != 0 {
		t.Fatalf("owned %v", q.owned)
	}
	if id := q.popFront(); id != "a" || q.ownedBy("obs") != 1 {
		t.Errorf("after popping %s: obs owns %d, want 1", id, q.ownedBy("obs"))
	}
	q.remove("c")
	q.remove("d")
	if q.ownedBy("other") != 0 {
		t.Errorf("after removing c: other owns %d", q.ownedBy("other"))
	}
	q.pushFront("a") // back after losing its runner: counted again
	q.own("a", "obs")
	if q.ownedBy("obs") != 2 {
		t.Errorf("re-queued: obs owns %d, want 2", q.ownedBy("obs"))
	}
	q.popFront()
	q.popFront()
	if q.len() != 0 || len(q.owned) != 0 || len(q.owner) != 0 {
		t.Errorf("empty queue keeps %v %v", q.owned, q.owner)
	}
}
