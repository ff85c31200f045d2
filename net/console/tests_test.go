package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/console"
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// runner is a runner at the protocol's level: it enrols, takes what it is
// given, and sends the per-test records and results the test tells it to.
type runner struct {
	conn    *peer.Conn
	assigns chan wire.Assign
}

func startRunner(t *testing.T, s *server) *runner {
	t.Helper()
	c, _, err := peer.Dial(ctxT(t), s.addr, &wire.Hello{Role: wire.RoleRunner, Name: "tests-runner", Slots: 1, Token: s.token, Enrol: true},
		peer.Options{MaxMissed: 20})
	if err != nil {
		t.Fatalf("runner: %v", err)
	}
	r := &runner{conn: c, assigns: make(chan wire.Assign, 8)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.Serve(context.Background(), peer.HandlerFunc(func(ctx context.Context, method string, params json.RawMessage) (any, error) {
			if method == wire.MethodJobAssign {
				var a wire.Assign
				if err := wire.Decode(method, params, &a); err != nil {
					return nil, err
				}
				r.assigns <- a
			}
			return nil, nil
		}))
	}()
	t.Cleanup(func() {
		c.Close()
		<-served
	})
	return r
}

func (r *runner) next(t *testing.T) wire.Assign {
	t.Helper()
	select {
	case a := <-r.assigns:
		return a
	case <-time.After(waitTime):
		t.Fatal("no assignment")
		return wire.Assign{}
	}
}

// finish sends recs in chunks of 200, then a result with status and the
// commit's retry_failed.
func (r *runner) finish(t *testing.T, a wire.Assign, status string, retryFailed int, recs []wire.TestRecord) {
	t.Helper()
	chunks := 0
	for lo := 0; lo < len(recs); lo += 200 {
		c := &wire.TestChunk{JobID: a.JobID, Attempt: a.Attempt, Seq: chunks, Tests: recs[lo:min(lo+200, len(recs))]}
		if err := r.conn.Call(ctxT(t), wire.MethodJobTests, c, nil); err != nil {
			t.Fatalf("job.tests %d: %v", chunks, err)
		}
		chunks++
	}
	now := time.Now()
	res := &wire.Result{JobID: a.JobID, Attempt: a.Attempt, Status: status, StartedAt: now, FinishedAt: now,
		TestChunks: chunks, RetryFailed: retryFailed, Summary: wire.Summary{Reported: new(true)}}
	for _, rec := range recs {
		switch rec.Outcome {
		case wire.OutcomePassed:
			res.Summary.Passed++
		case wire.OutcomeFailed:
			res.Summary.Failed++
			res.Summary.Failing = append(res.Summary.Failing, rec.ID)
		}
	}
	if status == wire.StatusFailed {
		res.ExitCode = 1
	}
	if err := r.conn.Call(ctxT(t), wire.MethodJobResult, res, nil); err != nil {
		t.Fatalf("job.result: %v", err)
	}
}

// suite is n tests, test i taking (i*37)%1000 ms, every tenth without a
// duration; the tests fail names fail.
func suite(n int, fail ...string) []wire.TestRecord {
	out := make([]wire.TestRecord, n)
	for i := range out {
		r := &out[i]
		r.ID, r.Suite, r.Outcome = fmt.Sprintf("test_%04d", i), "pkg", wire.OutcomePassed
		if i%10 != 3 {
			r.DurationMS = new(int64(i * 37 % 1000))
		}
		if slices.Contains(fail, r.ID) {
			r.Outcome, r.Message = wire.OutcomeFailed, "expected 1\ngot 2"
		}
	}
	return out
}

// A console pages through an attempt's tests, slowest first, and sees the
// test that failed once and passed on its re-run as flaky: on the job, in
// its events, and in the repository's flaky tests.
func TestTestPagesAndFlaky(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s := startDispatcher(t, serverOpts{})
		c := newClient(t, s, tr)
		_, st := subscribe(t, c)
		r := startRunner(t, s)
		id := s.submit(t, 1, "main")

		// Attempt 1 fails test_0007; retry_failed 1 runs it again, and it passes.
		a := r.next(t)
		r.finish(t, a, wire.StatusFailed, 1, suite(450, "test_0007"))
		a2 := r.next(t)
		if a2.JobID != id || a2.Attempt != a.Attempt+1 {
			t.Fatalf("re-run %+v, want attempt %d of %s", a2, a.Attempt+1, id)
		}
		r.finish(t, a2, wire.StatusPassed, 1, suite(450))
		// The pass is told first, then (once stored) that it is flaky.
		passed := jobIs(id, wire.StatusPassed)
		ev, _ := st.wait(t, "the flaky pass", 0, func(ev wire.Event) bool { return passed(ev) && ev.Job.Flaky })
		if !slices.Equal(ev.Job.FlakyTests, []string{"test_0007"}) || ev.Job.TestsTotal != 450 {
			t.Fatalf("event: flaky %v, flaky tests %v, tests_total %d; want true, [test_0007], 450", ev.Job.Flaky, ev.Job.FlakyTests, ev.Job.TestsTotal)
		}

		// Slowest first, a page at a time, as the console's tests view asks.
		ctx := ctxT(t)
		var got []wire.TestRecord
		for off := 0; ; {
			j, err := c.JobGet(ctx, wire.JobGet{JobID: id, TestsOffset: off, TestsLimit: 200, TestsOrder: wire.TestsSlowest})
			if err != nil {
				t.Fatalf("page at %d: %v", off, err)
			}
			p := j.Tests
			if p == nil || p.Total != 450 || p.Attempt != a2.Attempt || j.TestsTotal != 450 {
				t.Fatalf("page at %d: %+v (tests_total %d), want 450 of attempt %d", off, p, j.TestsTotal, a2.Attempt)
			}
			got = append(got, p.Tests...)
			if p.Next == 0 {
				break
			}
			off = p.Next
		}
		if len(got) != 450 {
			t.Fatalf("%d tests over the pages, want 450", len(got))
		}
		for i := 1; i < len(got); i++ {
			prev, cur := got[i-1].DurationMS, got[i].DurationMS
			if prev == nil && cur != nil || prev != nil && cur != nil && *cur > *prev {
				t.Fatalf("test %d (%v) after test %d (%v): not slowest first", i, cur, i-1, prev)
			}
		}
		// The failed attempt's records are there too.
		j, err := c.JobGet(ctx, wire.JobGet{JobID: id, Attempt: a.Attempt, TestsLimit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if p := j.Tests; p == nil || p.Attempt != a.Attempt || p.Tests[7].ID != "test_0007" || p.Tests[7].Outcome != wire.OutcomeFailed || p.Tests[7].Message != "expected 1\ngot 2" {
			t.Fatalf("attempt %d's page: %+v", a.Attempt, j.Tests)
		}
		// A plain job.get has no page.
		if j, err := c.Job(ctx, id); err != nil || j.Tests != nil || !j.Flaky {
			t.Fatalf("job.get without a page: tests %+v, flaky %v, err %v", j.Tests, j.Flaky, err)
		}

		l, err := c.FlakyTests(ctx, wire.FlakyQuery{Repo: "/r"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Tests) != 1 {
			t.Fatalf("flaky tests %+v, want test_0007", l.Tests)
		}
		ft := l.Tests[0]
		if ft.ID != "test_0007" || ft.Suite != "pkg" || ft.Flips != 1 || ft.LastJob != id || ft.LastCommit != commitID(1) || ft.LastSeen.IsZero() {
			t.Fatalf("flaky test %+v, want test_0007 of pkg, 1 flip, last in %s on %s", ft, id, commitID(1))
		}
		if l, err := c.FlakyTests(ctx, wire.FlakyQuery{Repo: "/elsewhere"}); err != nil || len(l.Tests) != 0 {
			t.Fatalf("another repository's flaky tests: %+v, %v", l.Tests, err)
		}
	})
}

// A request is checked before it is sent, and what the dispatcher's protocol
// version lacks is refused here, with the versions in the message; the rest
// works as before.
func TestTestRequestsCheckedAndGated(t *testing.T) {
	s := startDispatcher(t, serverOpts{})
	ctx := ctxT(t)
	c := newClient(t, s, transports[0])
	subscribe(t, c)
	id := s.submit(t, 1, "main")
	for _, q := range []wire.JobGet{
		{JobID: id, TestsLimit: wire.MaxTestsPage + 1},
		{JobID: id, TestsLimit: 10, TestsOrder: "fastest"},
		{JobID: "nope"},
	} {
		if _, err := c.JobGet(ctx, q); err == nil || !strings.Contains(err.Error(), "job.get: ") {
			t.Errorf("job.get %+v: %v, want it refused before sending", q, err)
		}
	}
	if _, err := c.FlakyTests(ctx, wire.FlakyQuery{Repo: ""}); err == nil {
		t.Error("tests.flaky without a repository was sent")
	}

	old := console.Dial(s.addr, "", "console-9")
	t.Cleanup(old.Close)
	console.SpeakVersion(old, wire.VersionTestRecords-1)
	subscribe(t, old)
	_, err := old.JobGet(ctx, wire.JobGet{JobID: id, TestsLimit: 10})
	want := fmt.Sprintf("it speaks protocol %d, a page of tests needs %d", wire.VersionTestRecords-1, wire.VersionTestRecords)
	if !errors.Is(err, console.ErrOlderDispatcher) || !strings.Contains(err.Error(), want) {
		t.Errorf("a page from a dispatcher of version %d: %v, want ErrOlderDispatcher saying %q", wire.VersionTestRecords-1, err, want)
	}
	if _, err := old.FlakyTests(ctx, wire.FlakyQuery{Repo: "/r"}); !errors.Is(err, console.ErrOlderDispatcher) {
		t.Errorf("tests.flaky from an older dispatcher: %v, want ErrOlderDispatcher", err)
	}
	if j, err := old.Job(ctx, id); err != nil || j.ID != id {
		t.Errorf("job.get without a page from an older dispatcher: %+v, %v", j, err)
	}
}
