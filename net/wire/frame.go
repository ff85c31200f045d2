package wire

import (
	"encoding/json"
	"fmt"
)

// Version is the value of every frame's "jsonrpc" member.
const Version = "2.0"

// Frame is the one envelope of the protocol, in JSON-RPC 2.0 shape. A request has
// an ID and a Method; a notification has a Method and no ID; a reply has the ID of
// its request and either Result or Error. IDs are positive integers, unique per
// connection and direction.
type Frame struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      uint64          `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Kind says what a frame is.
type Kind int

// Frame kinds.
const (
	KindInvalid Kind = iota
	KindRequest
	KindNotification
	KindReply
)

// Kind classifies f; KindInvalid means it breaks the envelope rules.
func (f *Frame) Kind() Kind {
	switch {
	case f.JSONRPC != Version:
		return KindInvalid
	case f.Method != "" && f.Result == nil && f.Error == nil:
		if f.ID == 0 {
			return KindNotification
		}
		return KindRequest
	case f.Method == "" && f.ID != 0 && (f.Result == nil) != (f.Error == nil):
		return KindReply
	case f.Method == "" && f.ID == 0 && f.Result == nil && f.Error != nil:
		// An error about a frame the sender could not read far enough to know its
		// id; the connection closes after it.
		return KindReply
	}
	return KindInvalid
}

// Error is the error member of a reply, and the error type handlers return to choose
// the code the peer sees.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Errorf makes an *Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewRequest builds a request frame.
func NewRequest(id uint64, method string, params any) (*Frame, error) {
	p, err := marshalPayload(params)
	if err != nil {
		return nil, fmt.Errorf("encode %s params: %w", method, err)
	}
	return &Frame{JSONRPC: Version, ID: id, Method: method, Params: p}, nil
}

// NewNotification builds a notification frame.
func NewNotification(method string, params any) (*Frame, error) {
	return NewRequest(0, method, params)
}

// NewReply builds a successful reply; a nil result is sent as {}.
func NewReply(id uint64, result any) (*Frame, error) {
	r, err := marshalPayload(result)
	if err != nil {
		return nil, fmt.Errorf("encode reply %d: %w", id, err)
	}
	if r == nil {
		r = json.RawMessage("{}")
	}
	return &Frame{JSONRPC: Version, ID: id, Result: r}, nil
}

// NewErrorReply builds an error reply. An id of 0 makes an error notification, used
// for a frame that could not be read far enough to know its id.
func NewErrorReply(id uint64, e *Error) *Frame {
	return &Frame{JSONRPC: Version, ID: id, Error: e}
}

func marshalPayload(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if string(b) == "null" {
		// A nil pointer or map: no params, or {} as a result. A peer refuses a
		// null params or result (since version 4).
		return nil, err
	}
	return b, err
}
