package dispatcher

import (
	"context"
	"encoding/json"

	"github.com/eventide-ci/eventide/net/wire"
)

// runnerSession handles one runner connection.
type runnerSession struct {
	d *Dispatcher
	r *runner
}

func (s *runnerSession) Handle(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case wire.MethodJobOutput:
		var o wire.Output
		if err := wire.Decode(method, params, &o); err != nil {
			return nil, err
		}
		t, err := s.d.output(s.r, &o)
		if err != nil {
			return nil, err
		}
		return s.d.later(t, "output of job "+o.JobID, nil), nil
	case wire.MethodJobTests:
		var c wire.TestChunk
		if err := wire.Decode(method, params, &c); err != nil {
			return nil, err
		}
		if err := s.d.testChunk(s.r, &c); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	case wire.MethodJobResult:
		var res wire.Result
		if err := wire.Decode(method, params, &res); err != nil {
			return nil, err
		}
		t, err := s.d.result(s.r, &res)
		if err != nil {
			return nil, err
		}
		return s.d.later(t, "result of job "+res.JobID, nil), nil
	case wire.MethodRunnerDrain:
		s.d.mu.Lock()
		s.d.drainLocked(s.r)
		s.d.mu.Unlock()
		s.d.log.Info("runner draining", "runner", s.r.name)
		return nil, nil
	}
	return nil, wire.Errorf(wire.CodeMethodNotFound, "method %q is not available to a runner", method)
}

// Closed re-queues the runner's jobs: a closed connection is a lost runner at once.
func (s *runnerSession) Closed(err error) { s.d.gone(s.r, err) }
