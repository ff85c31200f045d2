package runner

import (
	"encoding/json"
	"strings"
	"unicode"

	"github.com/eventide-ci/eventide/net/wire"
	"github.com/eventide-ci/eventide/services/testreport"
)

// maxTestChunkBytes bounds one job.tests chunk's encoded records, well
// inside a frame (wire.MaxFrameSize) with the envelope around them.
const maxTestChunkBytes = 512 << 10

// testRecords turns every record of rep, subtests included and in order,
// into what the wire carries, at most wire.MaxTestRecords of them: names on
// one line and clipped, messages' first lines without control characters
// other than line breaks.
func testRecords(rep *testreport.Report) []wire.TestRecord {
	var out []wire.TestRecord
	for _, run := range rep.Runs {
		for _, r := range run.Records {
			if len(out) == wire.MaxTestRecords {
				return out
			}
			t := wire.TestRecord{
				ID:      wire.Clip(oneLine(r.ID), wire.MaxTestName),
				Suite:   wire.Clip(oneLine(r.Suite), wire.MaxTestName),
				Outcome: string(r.Outcome),
				Message: testMessage(r.Message),
			}
			if r.Duration >= 0 {
				t.DurationMS = new(min(r.Duration.Milliseconds(), wire.MaxDurationMS))
			}
			if t.Validate() != nil { // an ID all control characters: nothing to know it by
				continue
			}
			out = append(out, t)
		}
	}
	return out
}

// testMessage is a message's first lines within wire.MaxTestMessage bytes,
// cut at a line break where one is near, with tabs as spaces and no other
// control or format character (no bidi override can reorder what a console
// shows).
func testMessage(msg string) string {
	msg = strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(msg, "\uFFFD"))
	msg = strings.TrimRight(msg, " \n")
	if len(msg) <= wire.MaxTestMessage {
		return msg
	}
	msg = wire.Clip(msg, wire.MaxTestMessage)
	if i := strings.LastIndexByte(msg, '\n'); i > wire.MaxTestMessage/2 {
		msg = msg[:i]
	}
	return strings.TrimRight(msg, " \n")
}

// packTests cuts an attempt's records into job.tests chunks numbered from 0,
// each at most wire.MaxTestChunk records and maxTestChunkBytes encoded, and
// at most wire.MaxTestChunks chunks (a limit only records of a megabyte
// each together could reach: the rest are then left out).
func packTests(jobID string, attempt int, tests []wire.TestRecord) []wire.TestChunk {
	var chunks []wire.TestChunk
	start, size := 0, 0
	cut := func(end int) bool {
		if end == start {
			return true
		}
		if len(chunks) == wire.MaxTestChunks {
			return false
		}
		chunks = append(chunks, wire.TestChunk{JobID: jobID, Attempt: attempt, Seq: len(chunks), Tests: tests[start:end]})
		start, size = end, 0
		return true
	}
	for i := range tests {
		b, err := json.Marshal(&tests[i])
		if err != nil {
			continue // cannot happen: strings and an integer
		}
		if i-start == wire.MaxTestChunk || size+len(b)+1 > maxTestChunkBytes {
			if !cut(i) {
				return chunks
			}
		}
		size += len(b) + 1
	}
	cut(len(tests))
	return chunks
}
