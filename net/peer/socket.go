package peer

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// socket is the connection under a TLS session. It gives back the byte sniff
// read before the session's first record, and it judges the session's writes
// as Conn.write judges a plaintext connection's: by progress, not by a fixed
// deadline. That judgement must happen below TLS: a session whose write timed
// out is broken for good (part of a record may have gone out), a socket is not.
//
// A write while a write deadline is set (the handshakes, a last error report)
// honours that deadline, once; the connection is ending if it passes.
type socket struct {
	net.Conn
	first []byte

	deadline atomic.Bool             // a write deadline is set
	in       atomic.Pointer[inbound] // set by judge, once the session's Conn exists
	silence  time.Duration           // written before in
}

// judge starts judging writes by progress: none for silence while nothing
// came in through in ends them.
func (s *socket) judge(in *inbound, silence time.Duration) {
	s.silence = silence
	s.in.Store(in)
}

func (s *socket) Write(b []byte) (int, error) {
	in := s.in.Load()
	if in == nil || s.deadline.Load() {
		return s.Conn.Write(b)
	}
	return writeJudged(s.Conn, b, s.silence, in)
}

func (s *socket) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	return s.Conn.Read(p)
}

func (s *socket) SetDeadline(t time.Time) error {
	s.deadline.Store(!t.IsZero())
	return s.Conn.SetDeadline(t)
}

func (s *socket) SetWriteDeadline(t time.Time) error {
	s.deadline.Store(!t.IsZero())
	return s.Conn.SetWriteDeadline(t)
}

// SyscallConn is the socket's, for waiting: by the time anyone asks, the TLS
// handshake has read the byte kept here.
func (s *socket) SyscallConn() (syscall.RawConn, error) {
	sc, ok := s.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
