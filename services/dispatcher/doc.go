// Package dispatcher owns Eventide's job queue, its runner registry and the results:
// it queues submitted commits, leases each to a free runner slot, fences late
// results by attempt, re-queues the jobs of lost runners and writes result files.
//
// # Files
//
//   - lifecycle.go: a job's state machine, the only writer of its state, with
//     the transition table; job.go: the job record and its attempts
//   - schedule.go: the scheduler, which leases queued jobs to free slots;
//     queue.go: the queue and its order
//   - registry.go: the runners, their registration, loss and drain
//   - admit.go: the handshake's admission, one session per role in
//     session_runner.go, session_observer.go and session_console.go;
//     credentials.go: the token file and its reload, --allow-repo and the
//     queue quota per credential (counted by the queue, queue.go)
//   - output.go: a running attempt's output; results.go: fencing and recording
//     an attempt's result; tests.go: an attempt's job.tests chunks held until
//     its result, job.get's test pages, tests.flaky, and the flaky marks the
//     store finds once a result is committed
//   - resultfiles.go: the test_results/<commit> writer
//   - save.go: changes to the store, and replies that wait for them;
//     records.go: the store's records to and from the wire's shapes
//   - resume.go: rebuilding memory from the store after a restart, and the
//     periodic work (orphans not reclaimed, log retention)
//   - events.go: the consoles' snapshot and event stream
//
// # Locks
//
// Dispatcher.mu guards every field of the Dispatcher below it (jobs, active,
// queue, runners, orphans, closing, done, seqLo, seqHi, listenAt, subs, outMem,
// lastID), and every field of each *job and each *runner it holds, except what a
// runner's registration sets once (name, session, labels, slots, conn, remote,
// since). Functions named …Locked, and every function of lifecycle.go, are
// called with it held.
//
// The other locks each guard their own struct:
//
//   - consoleSession.mu: the session's subscription;
//   - subscriber.mu: a console's pending events;
//   - resultWriter.mu: the files waiting to be written, and its backlog state;
//   - the store's own lock (store.SQLite.mu): the batch it is gathering;
//   - a peer.Conn's locks: its state and its outgoing queue.
//
// Lock order: a lock may be taken while holding only the ones before it.
//
//	consoleSession.mu → Dispatcher.mu → subscriber.mu
//	                                  → resultWriter.mu
//	                                  → the store (Apply; and a read in lookupLocked)
//	                                  → peer.Conn (Close)
//
// The four after Dispatcher.mu are never held together: the result writer calls
// the store without resultWriter.mu. Nothing waits under Dispatcher.mu for the store to
// commit (store.Ticket.Wait), nor for a peer's reply: those wait in the
// caller's goroutine (waitSaved, later) or in one of the dispatcher's own (lease,
// stop's cancel).
package dispatcher
