// Package wire is Eventide's wire format: the frame envelope, method names, error
// codes, message payloads and their validation, and newline-delimited JSON framing.
//
// It has no goroutines and no I/O policy of its own, so it can be fuzzed and reused by
// any client. docs/PROTOCOL.md mirrors this package; change them together.
package wire

// ProtocolVersion is the version this build speaks. Bump it by one for every change
// to the wire contract, in the same commit as docs/PROTOCOL.md.
const ProtocolVersion = 10

// MinProtocolVersion is the oldest version this build still accepts.
const MinProtocolVersion = 1

// MaxFrameSize is the default limit on one frame, newline excluded.
const MaxFrameSize = 1 << 20

// MaxHelloSize is the limit on a hello frame (since version 5), newline excluded:
// all a client may send before it is admitted, so that connections that have not
// said hello hold little memory. A runner's hello with its held jobs (about 200
// bytes each) fits with room to spare for 256 of them.
const MaxHelloSize = 64 << 10

// MaxChunkSize bounds the data of one output chunk so that, JSON-escaped, it always
// fits in a frame.
const MaxChunkSize = 128 << 10
