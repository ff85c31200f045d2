package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	jsonv2 "github.com/go-json-experiment/json"
)

// ErrFrameTooLarge is returned by Reader.Read for a line over the size limit. After
// it the stream is out of step and the connection must be closed.
var ErrFrameTooLarge = errors.New("frame exceeds the size limit")

// ErrMalformed wraps the reason a line is not a valid frame. The stream is still in
// step, but the protocol says to close the connection after reporting it.
var ErrMalformed = errors.New("malformed frame")

// Reader reads newline-delimited frames with a hard size limit. It never buffers more
// than the limit, whatever length a peer claims or sends.
type Reader struct {
	sc    *bufio.Scanner
	max   int
	limit int // the current limit on a line, at most max
}

// NewReader returns a Reader over r; max <= 0 means MaxFrameSize.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxFrameSize
	}
	sc := bufio.NewScanner(r)
	rd := &Reader{sc: sc, max: max, limit: max}
	sc.Split(rd.scanFullLines)
	// The scanner needs room for the newline too, and its first buffer must not
	// exceed the limit, since the limit only applies to growing it.
	// Small at first: a dispatcher holds one per connection, and most frames are
	// heartbeats; it grows for bigger frames, doubling. 513 rather than 512 bytes,
	// so that the seventh doubling holds a whole hello (MaxHelloSize and its
	// newline) and a connection refused before its hello never needs twice that.
	sc.Buffer(make([]byte, 0, min(helloStep, max+1)), max+1)
	return rd
}

// SetLimit lowers the limit on the lines read from now on to n (at most the limit
// given to NewReader; n <= 0 restores it). A server reads a hello under
// MaxHelloSize, so that a client that has not said hello holds little memory, and
// then lifts the limit. The buffer never grows much past the limit in force: a
// line longer than it fails as soon as the limit's worth has arrived.
func (r *Reader) SetLimit(n int) {
	if n <= 0 || n > r.max {
		n = r.max
	}
	r.limit = n
}

// Read returns the next frame. Blank lines are skipped. At the end of the stream it
// returns io.EOF; a line over the limit gives ErrFrameTooLarge; a line that is not a
// valid frame gives an error wrapping ErrMalformed (use ErrorFor to answer it).
func (r *Reader) Read() (*Frame, error) {
	for r.sc.Scan() {
		line := bytes.TrimSpace(r.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if bytes.Equal(line, heartbeatLine) {
			// Most of what an idle connection reads: skipping the JSON decoder
			// leaves a dispatcher holding thousands of runners almost no garbage.
			return &Frame{JSONRPC: Version, Method: MethodHeartbeat}, nil
		}
		return ParseFrame(line)
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) || errors.Is(err, errOverLimit) {
			return nil, fmt.Errorf("%w (%d bytes)", ErrFrameTooLarge, r.limit)
		}
		return nil, err
	}
	return nil, io.EOF
}

// helloStep is the reader's first buffer: (MaxHelloSize+1)/128, rounded up.
const helloStep = (MaxHelloSize + 1 + 127) / 128

// heartbeatLine is a heartbeat as this package encodes it.
var heartbeatLine = []byte(`{"jsonrpc":"2.0","method":"heartbeat"}`)

// errOverLimit stops the scanner at a line over a limit lowered by SetLimit.
var errOverLimit = errors.New("line over the limit")

// scanFullLines is bufio.ScanLines without its last-line rule: a line cut short by
// the end of the stream or by a read error (a deadline) is not a frame, and is
// dropped instead of being parsed as a malformed one. It also enforces r.limit.
func (r *Reader) scanFullLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexByte(data, '\n')
	if i > r.limit || i < 0 && len(data) > r.limit {
		return 0, nil, errOverLimit
	}
	if i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), nil, nil
	}
	return 0, nil, nil
}

// ParseFrame decodes one line into a frame and checks the envelope rules.
func ParseFrame(line []byte) (*Frame, error) {
	var f Frame
	if err := jsonv2.Unmarshal(line, &f); err != nil {
		return nil, &malformedError{code: CodeParseError, reason: plainError(err).Error()}
	}
	if f.Kind() == KindInvalid {
		return nil, &malformedError{code: CodeInvalidRequest, reason: "not a JSON-RPC 2.0 request, notification or reply"}
	}
	if f.Error != nil && f.Error.Message == "" {
		return nil, &malformedError{code: CodeInvalidRequest, reason: "error reply without a message"}
	}
	return &f, nil
}

// malformedError carries the JSON-RPC code that answers a bad line.
type malformedError struct {
	code   int
	reason string
}

func (e *malformedError) Error() string { return ErrMalformed.Error() + ": " + e.reason }
func (e *malformedError) Unwrap() error { return ErrMalformed }

// ErrorFor turns a Read error into the error frame to send before closing.
func ErrorFor(err error) *Frame {
	var m *malformedError
	switch {
	case errors.As(err, &m):
		return NewErrorReply(0, Errorf(m.code, "%v", err))
	case errors.Is(err, ErrFrameTooLarge):
		return NewErrorReply(0, Errorf(CodeParseError, "%v", err))
	default:
		return NewErrorReply(0, Errorf(CodeInvalidRequest, "%v", err))
	}
}

// AppendFrame appends f's encoding and a newline to b. The encoding never contains a
// raw newline, since encoding/json escapes control characters inside strings.
func AppendFrame(b []byte, f *Frame) ([]byte, error) {
	data, err := json.Marshal(f)
	if err != nil {
		return b, fmt.Errorf("encode frame: %w", err)
	}
	b = append(b, data...)
	return append(b, '\n'), nil
}
