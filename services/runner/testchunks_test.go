package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventide-ci/eventide/net/wire"
)

// These tests run a real runner, with a real repository whose command leaves a
// JUnit report, against the fake dispatcher over loopback TCP, speaking
// VersionTestRecords or an older version.

// junitTests is how many tests the repository's report holds: three chunks.
const junitTests = 2*wire.MaxTestChunk + 1000

// setupReportJob makes a repository whose .eventide.yml has reports: and
// retry_failed: 2, with a JUnit report of junitTests tests, the first two
// failing, and the job a fake dispatcher offers.
func setupReportJob(t *testing.T) (repo string, job wire.Assign) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites><testsuite name=\"big\">\n")
	for i := range junitTests {
		fmt.Fprintf(&b, "<testcase classname=\"pkg.Suite\" name=\"test_%d\" time=\"0.%03d\">", i, i%1000)
		if i < 2 {
			fmt.Fprintf(&b, "<failure message=\"assert %d == %d\">trace</failure>", i, i+1)
		}
		b.WriteString("</testcase>\n")
	}
	b.WriteString("</testsuite></testsuites>\n")
	repo, commit := newGitRepo(t, map[string]string{
		".eventide.yml":   "command: echo the tests ran\nreports: ['out/**/*.xml']\nretry_failed: 2\n",
		"out/a/junit.xml": b.String(),
	})
	job = wire.Assign{JobID: testJobID, Attempt: 1, Repo: repo, Commit: commit, Branch: "main"}
	return repo, job
}

// testsThenResult checks that connection conn carried the test chunks seq 0..
// in order and then the result, counting them, with the report's records and
// counts, and returns the result.
func testsThenResult(t *testing.T, frames []frame, conn int) wire.Result {
	t.Helper()
	var mine []frame
	for _, f := range frames {
		if f.conn == conn && f.method != wire.MethodJobOutput {
			mine = append(mine, f)
		}
	}
	if len(mine) != 4 || mine[3].method != wire.MethodJobResult {
		t.Fatalf("connection %d carried %v; want three test chunks, then the result", conn, mine)
	}
	n := 0
	for i, f := range mine[:3] {
		if f.method != wire.MethodJobTests || f.tests.Seq != i {
			t.Fatalf("frame %d on connection %d: %v, want test chunk %d", i, conn, f, i)
		}
		for _, r := range f.tests.Tests {
			want := fmt.Sprint("test_", n)
			if r.ID != want || r.Suite != "pkg.Suite" || r.DurationMS == nil || *r.DurationMS != int64(n%1000) {
				t.Fatalf("record %d = %+v, want %s of pkg.Suite taking %d ms", n, r, want, n%1000)
			}
			if (n < 2) != (r.Outcome == wire.OutcomeFailed) || (n < 2 && r.Message != fmt.Sprintf("assert %d == %d", n, n+1)) {
				t.Fatalf("record %d = %+v", n, r)
			}
			n++
		}
	}
	if n != junitTests {
		t.Fatalf("%d records in the chunks, want %d", n, junitTests)
	}
	res := mine[3].res
	s := res.Summary
	if res.TestChunks != 3 || res.RetryFailed != 2 || s.Tests != nil || s.Passed != junitTests-2 || s.Failed != 2 ||
		!slices.Equal(s.Failing, []string{"test_0", "test_1"}) {
		t.Fatalf("result: test_chunks %d, retry_failed %d, summary %d passed %d failed, failing %q, %d tests listed",
			res.TestChunks, res.RetryFailed, s.Passed, s.Failed, s.Failing, len(s.Tests))
	}
	return res
}

// A dispatcher of VersionTestRecords gets every record of the report in
// chunks, before the result that counts them; the report's counts win over
// the output (which has none).
func TestDeliverySendsTestChunks(t *testing.T) {
	t.Parallel()
	repo, job := setupReportJob(t)
	fd := startFake(t, job, func(fd *fakeDispatcher) { fd.version = wire.VersionTestRecords })
	h := startRunner(t, fd.addr, repo)
	fd.waitAssigned(t)
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t)
	fd.waitEnded(t)
	testsThenResult(t, fd.frames.Items(), 1)
	if out := stored(t, fd.frames.Items(), fd.acks.Items()); strings.Contains(out, "eventide: reports:") {
		t.Errorf("the collection had something to say:\n%s", out)
	}
}

// A dispatcher of an older version gets no job.tests (it has no such
// method): the result lists the tests in summary.tests, as before, and has no
// test_chunks or retry_failed.
func TestDeliveryToAnOlderDispatcher(t *testing.T) {
	t.Parallel()
	repo, job := setupReportJob(t)
	fd := startFake(t, job, func(fd *fakeDispatcher) { fd.version = wire.VersionTestRecords - 1 })
	h := startRunner(t, fd.addr, repo)
	fd.waitAssigned(t)
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t)
	fd.waitEnded(t)
	frames := fd.frames.Items()
	i := slices.IndexFunc(frames, func(f frame) bool { return f.method == wire.MethodJobResult })
	if i < 0 || slices.ContainsFunc(frames, func(f frame) bool { return f.method == wire.MethodJobTests }) {
		t.Fatalf("frames %v; want a result and no job.tests", frames)
	}
	res := frames[i].res
	if res.TestChunks != 0 || res.RetryFailed != 0 || len(res.Summary.Tests) != wire.MaxTests || res.Summary.Failed != 2 {
		t.Fatalf("result: test_chunks %d, retry_failed %d, %d tests listed, %d failed", res.TestChunks, res.RetryFailed,
			len(res.Summary.Tests), res.Summary.Failed)
	}
}

// After a reconnect every chunk goes again from seq 0, then the result.
func TestDeliveryResendsTestChunksAfterReconnect(t *testing.T) {
	t.Parallel()
	repo, job := setupReportJob(t)
	cut := make(chan struct{})
	var once sync.Once
	fd := startFake(t, job, func(fd *fakeDispatcher) {
		fd.version = wire.VersionTestRecords
		fd.reply = func(ctx context.Context, _ int, f frame) error {
			if f.conn == 1 && f.method != wire.MethodJobOutput && !(f.method == wire.MethodJobTests && f.tests.Seq == 0) {
				// Chunk 0 is acknowledged; then the connection is cut.
				once.Do(func() { close(cut) })
				<-ctx.Done()
				return wire.Errorf(wire.CodeShuttingDown, "connection closing")
			}
			return nil
		}
	})
	h := startRunner(t, fd.addr, repo)
	conn := fd.waitAssigned(t)
	select {
	case <-cut:
	case <-timeAfter(t):
		t.Fatal("no test chunk came after the first")
	}
	conn.Close()
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t)
	fd.waitEnded(t)
	frames := fd.frames.Items()
	if countResults(frames, 1) > 0 && slices.ContainsFunc(fd.acks.Items(), func(a ack) bool {
		return a.err == nil && frames[a.n].conn == 1 && frames[a.n].method == wire.MethodJobResult
	}) {
		t.Fatalf("the first connection acknowledged a result: %v", frames)
	}
	testsThenResult(t, frames, 2)
}

// A result refused because the dispatcher lacks test chunks has every chunk
// sent again, then the result.
func TestDeliveryResendsTestChunksTheDispatcherLacks(t *testing.T) {
	t.Parallel()
	repo, job := setupReportJob(t)
	var once sync.Once
	fd := startFake(t, job, func(fd *fakeDispatcher) {
		fd.version = wire.VersionTestRecords
		fd.reply = func(_ context.Context, _ int, f frame) error {
			var err error
			if f.method == wire.MethodJobResult {
				once.Do(func() { err = wire.Errorf(wire.CodeInternal, "have 1 of 3 test chunks; send them again") })
			}
			return err
		}
	})
	h := startRunner(t, fd.addr, repo)
	fd.waitAssigned(t)
	h.logs.Wait(t, waitLimit, "result delivered", "job", job.JobID)
	h.drain(t)
	fd.waitEnded(t)
	frames := fd.frames.Items()
	first := slices.IndexFunc(frames, func(f frame) bool { return f.method == wire.MethodJobResult })
	if first < 0 {
		t.Fatalf("no result: %v", frames)
	}
	testsThenResult(t, frames[:first+1], 1)
	testsThenResult(t, frames[first+1:], 1)
}
