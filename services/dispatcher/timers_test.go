package dispatcher

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// The dispatcher's own deadlines (a lease's, the reclaim window after a restart)
// run on synctest's clock: everything, the store's writer and both ends of each
// net.Pipe included, lives in the bubble, so a test steps time past a deadline
// exactly, without waiting for it.

// connectSilentRunner registers a runner that takes every job.assign and never
// answers it, while its connection (and its heartbeats) stay up.
func connectSilentRunner(t *testing.T, d *Dispatcher, name string) <-chan wire.Assign {
	t.Helper()
	a, b := net.Pipe()
	go d.ServeConn(a)
	c, _, err := peer.Handshake(t.Context(), b, withIdentity(d, &wire.Hello{Role: wire.RoleRunner, Name: name, Slots: 1}), peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assigns := make(chan wire.Assign, 16)
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.Serve(context.Background(), peer.HandlerFunc(func(_ context.Context, m string, p json.RawMessage) (any, error) {
			if m != wire.MethodJobAssign {
				return nil, nil
			}
			var as wire.Assign
			if err := wire.Decode(m, p, &as); err != nil {
				return nil, err
			}
			assigns <- as
			return peer.Later(func(ctx context.Context) (any, error) {
				<-ctx.Done() // the connection's end: no answer before
				return nil, ctx.Err()
			}), nil
		}))
	}()
	t.Cleanup(func() { c.Close(); <-served })
	return assigns
}

func TestLeaseTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const lease = 5 * time.Second
		d := newTestDispatcher(t, Config{MaxAttempts: 2, LeaseTimeout: lease, NoResultFiles: true})
		assigns := connectSilentRunner(t, d, "r1")
		s, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if a := <-assigns; a.Attempt != 1 {
			t.Fatalf("offered attempt %d, want 1", a.Attempt)
		}
		// Silence up to the deadline is no refusal...
		time.Sleep(lease - time.Millisecond)
		synctest.Wait()
		if j, _ := d.findJob(s.JobID); j.State != wire.StateAssigned || j.Attempt != 1 {
			t.Fatalf("just before the lease's deadline the job is %s at attempt %d, want assigned at 1", j.State, j.Attempt)
		}
		// ...past it, the job goes back to the queue and on to the next attempt.
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		j, _ := d.findJob(s.JobID)
		if j.State != wire.StateAssigned || j.Attempt != 2 || j.Attempts[0].Outcome != outcomeRefused ||
			!strings.Contains(j.Attempts[0].Reason, "did not take the job") {
			t.Fatalf("after the lease's deadline: %s at attempt %d, attempts %+v; want attempt 1 refused, attempt 2 offered",
				j.State, j.Attempt, j.Attempts)
		}
		if a := <-assigns; a.Attempt != 2 {
			t.Fatalf("offered attempt %d, want 2", a.Attempt)
		}
		// The second silence uses up the attempts.
		time.Sleep(lease)
		synctest.Wait()
		j, _ = d.findJob(s.JobID)
		if j.State != wire.StatusError || !strings.Contains(j.Reason, "gave up after 2 attempts") {
			t.Fatalf("after two silent leases: %s (%q), want error, given up after 2 attempts", j.State, j.Reason)
		}
	})
}

// A job that was running when the dispatcher stopped waits ReclaimWindow for its
// runner, and is queued again when none reports it.
func TestOrphanNotReclaimedInTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const window = 3 * time.Second
		cfg := Config{DataDir: filepath.Join(t.TempDir(), "data"), ReclaimWindow: window, NoResultFiles: true}
		d1 := newTestDispatcher(t, cfg)
		r1, _ := connectRunner(t, d1, "r1", 1)
		s, err := d1.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
		if err != nil {
			t.Fatal(err)
		}
		r1.next(t)
		synctest.Wait()
		if j, _ := d1.findJob(s.JobID); j.State != wire.StateRunning {
			t.Fatalf("job %s, want running", j.State)
		}
		if err := d1.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}

		d2 := newTestDispatcher(t, cfg)
		time.Sleep(window - time.Millisecond)
		synctest.Wait()
		if j, _ := d2.findJob(s.JobID); j.State != wire.StateRunning || j.Attempt != 1 {
			t.Fatalf("within the reclaim window the job is %s at attempt %d, want running at 1", j.State, j.Attempt)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		j, _ := d2.findJob(s.JobID)
		if j.State != wire.StateQueued || len(j.Attempts) != 1 || j.Attempts[0].Outcome != outcomeLost ||
			!strings.Contains(j.Attempts[0].Reason, "did not report attempt 1") {
			t.Fatalf("after the reclaim window: %s, attempts %+v; want queued, attempt 1 lost", j.State, j.Attempts)
		}
	})
}

// A runner whose connection stays open but says nothing is lost once
// Heartbeat × MaxMissed pass without a frame from it, and its job is queued again.
func TestSilentRunnerIsLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := newTestDispatcher(t, Config{MaxMissed: 3, NoResultFiles: true, LeaseTimeout: time.Hour})
		silence := d.cfg.Heartbeat * time.Duration(d.cfg.MaxMissed)
		s, err := d.Submit(t.Context(), &wire.Submit{Repo: "/r", Commit: commit(0)})
		if err != nil {
			t.Fatal(err)
		}
		id := s.JobID
		a, b := net.Pipe()
		go d.ServeConn(a)
		// It accepts the job and then says nothing: it reads (so that the
		// dispatcher's writes go through) but sends no heartbeat.
		hello := &wire.Hello{Role: wire.RoleRunner, Name: "r1", Slots: 1}
		if _, _, err := peer.Handshake(t.Context(), b, withIdentity(d, hello), peer.Options{}); err != nil {
			t.Fatal(err)
		}
		go acceptThenSilence(b)
		t.Cleanup(func() { b.Close() })
		synctest.Wait()
		if j, _ := d.findJob(id); j.State != wire.StateRunning || j.Runner != "r1" {
			t.Fatalf("job %s on %q, want running on r1", j.State, j.Runner)
		}
		time.Sleep(silence - 10*time.Millisecond)
		synctest.Wait()
		if j, _ := d.findJob(id); j.State != wire.StateRunning {
			t.Fatalf("before the runner missed %d heartbeats the job is %s, want running", d.cfg.MaxMissed, j.State)
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		j, _ := d.findJob(id)
		if j.State != wire.StateQueued || len(j.Attempts) != 1 || j.Attempts[0].Outcome != outcomeLost ||
			!strings.Contains(j.Attempts[0].Reason, "runner r1 lost") {
			t.Fatalf("after the silence: %s, attempts %+v; want queued, attempt 1 lost with r1", j.State, j.Attempts)
		}
	})
}

// acceptThenSilence answers the first job.assign on c with {} and then only
// reads: a runner that took a job and froze.
func acceptThenSilence(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(nil, wire.MaxFrameSize+1)
	answered := false
	for sc.Scan() {
		var f struct {
			ID     uint64 `json:"id"`
			Method string `json:"method"`
		}
		if answered || json.Unmarshal(sc.Bytes(), &f) != nil || f.Method != wire.MethodJobAssign {
			continue
		}
		answered = true
		fmt.Fprintf(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}\n", f.ID)
	}
}
