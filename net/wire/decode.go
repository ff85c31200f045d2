package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Decoding is strict where encoding/json is loose (since version 4): member names
// match exactly, a name given twice in one object and invalid UTF-8 (raw, or a lone
// surrogate escape) anywhere in a frame make it unreadable, and each envelope member
// must have its JSON type, null included. Unknown members are still skipped, as the
// protocol promises. The decoder is github.com/go-json-experiment/json, the module
// behind encoding/json/v2, whose defaults are these rules; the standard library's v2
// still needs a GOEXPERIMENT in Go 1.26. Frames are still encoded with encoding/json,
// whose output always passes.

// UnmarshalJSONFrom reads a frame member by member, so that every envelope member is
// checked for its type before the frame's kind is decided. ParseFrame uses it.
func (f *Frame) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if k := dec.PeekKind(); k != '{' {
		if _, err := dec.ReadValue(); err != nil {
			return err // not JSON at all
		}
		return fmt.Errorf("a frame is a JSON object, not %s", kindName(k))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		var want jsontext.Kind
		switch name {
		case "jsonrpc", "method":
			want = '"'
		case "id":
			want = '0'
		case "params", "result", "error":
			want = '{'
		default:
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if k := dec.PeekKind(); k != want {
			if _, err := dec.ReadValue(); err != nil {
				return err // a syntax error rather than a wrong type
			}
			return fmt.Errorf("member %q is %s, want %s", name, kindName(k), kindName(want))
		}
		switch name {
		case "jsonrpc":
			err = jsonv2.UnmarshalDecode(dec, &f.JSONRPC)
		case "method":
			err = jsonv2.UnmarshalDecode(dec, &f.Method)
		case "id":
			// Refuses a negative, fractional or exponent id, and one past uint64.
			err = jsonv2.UnmarshalDecode(dec, &f.ID)
		case "params":
			f.Params, err = readObject(dec)
		case "result":
			f.Result, err = readObject(dec)
		case "error":
			f.Error = new(Error)
			err = jsonv2.UnmarshalDecode(dec, f.Error)
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readObject returns a copy of the next value, which the caller checked is an object:
// the decoder's buffer, like the Reader's line, is reused.
func readObject(dec *jsontext.Decoder) (json.RawMessage, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(v), nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "not JSON"
}

// Decode unmarshals a frame's params (or result) into v and validates it when v has
// a Validate method. Any failure is an *Error with CodeInvalidParams naming the
// method. Absent params are {}; anything but an object is refused.
func Decode(method string, raw json.RawMessage, v any) error {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if raw[0] != '{' {
		return Errorf(CodeInvalidParams, "%s: params must be an object", method)
	}
	if err := jsonv2.Unmarshal(raw, v); err != nil {
		return Errorf(CodeInvalidParams, "%s: bad params: %v", method, plainError(err))
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return Errorf(CodeInvalidParams, "%s: %v", method, err)
		}
	}
	return nil
}

// plainError drops the Go type names a semantic error carries ("into Go wire.Hello"),
// which mean nothing to a peer written in another language, and says where the
// value was, what it was and what was wanted.
func plainError(err error) error {
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) {
		return err
	}
	if se.JSONKind == 0 && se.Err != nil {
		return se.Err // our own, from Frame.UnmarshalJSONFrom
	}
	msg := fmt.Sprintf("got %s", kindName(se.JSONKind))
	if se.GoType != nil {
		msg = fmt.Sprintf("want %s, %s", jsonTypeOf(se.GoType), msg)
	}
	if se.Err != nil {
		msg += " (" + se.Err.Error() + ")"
	}
	return fmt.Errorf("%q: %s", string(se.JSONPointer), msg)
}

// jsonTypeOf names the JSON a Go type is decoded from.
func jsonTypeOf(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonTypeOf(t.Elem())
	}
	return "an object"
}
