package tui

import (
	"charm.land/bubbles/v2/key"
)

// keyMap follows k9s and lazygit, so that people who use those feel at home.
type keyMap struct {
	NextPane    key.Binding
	PrevPane    key.Binding
	Up          key.Binding
	Down        key.Binding
	Top         key.Binding
	Bottom      key.Binding
	PageUp      key.Binding
	PageDown    key.Binding
	HalfUp      key.Binding
	HalfDown    key.Binding
	Left        key.Binding
	Right       key.Binding
	Open        key.Binding
	Back        key.Binding
	Filter      key.Binding
	StateFilter key.Binding
	Search      key.Binding
	NextMatch   key.Binding
	PrevMatch   key.Binding
	Retry       key.Binding
	RetryFailed key.Binding
	Cancel      key.Binding
	Drain       key.Binding
	Revoke      key.Binding
	Follow      key.Binding
	Tests       key.Binding
	Flaky       key.Binding
	Help        key.Binding
	Quit        key.Binding
	Yes         key.Binding
	No          key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		NextPane:    b([]string{"tab"}, "tab", "next pane"),
		PrevPane:    b([]string{"shift+tab"}, "S-tab", "prev pane"),
		Up:          b([]string{"k", "up"}, "k/↑", "up"),
		Down:        b([]string{"j", "down"}, "j/↓", "down"),
		Top:         b([]string{"g", "home"}, "g", "top"),
		Bottom:      b([]string{"G", "end"}, "G", "bottom"),
		PageUp:      b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:    b([]string{"pgdown", "ctrl+f", "space"}, "pgdn", "page down"),
		HalfUp:      b([]string{"ctrl+u"}, "C-u", "½ page up"),
		HalfDown:    b([]string{"ctrl+d"}, "C-d", "½ page down"),
		Left:        b([]string{"h", "left"}, "h/←", "scroll left"),
		Right:       b([]string{"l", "right"}, "l/→", "scroll right"),
		Open:        b([]string{"enter"}, "enter", "open"),
		Back:        b([]string{"esc"}, "esc", "back"),
		Filter:      b([]string{"/"}, "/", "filter"),
		StateFilter: b([]string{"s"}, "s", "state"),
		Search:      b([]string{"/"}, "/", "search log"),
		NextMatch:   b([]string{"n"}, "n/N", "next/prev match"),
		PrevMatch:   b([]string{"N"}, "N", "prev match"),
		Retry:       b([]string{"r"}, "r", "retry"),
		RetryFailed: b([]string{"R"}, "R", "retry failed"),
		Cancel:      b([]string{"x"}, "x", "cancel"),
		Drain:       b([]string{"d"}, "d", "drain"),
		Revoke:      b([]string{"X"}, "X", "revoke"),
		Follow:      b([]string{"f"}, "f", "follow"),
		Tests:       b([]string{"t"}, "t", "tests"),
		Flaky:       b([]string{"F"}, "F", "flaky"),
		Help:        b([]string{"?"}, "?", "help"),
		Quit:        b([]string{"q", "ctrl+c"}, "q", "quit"),
		Yes:         b([]string{"y", "Y"}, "y", "yes"),
		No:          b([]string{"n", "N", "esc"}, "n", "no"),
	}
}

// moveKeys are the help's keys for moving through a pane.
func (k *keyMap) moveKeys() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown}
}

// generalKeys are the help's keys that work in every pane.
func (k *keyMap) generalKeys() []key.Binding {
	return []key.Binding{k.NextPane, k.PrevPane, k.Help, k.Quit}
}
