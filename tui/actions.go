package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// requestTimeout bounds a request so that a dispatcher that stopped answering
// does not leave goroutines behind.
const requestTimeout = 30 * time.Second

type (
	actionMsg struct {
		verb     string // retry, cancel, drain, revoke
		target   string // a job id or a runner name
		info     *wire.JobInfo
		requeued int // revoke: the runner's jobs queued again
		err      error
	}
	bulkMsg struct {
		ok    []wire.JobInfo
		fails int
		err   error
	}
)

func (c *common) retry(id string) tea.Cmd {
	b, ctx := c.b, c.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := b.Retry(ctx, id)
		return actionMsg{verb: "retry", target: id, info: &info, err: err}
	}
}

func (c *common) stop(id string) tea.Cmd {
	b, ctx := c.b, c.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return actionMsg{verb: "cancel", target: id, err: b.Stop(ctx, id)}
	}
}

func (c *common) drain(name string) tea.Cmd {
	b, ctx := c.b, c.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return actionMsg{verb: "drain", target: name, err: b.Drain(ctx, name)}
	}
}

func (c *common) revoke(name, identity string) tea.Cmd {
	b, ctx := c.b, c.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		r, err := b.Revoke(ctx, identity)
		return actionMsg{verb: "revoke", target: name, requeued: r.Requeued, err: err}
	}
}

// retryAll retries jobs one after another: a dispatcher is not helped by a
// thousand simultaneous requests, and the user sees one summary at the end.
func (c *common) retryAll(ids []string) tea.Cmd {
	b, ctx := c.b, c.ctx
	return func() tea.Msg {
		var out bulkMsg
		for _, id := range ids {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			info, err := b.Retry(rctx, id)
			cancel()
			if err != nil {
				out.fails++
				if out.err == nil {
					out.err = err
				}
				if ctx.Err() != nil {
					break
				}
				continue
			}
			out.ok = append(out.ok, info)
		}
		return out
	}
}

// askCancel asks before cancelling a job; every pane cancels through it.
func (c *common) askCancel(j wire.JobInfo) {
	if j.State.Final() {
		c.host.setStatus(fmt.Sprintf("job %s already %s", jobName(j), j.State))
		return
	}
	id := j.ID
	c.host.ask(fmt.Sprintf("Cancel job %s? [y/n]", jobName(j)), func() tea.Cmd { return c.stop(id) })
}

// jobName is how prompts and messages name a job: its short commit and subject.
func jobName(j wire.JobInfo) string {
	name := shortCommit(clean(j.Commit))
	if name == "" {
		name = shortID(j.ID)
	}
	if s := firstLine(j.Message); s != "" {
		name += " “" + cut(s, 40) + "”"
	}
	return name
}

func (m *Model) onAction(msg actionMsg) tea.Cmd {
	if msg.err != nil {
		m.setError(fmt.Sprintf("%s failed: %v", msg.verb, msg.err))
		return nil
	}
	switch msg.verb {
	case "retry":
		if msg.info != nil && msg.info.ID != "" {
			return m.retried(*msg.info)
		}
		m.setStatus("retry requested")
	case "cancel":
		name := shortID(msg.target)
		if e := m.c.mirror.jobs[msg.target]; e != nil {
			name = jobName(e.info)
		}
		m.setStatus("cancel requested for " + name)
	case "drain":
		m.setStatus("draining runner " + clean(msg.target))
	case "revoke":
		m.setStatus(fmt.Sprintf("revoked runner %s: %d job(s) queued again", clean(msg.target), msg.requeued))
	}
	return nil
}

// retried shows a job as the dispatcher's reply to a retry has it, unless the
// event stream has already brought something newer.
func (m *Model) retried(info wire.JobInfo) tea.Cmd {
	e := m.c.mirror.putNewer(info)
	m.refresh()
	// A retried job waits in the queue; its attempt number goes up when a
	// runner takes it.
	next := info.Attempt
	if info.State == wire.StateQueued {
		next++
	}
	m.setStatus(fmt.Sprintf("retrying %s: attempt %d queued", jobName(info), next))
	if m.detail != nil && m.detail.id == info.ID && e != nil {
		return m.detail.jobChanged(e.info)
	}
	return nil
}

func (m *Model) onBulk(msg bulkMsg) {
	for _, j := range msg.ok {
		m.c.mirror.putNewer(j)
	}
	m.refresh()
	if msg.fails > 0 {
		m.setError(fmt.Sprintf("retried %d, %d failed: %v", len(msg.ok), msg.fails, msg.err))
		return
	}
	m.setStatus("retried " + plural(len(msg.ok), "job", "jobs"))
}
