package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReaderFrames(t *testing.T) {
	in := `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"role":"runner"}}` + "\n\n" +
		`{"jsonrpc":"2.0","method":"heartbeat"}` + "\r\n" +
		`{"jsonrpc":"2.0","id":1,"result":{}}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"error":{"code":-32005,"message":"busy"}}` + "\n" +
		`{"jsonrpc":"2.0","method":"cut-short-by-the-end-of-the-stream"`
	// One byte at a time: frames must survive arbitrary partial reads.
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 0)
	want := []Kind{KindRequest, KindNotification, KindReply, KindReply}
	for i, k := range want {
		f, err := r.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Kind() != k {
			t.Fatalf("frame %d: kind %v, want %v", i, f.Kind(), k)
		}
	}
	// A last line without its newline is not a frame (the peer went away mid-write).
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after last frame: %v, want EOF", err)
	}
}

func TestReaderLimit(t *testing.T) {
	small := `{"jsonrpc":"2.0","method":"heartbeat"}`
	r := NewReader(strings.NewReader(small+"\n"+strings.Repeat("x", 200)+"\n"), len(small))
	if _, err := r.Read(); err != nil {
		t.Fatalf("frame at exactly the limit: %v", err)
	}
	_, err := r.Read()
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("over the limit: %v, want ErrFrameTooLarge", err)
	}
	if f := ErrorFor(err); f.Error.Code != CodeParseError {
		t.Fatalf("error frame code %d", f.Error.Code)
	}
}

func TestParseFrameRejects(t *testing.T) {
	cases := map[string]int{
		`not json`:                                               CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x"`:                   CodeParseError,
		`{"jsonrpc":"1.0","method":"x"}`:                         CodeInvalidRequest,
		`{"jsonrpc":"2.0"}`:                                      CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`:        CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":0,"result":{}}`:                   CodeInvalidRequest,
		`{"jsonrpc":"2.0","id":-1,"method":"x"}`:                 CodeParseError,
		`{"jsonrpc":"2.0","id":"a","method":"x"}`:                CodeParseError,
		`{"jsonrpc":"2.0","id":3,"error":{"code":1}}`:            CodeInvalidRequest,
		`{"jsonrpc":"2.0","method":"x","result":{"a":1}}`:        CodeInvalidRequest,
		`[{"jsonrpc":"2.0","method":"x"}]`:                       CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":7}`:       CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1}}`: -1,
		// Strict since version 4: each member of its type, null included; names
		// exactly as written; no name twice in an object; valid UTF-8 throughout.
		`{"jsonrpc":"2.0","id":1,"method":"x","params":null}`:                         CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`:                          CodeParseError,
		`{"jsonrpc":"2.0","id":null,"method":"x"}`:                                    CodeParseError,
		`{"jsonrpc":"2.0","id":1.0,"method":"x"}`:                                     CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":null}`:                                      CodeParseError,
		`{"jsonrpc":"2.0","id":1,"result":null}`:                                      CodeParseError,
		`{"jsonrpc":"2.0","id":1,"result":"ok"}`:                                      CodeParseError,
		`{"jsonrpc":"2.0","id":1,"error":null}`:                                       CodeParseError,
		`{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"m"}}`:                 CodeParseError,
		`{"JSONRPC":"2.0","id":1,"method":"x"}`:                                       CodeInvalidRequest,
		`{"jsonrpc":"2.0","ID":1,"method":"x"}`:                                       -1, // a notification with an unknown member
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}`:                                CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"a":1}}`:                CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","other":{"b":[{"a":1,"a":2}]}}`:         CodeParseError,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xff\"}}": CodeParseError,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"other\":\"\xc3\"}":          CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":"\ud800"}}`:               CodeParseError,
		`{"jsonrpc":"2.0","id":1,"method":"x"} {}`:                                    CodeParseError,
	}
	for in, code := range cases {
		f, err := ParseFrame([]byte(in))
		if code == -1 {
			if err != nil {
				t.Errorf("%s: %v", in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted as %+v", in, f)
			continue
		}
		if got := ErrorFor(err).Error.Code; got != code {
			t.Errorf("%s: code %d, want %d (%v)", in, got, code, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	req, err := NewRequest(7, MethodJobAssign, &Assign{JobID: "0123456789abcdef", Attempt: 1,
		Repo: "/srv/repo", Commit: strings.Repeat("a", 40), Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := AppendFrame(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(strings.NewReader(string(b)), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	var a Assign
	if err := Decode(f.Method, f.Params, &a); err != nil {
		t.Fatal(err)
	}
	if a.Commit != strings.Repeat("a", 40) || f.ID != 7 {
		t.Fatalf("round trip changed the frame: %+v %+v", f, a)
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"role":"runner","protocol_version":1,"name":"r1","slots":1}}`,
		`{"jsonrpc":"2.0","method":"heartbeat"}`,
		`{"jsonrpc":"2.0","id":9,"error":{"code":-32003,"message":"stale"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"commit.submit","params":{"repo":"/r","commit":"../../etc/passwd"}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"session_id":"s","heartbeat_ms":1000}}`,
		"\x00\xff{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ParseFrame(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			if e := ErrorFor(err); e.Error == nil || e.Error.Message == "" {
				t.Fatalf("no error frame for %v", err)
			}
			return
		}
		if fr.Kind() == KindInvalid {
			t.Fatalf("accepted an invalid frame: %q", data)
		}
		// Whatever parsed must re-encode to one line and parse the same way.
		b, err := AppendFrame(nil, fr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\n") != 1 {
			t.Fatalf("encoding has a raw newline: %q", b)
		}
		again, err := ParseFrame(b[:len(b)-1])
		if err != nil || again.Kind() != fr.Kind() {
			t.Fatalf("re-parse: %v, kind %v vs %v", err, again, fr.Kind())
		}
		// Payload validation must never panic, whatever the method.
		for _, v := range []any{&Hello{}, &Assign{}, &Output{}, &Result{}, &Submit{}, &JobRef{}} {
			_ = Decode(fr.Method, fr.Params, v)
		}
	})
}

// The reader's shortcut for heartbeats matches what AppendFrame sends, and other
// spellings of a heartbeat still parse the long way.
func TestReaderHeartbeats(t *testing.T) {
	enc, err := AppendFrame(nil, &Frame{JSONRPC: Version, Method: MethodHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(string(enc), "\n"); got != string(heartbeatLine) {
		t.Fatalf("a heartbeat encodes as %s, the reader's shortcut expects %s", got, heartbeatLine)
	}
	in := string(enc) + ` { "method" : "heartbeat", "jsonrpc" : "2.0" }` + "\n" + string(enc)
	r := NewReader(strings.NewReader(in), 0)
	for i := range 3 {
		f, err := r.Read()
		if err != nil || f.Kind() != KindNotification || f.Method != MethodHeartbeat || f.JSONRPC != Version {
			t.Fatalf("heartbeat %d: %+v, %v", i, f, err)
		}
		f.Method = "changed" // each frame is the caller's own
	}
}

// A lowered limit (a hello's) fails a longer line once the limit's worth has
// arrived, without waiting for its end; lifted, the full limit holds again.
func TestReaderSetLimit(t *testing.T) {
	small := `{"jsonrpc":"2.0","method":"heartbeat"}`
	long := `{"jsonrpc":"2.0","method":"x","params":{"p":"` + strings.Repeat("p", 100) + `"}}`
	r := NewReader(strings.NewReader(small+"\n"+long+"\n"), 0)
	r.SetLimit(len(small))
	if _, err := r.Read(); err != nil {
		t.Fatalf("line at the lowered limit: %v", err)
	}
	_, err := r.Read()
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "(38 bytes)") {
		t.Fatalf("line over the lowered limit: %v, want ErrFrameTooLarge naming 38 bytes", err)
	}

	r = NewReader(strings.NewReader(long+"\n"), 0)
	r.SetLimit(len(small))
	r.SetLimit(0)
	if _, err := r.Read(); err != nil {
		t.Fatalf("after lifting the limit: %v", err)
	}

	// A line with no end: the reader gives up after about the limit, not at the
	// end of the stream.
	endless := &countingReader{r: iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 1<<20)))}
	r = NewReader(endless, 0)
	r.SetLimit(1000)
	if _, err := r.Read(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("endless line: %v", err)
	}
	if endless.n > 2000 {
		t.Fatalf("read %d bytes of an endless line under a limit of 1000", endless.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
