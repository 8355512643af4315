package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	sqlitedriver "modernc.org/sqlite"

	"github.com/telehub/telehub/store"
)

// A resource's index entries are found by their value (the primary keys of
// idx_text and idx_range), never by their resource, except to delete them
// when the resource changes and to read its sort values. A secondary index
// (rid, …) on each table would serve both, at the price of a second B-tree
// insert for every entry of every write: about half of a commit's index
// work. Instead, idx_entries keeps one row per resource, a blob listing its
// entries, appended in rid order: one insert per write. An update reads it
// to delete the old entries by primary key; a sort reads it through the
// SQL function sort_value.
const entriesSchema = `
CREATE TABLE IF NOT EXISTS idx_entries (
	rid     INTEGER PRIMARY KEY,
	entries BLOB NOT NULL
);
`

// The blob is a sequence of entries, each: a kind byte (entryText,
// entryRange, or their shared forms), the parameter and the text as
// uvarint-prefixed strings, and for a range entry low and high as 8-byte
// IEEE 754, big-endian. A shared entry has no row of its own: the equal
// entry of a narrower parameter stands for it (see shared.go).
const (
	entryText        = 't'
	entryRange       = 'r'
	entryTextShared  = 'T'
	entryRangeShared = 'R'
)

// isRange reports whether an entry of kind has low and high.
func isRange(kind byte) bool { return kind == entryRange || kind == entryRangeShared }

// isShared reports whether an entry of kind has no row of its own.
func isShared(kind byte) bool { return kind == entryTextShared || kind == entryRangeShared }

// entry is one decoded entry of the blob.
type entry struct {
	kind        byte
	param, text string
	low, high   float64
}

func appendEntry(b []byte, kind byte, param, text string, low, high float64) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(param)))
	b = append(b, param...)
	b = binary.AppendUvarint(b, uint64(len(text)))
	b = append(b, text...)
	if isRange(kind) {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(low))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(high))
	}
	return b
}

// entriesSize is the size of the blob of entries (see insertIndex), so
// that it is allocated once.
func entriesSize(entries []store.IndexEntry) int {
	n := 0
	for _, e := range entries {
		if store.IsFullText(e.Param) {
			continue
		}
		size := 1 + uvarintLen(len(e.Param)) + len(e.Param) + uvarintLen(len(e.Text)) + len(e.Text)
		if inRangeTable(e) {
			n += size + 16
		}
		if inTextTable(e) {
			n += size
		}
	}
	return n
}

func uvarintLen(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], uint64(n))
}

var errBadEntries = errors.New("store: corrupt idx_entries blob")

// eachEntry calls f for each entry of blob, in order, until f returns false.
func eachEntry(blob []byte, f func(e entry) bool) error {
	str := func() (string, bool) {
		n, w := binary.Uvarint(blob)
		if w <= 0 || uint64(len(blob)-w) < n {
			return "", false
		}
		s := string(blob[w : w+int(n)])
		blob = blob[w+int(n):]
		return s, true
	}
	for len(blob) > 0 {
		var e entry
		var ok bool
		e.kind, blob = blob[0], blob[1:]
		if e.param, ok = str(); !ok {
			return errBadEntries
		}
		if e.text, ok = str(); !ok {
			return errBadEntries
		}
		switch e.kind {
		case entryText, entryTextShared:
		case entryRange, entryRangeShared:
			if len(blob) < 16 {
				return errBadEntries
			}
			e.low = math.Float64frombits(binary.BigEndian.Uint64(blob))
			e.high = math.Float64frombits(binary.BigEndian.Uint64(blob[8:]))
			blob = blob[16:]
		default:
			return errBadEntries
		}
		if !f(e) {
			return nil
		}
	}
	return nil
}

// sortValue is the SQL function sort_value(entries, param, descending): the
// value a resource sorts by on param, as the search defines it: ascending,
// the smallest low of its range entries, else its smallest text; descending,
// the largest high, else the largest text; NULL without an entry. It runs
// once per match of a sorted search, so it reads the blob in place.
func sortValue(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
	blob, _ := args[0].([]byte)
	param, _ := args[1].(string)
	desc, _ := args[2].(int64)
	var (
		num             float64
		text            []byte
		hasNum, hasText bool
	)
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(blob)
		if w <= 0 || uint64(len(blob)-w) < n {
			return nil, false
		}
		f := blob[w : w+int(n)]
		blob = blob[w+int(n):]
		return f, true
	}
	for len(blob) > 0 {
		kind := blob[0]
		blob = blob[1:]
		p, ok1 := field()
		t, ok2 := field()
		if !ok1 || !ok2 || kind != entryText && kind != entryTextShared && !isRange(kind) {
			return nil, errBadEntries
		}
		mine := string(p) == param // no allocation: the compiler compares in place
		if !isRange(kind) {
			if mine && (!hasText || (desc != 0) == (string(t) > string(text))) {
				text, hasText = t, true
			}
			continue
		}
		if len(blob) < 16 {
			return nil, errBadEntries
		}
		if mine {
			v := math.Float64frombits(binary.BigEndian.Uint64(blob))
			if desc != 0 {
				v = math.Float64frombits(binary.BigEndian.Uint64(blob[8:]))
			}
			if !hasNum || (desc != 0) == (v > num) {
				num, hasNum = v, true
			}
		}
		blob = blob[16:]
	}
	switch {
	case hasNum:
		return num, nil
	case hasText:
		return string(text), nil
	}
	return nil, nil
}

func init() {
	sqlitedriver.MustRegisterDeterministicScalarFunction("sort_value", 3, sortValue)
}

// deleteEntries deletes the index rows of resource rid (of type typ) that
// idx_entries lists, and its idx_entries row.
func (w *txWriter) deleteEntries(rid int64, typ string) error {
	var blob []byte
	err := w.stmt(w.st.readEntries).QueryRowContext(w.ctx, rid).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var execErr error
	err = eachEntry(blob, func(e entry) bool {
		switch {
		case isShared(e.kind): // no row of its own
		case e.kind == entryRange:
			_, execErr = w.exec(w.st.deleteRange, e.param, typ, e.low, e.high, e.text, rid)
		default:
			_, execErr = w.exec(w.st.deleteText, e.param, e.text, typ, rid)
		}
		return execErr == nil
	})
	if err = errors.Join(err, execErr); err != nil {
		return err
	}
	_, err = w.exec(w.st.deleteEntries, rid)
	return err
}

// migrateEntries fills idx_entries from the entries of a file that found
// them through the (rid, …) indexes, then drops those indexes, in the
// caller's transaction.
func migrateEntries(ctx context.Context, tx *sql.Tx) error {
	blobs := map[int64][]byte{}
	rows, err := tx.QueryContext(ctx, `SELECT rid, param, text FROM idx_text`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var rid int64
		var param, text string
		if err := rows.Scan(&rid, &param, &text); err != nil {
			rows.Close()
			return err
		}
		blobs[rid] = appendEntry(blobs[rid], entryText, param, text, 0, 0)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, `SELECT rid, param, text, low, high FROM idx_range`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var rid int64
		var param, text string
		var low, high float64
		if err := rows.Scan(&rid, &param, &text, &low, &high); err != nil {
			rows.Close()
			return err
		}
		blobs[rid] = appendEntry(blobs[rid], entryRange, param, text, low, high)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for rid, blob := range blobs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO idx_entries (rid, entries) VALUES (?, ?)`, rid, blob); err != nil {
			return fmt.Errorf("entries of %d: %w", rid, err)
		}
	}
	_, err = tx.ExecContext(ctx, `DROP INDEX IF EXISTS idx_text_by_resource; DROP INDEX IF EXISTS idx_range_by_resource`)
	return err
}
