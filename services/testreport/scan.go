package testreport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// parser is one format's state machine. Every parser sees every line of
// the output, so a "make test" that runs go test and then pytest gives a
// run of each.
type parser interface {
	// line handles one line, without its newline and terminal escapes,
	// at most MaxLine bytes. It returns true when the line was a closing
	// summary the parser counted, which keeps the plain parser from
	// counting it again.
	line(l []byte) bool
	// end closes a run cut short by the end of the output.
	end()
}

// Parse reads a test command's output and returns every run it
// recognises, without configuration: unittest, pytest, go test (plain, -v
// and -json), TAP, prove's summary, node's spec reporter, jest, vitest,
// cargo test and the plain "N passed, N failed" line. It reads line by line, keeping no copy
// of the output; what it keeps is bounded by MaxRecords, MaxMessageBytes
// and MaxLine. The error is the reader's; the runs found before it are
// returned with it.
func Parse(r io.Reader) (*Report, error) {
	c := &collector{}
	parsers := []parser{
		newUnittest(c), newPytest(c), newGoTest(c), newGoJSON(c, false),
		newTAP(c), newProve(c), newNodeSpec(c), newJest(c), newVitest(c), newCargo(c),
	}
	plain := newPlain(c)
	err := eachLine(r, func(l []byte) {
		claimed := false
		for _, p := range parsers {
			if p.line(l) {
				claimed = true
			}
		}
		if !claimed {
			plain.line(l)
		}
	})
	for _, p := range parsers {
		p.end()
	}
	return c.report(), err
}

// ParseTest2JSON reads a file of test2json events (go test -json) and
// returns a run per package. Lines that are not events are ignored.
func ParseTest2JSON(r io.Reader) (*Report, error) {
	c := &collector{}
	p := newGoJSON(c, true)
	err := eachLine(r, func(l []byte) { p.line(l) })
	p.end()
	return c.report(), err
}

// eachLine calls fn for each line of r, without its "\n" or "\r\n", with
// terminal escapes removed, and cut to MaxLine bytes. The slice is only
// valid during the call.
func eachLine(r io.Reader, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, MaxLine+1)
	for {
		l, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: look at its start, skip the rest.
			fn(trimEOL(stripANSI(l[:MaxLine])))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("reading test output: %w", err)
			}
			continue
		}
		if len(l) > 0 {
			fn(trimEOL(stripANSI(l)))
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading test output: %w", err)
		}
	}
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l
}
