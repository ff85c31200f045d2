package tui

import (
	"context"
	"strconv"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/eventide-ci/eventide/net/wire"
)

// flakyPane lists a repository's flaky tests, the most recently seen first:
// how many commits each flipped on, when it last did, and on which commit;
// enter opens the job it last flipped in.
type flakyPane struct {
	c    *common
	gen  int
	repo string
	from pane // where esc goes back to
	list []wire.FlakyTest
	// loaded is set by the first reply, err by a failed one.
	loaded bool
	err    error
	listState
	width, height int
	rows          int
}

type flakyMsg struct {
	gen  int
	list wire.FlakyList
	err  error
}

func newFlakyPane(c *common, repo string, from pane) (*flakyPane, tea.Cmd) {
	c.viewGen++
	p := &flakyPane{c: c, gen: c.viewGen, repo: repo, from: from}
	return p, p.load()
}

func (p *flakyPane) load() tea.Cmd {
	b, ctx, gen, repo := p.c.b, p.c.ctx, p.gen, p.repo
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		l, err := b.FlakyTests(ctx, wire.FlakyQuery{Repo: repo})
		return flakyMsg{gen: gen, list: l, err: err}
	}
}

func (p *flakyPane) onList(msg flakyMsg) {
	if msg.gen != p.gen {
		return
	}
	p.loaded, p.err = true, msg.err
	if msg.err == nil {
		p.list = msg.list.Tests
		p.cursor = max(0, min(p.cursor, len(p.list)-1))
		p.scrollTo(len(p.list), p.rows)
	}
}

func (p *flakyPane) setSize(width, height int) {
	p.width, p.height = width, height
	p.rows = max(1, height-2)
	p.scrollTo(len(p.list), p.rows)
}

func (p *flakyPane) update(k tea.KeyPressMsg) tea.Cmd {
	keys := &p.c.keys
	if p.move(keys, len(p.list), p.rows, k) {
		p.scrollTo(len(p.list), p.rows)
		return nil
	}
	switch {
	case key.Matches(k, keys.Back):
		p.c.host.closeFlaky()
	case key.Matches(k, keys.Open):
		if p.cursor < len(p.list) {
			if id := p.list[p.cursor].LastJob; id != "" {
				return p.c.host.openJob(id)
			}
		}
	case key.Matches(k, keys.Flaky):
		// Again: the list as it is now; a reply to the earlier ask is dropped.
		p.c.viewGen++
		p.gen = p.c.viewGen
		return p.load()
	}
	return nil
}

func (p *flakyPane) ShortHelp() []key.Binding {
	k := &p.c.keys
	return []key.Binding{k.Help, k.Quit, k.Back, k.Open, k.Up, k.Down, k.Flaky}
}

func (p *flakyPane) FullHelp() [][]key.Binding {
	k := &p.c.keys
	return [][]key.Binding{k.moveKeys(), {k.Open, k.Flaky, k.Back}, k.generalKeys()}
}

// flaky's columns: the flips and the age are numbers, the commit is short;
// the test takes the rest.
const (
	flakyFlipsW  = 5
	flakySeenW   = 4
	flakyCommitW = 7
)

func (p *flakyPane) view(focused bool) []string {
	st := &p.c.st
	title := "Flaky tests of " + clean(p.repo)
	if p.loaded && p.err == nil {
		title += " (" + strconv.Itoa(len(p.list)) + ")"
	}
	out := make([]string, 0, p.height)
	out = append(out, st.paneTitle(p.width, title, position(p.cursor, len(p.list)), focused))
	out = append(out, st.colHead.Render(fit("  "+fitRight("FLIPS", flakyFlipsW)+" "+fitRight("SEEN", flakySeenW)+" "+fit("COMMIT", flakyCommitW)+" TEST", p.width)))
	now := p.c.now()
	for i := 0; i < p.rows && p.offset+i < len(p.list); i++ {
		n := p.offset + i
		t := &p.list[n]
		sel := n == p.cursor && focused
		mark := "  "
		if sel {
			mark = "> "
		}
		cells := mark + fitRight(strconv.Itoa(t.Flips), flakyFlipsW) + " " + fitRight(age(now.Sub(t.LastSeen)), flakySeenW) + " " +
			fit(shortCommit(clean(t.LastCommit)), flakyCommitW) + " "
		if sel {
			text := cells + clean(t.ID)
			if s := clean(t.Suite); s != "" {
				text += " · " + s
			}
			out = append(out, st.selected.Render(fit(text, p.width)))
			continue
		}
		r := newRow(p.width).add(plain, cells).add(st.flaky, clean(t.ID))
		if s := clean(t.Suite); s != "" {
			r.add(st.dim, " · "+s)
		}
		out = append(out, r.String())
	}
	var note string
	switch {
	case p.err != nil:
		note = newRow(p.width).add(st.errText, "  flaky tests: "+clean(p.err.Error())).add(st.dim, " · F to ask again").String()
	case !p.loaded:
		note = st.dim.Render(cut("  loading…", p.width))
	case len(p.list) == 0:
		note = st.dim.Render(cut("  no flaky tests: no test of this repository failed and passed on one commit", p.width))
	}
	if note != "" {
		if len(out) == 2+p.rows {
			out = out[:len(out)-1]
		}
		out = append(out, note)
	}
	return out
}
