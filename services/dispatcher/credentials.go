package dispatcher

import (
	"github.com/eventide-ci/eventide/net/auth"
	"github.com/eventide-ci/eventide/net/wire"
)

// loadKeys makes the keyring of the shared token and the token file. The log
// names each line's credential id, the one later lines use instead of the token.
func loadKeys(cfg Config) (*auth.Keyring, error) {
	keys := auth.NewKeyring(cfg.Token)
	if cfg.TokenFile == "" {
		return keys, nil
	}
	lines, err := keys.LoadFile(cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	logLines(cfg, lines)
	return keys, nil
}

func logLines(cfg Config, lines []auth.Line) {
	for _, l := range lines {
		cfg.Logger.Info("credential", "file", cfg.TokenFile, "line", l.N, "credential", l.ID, "roles", l.Roles.String())
	}
}

// ReloadTokens reads the token file again (on SIGHUP): its tokens replace the
// previous file's, and the connections that said hello with a token no longer
// in it are closed. A bad file changes nothing; its error is logged and
// returned. (A runner's enrolled identity outlives the token it enrolled with.)
func (d *Dispatcher) ReloadTokens() error {
	if d.cfg.TokenFile == "" {
		d.log.Info("no --token-file to reload")
		return nil
	}
	lines, err := d.keys.LoadFile(d.cfg.TokenFile)
	if err != nil {
		d.log.Error("token file not reloaded; the previous tokens stay", "err", err)
		return err
	}
	logLines(d.cfg, lines)
	closed := d.srv.CloseRemoved()
	d.log.Info("token file reloaded", "file", d.cfg.TokenFile, "credentials", len(lines), "closed", closed)
	return nil
}

// allowed refuses a submission for repo when --allow-repo does not allow it.
func (d *Dispatcher) allowed(repo string) error {
	if ok, err := d.cfg.AllowRepos.Allows(repo); !ok {
		return wire.Errorf(wire.CodeInvalidParams, "%s: repository not allowed: %s%s", wire.MethodCommitSubmit, repo, errSuffix(err))
	}
	return nil
}

// errSuffix is ": err", or nothing without one.
func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// overQuotaLocked refuses another job from owner while it has its quota of jobs
// waiting in the queue.
func (d *Dispatcher) overQuotaLocked(method, owner string) error {
	if n := d.queue.ownedBy(owner); n >= d.cfg.MaxQueuedPerClient {
		return wire.Errorf(wire.CodeOverQuota, "%s: this client's credential has %d jobs queued, its quota (--max-queued-per-client); offer it again later", method, n)
	}
	return nil
}
