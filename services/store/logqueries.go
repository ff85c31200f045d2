package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Log reads an attempt's output from offset, at most limit bytes of it (0: all),
// marking the hole cut between head and tail, where output was lost, and a tail
// the runner sent but the store never got.
func (s *SQLite) Log(ctx context.Context, id string, attempt int, offset int64, limit int) (LogPart, error) {
	var cut int64
	var sent sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT a.log_cut, r.output_bytes FROM attempts a
		LEFT JOIN results r ON r.job_id = a.job_id AND r.attempt = a.n WHERE a.job_id = ? AND a.n = ?`, id, attempt).Scan(&cut, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return LogPart{}, fmt.Errorf("job %s attempt %d: %w", id, attempt, ErrNotFound)
	}
	if err != nil {
		return LogPart{}, s.describe(err)
	}
	part := LogPart{Next: offset, Start: cut}
	var first, end, headEnd sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT min(offset), max(offset + length(data)),
		max(CASE WHEN offset < ? THEN offset + length(data) END) FROM logs WHERE job_id = ? AND attempt = ?`,
		cut, id, attempt).Scan(&first, &end, &headEnd); err != nil {
		return LogPart{}, s.describe(err)
	}
	part.End = end.Int64
	if first.Valid {
		part.Start = first.Int64
	}
	if cut > headEnd.Int64 {
		part.Dropped = Extent{Offset: headEnd.Int64, Len: cut - headEnd.Int64}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT offset, data FROM logs WHERE job_id = ? AND attempt = ? AND offset + length(data) > ?
		ORDER BY offset`, id, attempt, offset)
	if err != nil {
		return LogPart{}, s.describe(err)
	}
	defer rows.Close()
	var b strings.Builder
	pos := offset
	full := false // the limit was reached: stop, and mark nothing past it
	for !full && rows.Next() {
		if limit > 0 && b.Len() >= limit {
			full = true
			break
		}
		var at int64
		var data []byte
		if err := rows.Scan(&at, &data); err != nil {
			return LogPart{}, s.describe(err)
		}
		if at > pos {
			if at <= cut {
				b.WriteString(DroppedMarker(at - pos))
			} else {
				fmt.Fprintf(&b, "\n[eventide: %d bytes of output were lost here]\n", at-pos)
			}
			pos = at
		}
		data = data[pos-at:]
		if limit > 0 && b.Len()+len(data) > limit {
			n := max(limit-b.Len(), 0)
			for n > 0 && n < len(data) && !utf8.RuneStart(data[n]) {
				n--
			}
			if n == 0 && b.Len() == 0 {
				// Never an empty answer: at least one whole character, or a
				// reader asking again from Next would make no progress.
				_, n = utf8.DecodeRune(data)
			}
			data, full = data[:n], true
		}
		b.Write(data)
		pos += int64(len(data))
	}
	if err := rows.Err(); err != nil {
		return LogPart{}, s.describe(err)
	}
	if !full && sent.Valid && pos >= part.End && sent.Int64 > pos && (limit <= 0 || b.Len() < limit) {
		if pos == 0 && cut == 0 && part.End == 0 {
			fmt.Fprintf(&b, "[eventide: %d bytes of output were lost]\n", sent.Int64)
		} else {
			fmt.Fprintf(&b, "\n[eventide: the last %d bytes of output were lost]\n", sent.Int64-pos)
		}
		pos = sent.Int64
	}
	part.Data, part.Next = b.String(), pos
	return part, nil
}

// DroppedMarker is the line that stands for n bytes of output dropped to keep a
// log under its size limit. It starts with a line break so that it is a line of
// its own even when the output before it ends mid-line.
func DroppedMarker(n int64) string {
	return fmt.Sprintf("\n[eventide: %d bytes of output were dropped here; a log keeps its start and its end]\n", n)
}
