package dispatcher

import (
	"github.com/eventide-ci/eventide/net/peer"
	"github.com/eventide-ci/eventide/net/wire"
)

// admit gives a client that passed the handshake the session of its role.
func (d *Dispatcher) admit(c *peer.Conn, h *wire.Hello, w *wire.Welcome) (peer.Session, error) {
	switch h.Role {
	case wire.RoleObserver:
		d.log.Info("observer connected", "name", h.Name, "remote", c.RemoteAddr(), "credential", c.Credential().ID)
		return &observerSession{d: d, name: h.Name, owner: c.Credential().ID}, nil
	case wire.RoleConsole:
		cred := c.Credential()
		d.log.Info("console connected", "name", h.Name, "remote", c.RemoteAddr(), "credential", cred.ID, "read_only", cred.Roles.ReadOnly())
		return &consoleSession{d: d, name: h.Name, conn: c, owner: cred.ID, readOnly: cred.Roles.ReadOnly()}, nil
	case wire.RoleRunner:
		r, err := d.admitRunner(c, h, w)
		if err != nil {
			return nil, err
		}
		return &runnerSession{d: d, r: r}, nil
	}
	return nil, wire.Errorf(wire.CodeInvalidParams, "role %q is not served by this dispatcher yet", h.Role)
}
