//go:build !unix

package peer

import "net"

// lookAgain, where a socket cannot be read without waiting, lets the timeout
// stand.
func lookAgain(nc net.Conn, p []byte, timeout error) (int, error) { return 0, timeout }

// waiting, there, never sees bytes waiting.
func waiting(nc net.Conn) bool { return false }
