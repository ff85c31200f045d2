package peer

import "errors"

// Reasons a connection ends. Conn.Err returns one of these (possibly wrapped), so
// callers can tell a lost peer from a shutdown.
var (
	// ErrClosed means this side closed the connection.
	ErrClosed = errors.New("connection closed")
	// ErrPeerClosed means the peer closed the connection or it broke.
	ErrPeerClosed = errors.New("peer closed the connection")
	// ErrHeartbeatTimeout means nothing arrived for several heartbeat intervals.
	ErrHeartbeatTimeout = errors.New("heartbeats missed")
	// ErrProtocol means the peer broke the protocol.
	ErrProtocol = errors.New("protocol violation")
	// ErrCredentialRemoved means the server no longer accepts the token the
	// client said hello with (Server.CloseRemoved).
	ErrCredentialRemoved = errors.New("credential removed")
	// ErrServerClosed is returned by Server.Serve after Shutdown or Close.
	ErrServerClosed = errors.New("peer: server closed")
)
