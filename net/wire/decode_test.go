package wire

import (
	"strings"
	"testing"
)

// Payloads decode strictly (since version 4): names exactly as written, each value
// of its type, no name twice, and unknown members still ignored.
func TestDecodeStrict(t *testing.T) {
	const ok = `{"repo":"/srv/app","commit":"` + "3f786850e387550fdab836ed7e6dc881de23001b" + `"`
	good := []string{
		ok + `}`,
		ok + `,"unknown":{"nested":[1,2]},"also":null}`,
		"  \n" + ok + `}`,
	}
	for _, in := range good {
		var s Submit
		if err := Decode(MethodCommitSubmit, []byte(in), &s); err != nil || s.Repo != "/srv/app" {
			t.Errorf("%s: %v (%+v)", in, err, s)
		}
	}
	bad := map[string]string{
		ok + `,"Branch":"main","branch":7}`:                                       `"/branch": want a string, got a number`,
		`{"REPO":"/srv/app","Commit":"3f786850e387550fdab836ed7e6dc881de23001b"}`: "repository is empty",
		ok + `,"repo":"/other"}`:                                                  `duplicate object member name "repo"`,
		ok + `,"x":{"a":1,"a":1}}`:                                                `duplicate object member name "a"`,
		ok + ",\"author\":\"\xff\"}":                                              "invalid UTF-8",
		ok + ",\"unknown\":\"\xc3\"}":                                             "invalid UTF-8",
		ok + `,"author":"\udc00"}`:                                                "invalid surrogate",
		ok + `,"time":1700000000}`:                                                `"/time": want an RFC 3339 time string, got a number`,
		`null`:                                                                    "params must be an object",
		`[]`:                                                                      "params must be an object",
		`"x"`:                                                                     "params must be an object",
	}
	for in, want := range bad {
		var s Submit
		err := Decode(MethodCommitSubmit, []byte(in), &s)
		we, _ := err.(*Error)
		if we == nil || we.Code != CodeInvalidParams || !strings.Contains(we.Message, want) || !strings.HasPrefix(we.Message, MethodCommitSubmit+": ") {
			t.Errorf("%s: %v, want CodeInvalidParams naming the method and saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "wire.") {
			t.Errorf("%s: %v names a Go type", in, err)
		}
	}
	// Absent params are {}: the method's own validation decides.
	var s Submit
	if err := Decode(MethodCommitSubmit, nil, &s); err == nil || !strings.Contains(err.Error(), "repository is empty") {
		t.Errorf("absent params: %v", err)
	}
}

// A frame's members are read at the token level; the error says what was wrong in
// the peer's terms, without Go type names.
func TestParseFrameMessages(t *testing.T) {
	cases := map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"x","params":null}`: `member "params" is null, want an object`,
		`{"jsonrpc":"2.0","id":-4,"method":"x"}`:              `"/id": want a non-negative integer, got a number`,
		`{"jsonrpc":"2.0","id":1,"id":1,"method":"x"}`:        `duplicate object member name "id"`,
		`[{"jsonrpc":"2.0"}]`:                                 "a frame is a JSON object, not an array",
		`nope`:                                                "invalid character",
	}
	for in, want := range cases {
		_, err := ParseFrame([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "wire.") {
			t.Errorf("%s: %v, want it to say %q", in, err, want)
		}
	}
}

// What this package encodes always passes its own strict decoding: a nil payload is
// left out rather than sent as null.
func TestNilPayloadsNotNull(t *testing.T) {
	var nilResult *Result
	var nilMap map[string]string
	req, err := NewRequest(1, MethodRunnerDrain, nilMap)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := NewReply(1, nilResult)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Frame{req, rep} {
		b, err := AppendFrame(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFrame(b[:len(b)-1]); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}
