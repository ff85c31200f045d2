package runner

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/dispatcher"
)

// The runner against the real dispatcher, in process over loopback TCP: a
// report's records travel in job.tests chunks and are stored with the result,
// and the result file has the report's counts.
func TestTestRecordsReachTheDispatcher(t *testing.T) {
	t.Parallel()
	repo, job := setupReportJob(t)
	results := filepath.Join(t.TempDir(), "results")
	d, err := dispatcher.New(dispatcher.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), ResultsDir: results, Heartbeat: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); d.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("dispatcher shutdown: %v", err)
		}
		<-served
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	obs, _, err := peer.Dial(ctx, l.Addr().String(), &wire.Hello{Role: wire.RoleObserver, Name: "test-observer"}, peer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	go obs.Serve(context.Background(), peer.HandlerFunc(func(context.Context, string, json.RawMessage) (any, error) {
		return nil, wire.Errorf(wire.CodeMethodNotFound, "not served")
	}))
	defer obs.Close()
	var sub wire.Submitted
	if err := obs.Call(ctx, wire.MethodCommitSubmit, &wire.Submit{Repo: repo, Commit: job.Commit, Branch: "main"}, &sub); err != nil {
		t.Fatal(err)
	}
	h := startRunner(t, l.Addr().String(), repo)
	h.logs.Wait(t, waitLimit, "result delivered", "job", sub.JobID)

	var got *dispatcher.Job
	for _, j := range d.Jobs() {
		if j.ID == sub.JobID {
			got = &j
		}
	}
	if got == nil || got.Result == nil || got.Result.TestsTotal != junitTests || got.Result.Summary.Failed != 2 {
		t.Fatalf("the dispatcher has %+v; want a result with %d tests stored, 2 failed", got, junitTests)
	}
	// The result file is written after the result is stored.
	var b []byte
	for deadline := time.Now().Add(waitLimit); ; {
		if b, err = os.ReadFile(filepath.Join(results, job.Commit)); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for the file, not pacing the test
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := "Tests:     4998 passed, 2 failed, 0 errors, 0 skipped\n"; !strings.Contains(string(b), want) {
		t.Fatalf("result file lacks %q:\n%.2000s", want, b)
	}
}
