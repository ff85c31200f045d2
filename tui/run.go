package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
)

// Run shows a console over b in the terminal's alternate screen until the user
// quits or ctx ends.
func Run(ctx context.Context, b Backend, o Options) error {
	return New(b, o).Run(ctx)
}

// Run runs the model as a program in the terminal's alternate screen until the
// user quits or ctx ends. Afterwards Unfinished says which jobs were still
// queued or running.
func (m *Model) Run(ctx context.Context) error {
	var opts []tea.ProgramOption
	switch {
	case m.o.NoColor:
		opts = append(opts, tea.WithColorProfile(colorprofile.ASCII))
	case m.o.Profile != colorprofile.Unknown:
		opts = append(opts, tea.WithColorProfile(m.o.Profile))
	}
	p := tea.NewProgram(m, opts...)
	// Quit rather than kill when ctx ends, so that the terminal is restored.
	stop := context.AfterFunc(ctx, p.Quit)
	defer stop()
	_, err := p.Run()
	if !m.quitting {
		m.unfinished = m.c.mirror.active()
	}
	m.Close()
	return err
}
