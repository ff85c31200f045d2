//go:build unix

package peer

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// waiting reports whether bytes (or the peer's close) wait in nc's socket,
// without reading them or waiting for any. It clears nc's read deadline (see
// lookAgain); the caller sets the next.
func waiting(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	nc.SetReadDeadline(time.Time{})
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // one look: never wait
	})
	return err == nil && (n > 0 || n == 0 && rerr == nil)
}

// lookAgain reads what is waiting in nc's socket without waiting for more, after
// a read of nc failed with timeout: bytes that were there count, and with none
// the timeout stands. The deadline is cleared first (the runtime refuses any read
// past it) and restored by the next read.
func lookAgain(nc net.Conn, p []byte, timeout error) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, timeout
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, timeout
	}
	nc.SetReadDeadline(time.Time{})
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), p)
		return true // one look: never wait
	})
	switch {
	case err != nil:
		return 0, err // closed meanwhile
	case n > 0:
		return n, nil
	case n == 0 && rerr == nil:
		return 0, io.EOF
	case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EINTR):
		return 0, timeout
	default:
		return 0, rerr
	}
}
