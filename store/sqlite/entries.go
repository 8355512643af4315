package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

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
// to delete the old entries by primary key, or to keep some (a
// store.Write's PartialIndex: see keepIndex); a sort reads it through the
// SQL function sort_value.
const entriesSchema = `
CREATE TABLE IF NOT EXISTS idx_entries (
	rid     INTEGER PRIMARY KEY,
	entries BLOB NOT NULL
);
`

// A large resource's entries are in parts: its idx_entries row (the main
// part) and rows of idx_parts, keyed by the resource's rid shifted left by
// partBits plus the part's number, so that a resource's parts are one
// range of the table's own B-tree, each listing its parameters ahead of
// its blob. A full write lists a parameter of bigParam entries or more in
// a part of its own. A partial write (store.Write.PartialIndex) reads the
// main part only when it touches a parameter (replaces one, changes the
// words, or adds a range entry, so that a parameter's range entries stay
// in one part, where range_shapes sees how many it has), and the other
// parts holding a parameter it replaces; it adds the entries of the
// parameters it does not touch as a new part. A round that adds instances
// to an ImagingStudy of thousands thus reads none of their entries and
// writes a part of its own. part_types lists the types of the resources
// that ever had other parts: a sort of those reads every part (the
// smallest or largest value of them all), a sort of any other type the
// main part only, as it did before parts. An ordinary resource has no
// other part: its updates probe idx_parts once.
const partsSchema = `
CREATE TABLE IF NOT EXISTS idx_parts (
	key     INTEGER PRIMARY KEY, -- rid << partBits | part, part >= 1
	params  TEXT    NOT NULL,    -- the parameters of its entries, each followed by a space
	entries BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS part_types (type TEXT PRIMARY KEY) WITHOUT ROWID;
`

// partBits is how many low bits of an idx_parts key number the part.
const partBits = 20

// maxPart is the largest part number.
const maxPart = 1<<partBits - 1

// partKey is the idx_parts key of a part of resource rid.
func partKey(rid int64, part int) int64 { return rid<<partBits | int64(part) }

// partsOf is the SQL of the idx_parts rows of the resource r.rid.
var partsOf = fmt.Sprintf("idx_parts WHERE key BETWEEN r.rid << %d AND (r.rid << %d) + %d", partBits, partBits, maxPart)

// The blob is a sequence of entries, each: a kind byte (entryText,
// entryRange, or their shared forms), the parameter and the text as
// uvarint-prefixed strings, and for a range entry low and high as 8-byte
// IEEE 754, big-endian. A shared entry has no row of its own: the equal
// entry of a narrower parameter stands for it (see shared.go). A word
// (entryWord) is an entry of a full-text parameter: its row is the
// resource's row of idx_words, which keeps no copy of the words, so the
// blob lists them for a partial write to keep them (files of schema
// version 5 and before do not).
const (
	entryText        = 't'
	entryRange       = 'r'
	entryTextShared  = 'T'
	entryRangeShared = 'R'
	entryWord        = 'w'
)

// isRange reports whether an entry of kind has low and high.
func isRange(kind byte) bool { return kind == entryRange || kind == entryRangeShared }

// isShared reports whether an entry of kind has no row of its own.
func isShared(kind byte) bool { return kind == entryTextShared || kind == entryRangeShared }

// isWord reports whether an entry of kind is a full-text word.
func isWord(kind byte) bool { return kind == entryWord }

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
		size := 1 + uvarintLen(len(e.Param)) + len(e.Param) + uvarintLen(len(e.Text)) + len(e.Text)
		if store.IsFullText(e.Param) {
			n += size
			continue
		}
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
	return eachRecord(blob, func(r record) bool { return f(r.entry()) })
}

// record is one entry of the blob read in place: its fields and its bytes.
type record struct {
	kind        byte
	param, text []byte
	low, high   float64
	raw         []byte
}

// eachRecord calls f for each entry of blob, in order, until f returns
// false, without copying anything.
func eachRecord(blob []byte, f func(r record) bool) error {
	for len(blob) > 0 {
		r := record{kind: blob[0]}
		rest := blob[1:]
		field := func() ([]byte, bool) {
			n, w := binary.Uvarint(rest)
			if w <= 0 || uint64(len(rest)-w) < n {
				return nil, false
			}
			b := rest[w : w+int(n)]
			rest = rest[w+int(n):]
			return b, true
		}
		var ok1, ok2 bool
		r.param, ok1 = field()
		r.text, ok2 = field()
		if !ok1 || !ok2 {
			return errBadEntries
		}
		switch r.kind {
		case entryText, entryTextShared, entryWord:
		case entryRange, entryRangeShared:
			if len(rest) < 16 {
				return errBadEntries
			}
			r.low = math.Float64frombits(binary.BigEndian.Uint64(rest))
			r.high = math.Float64frombits(binary.BigEndian.Uint64(rest[8:]))
			rest = rest[16:]
		default:
			return errBadEntries
		}
		r.raw, blob = blob[:len(blob)-len(rest)], rest
		if !f(r) {
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
	descending, _ := args[2].(int64)
	desc := descending != 0
	var (
		num             float64
		text            []byte
		hasNum, hasText bool
	)
	err := eachRecord(blob, func(r record) bool {
		if isWord(r.kind) || string(r.param) != param { // compared in place, not allocated
			return true // full-text parameters do not sort
		}
		if !isRange(r.kind) {
			if !hasText || desc == (string(r.text) > string(text)) {
				text, hasText = r.text, true
			}
			return true
		}
		v := r.low
		if desc {
			v = r.high
		}
		if !hasNum || desc == (v > num) {
			num, hasNum = v, true
		}
		return true
	})
	switch {
	case err != nil:
		return nil, err
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
// its parts list, and the parts.
func (w *txWriter) deleteEntries(rid int64, typ string) error {
	var execErr error
	deleteRows := func(blob []byte) error {
		return eachEntry(blob, func(e entry) bool {
			execErr = w.deleteRow(rid, typ, e)
			return execErr == nil
		})
	}
	found, err := w.withEntries(rid, deleteRows)
	if err = errors.Join(err, execErr); err != nil {
		return err
	}
	if found {
		if _, err := w.exec(w.st.deleteEntries, rid); err != nil {
			return err
		}
	}
	found, err = w.withParts(partKey(rid, 1), partKey(rid, maxPart), deleteRows)
	if err = errors.Join(err, execErr); err != nil || !found {
		return err
	}
	_, err = w.exec(w.st.deleteParts, partKey(rid, 1), partKey(rid, maxPart))
	return err
}

// deleteRow deletes the row of one entry of resource rid (none for a
// shared entry).
func (w *txWriter) deleteRow(rid int64, typ string, e entry) error {
	var err error
	switch {
	case isShared(e.kind), isWord(e.kind): // no row of its own, or in idx_words
	case e.kind == entryRange:
		_, err = w.exec(w.st.deleteRange, e.param, typ, e.low, e.high, e.text, rid)
	default:
		_, err = w.exec(w.st.deleteText, e.param, e.text, typ, rid)
	}
	return err
}

// keepIndex clears the index of resource rid for a PartialIndex write wr,
// as far as wr touches it (see partsSchema): it reads the main part if wr
// touches a parameter, and the other parts holding a parameter wr
// replaces, deletes the rows of their entries of the replaced parameters,
// and keeps their other entries, whose rows stay: the other parts' are
// listed again in their part, the main part's returned, to be listed with
// wr's entries of the parameters it touches. It returns those of wr's
// entries that the kept ones do not already hold. A kept entry that was
// shared with an entry of a replaced parameter gets a row of its own, the
// other's going. It fails with store.ErrIndexNotKept for a resource whose
// words a program of schema version 5 or before indexed without listing
// them, and for one of maxPart parts. The entries are read in place.
func (w *txWriter) keepIndex(rid int64, wr *store.Write) (kept keptIndex, added []store.IndexEntry, err error) {
	if w.pending[rid] {
		// Written earlier in this transaction: its entries are not in the
		// tables yet.
		if err := w.flushIndex(); err != nil {
			return kept, nil, err
		}
	}
	replaced := make(map[string]bool, len(wr.Replaced))
	for _, p := range wr.Replaced {
		replaced[p] = true
	}
	kept.touched = maps.Clone(replaced)
	wordsChange := replaced[store.ParamText] || replaced[store.ParamContent]
	for _, e := range wr.Index {
		wordsChange = wordsChange || store.IsFullText(e.Param)
		if inRangeTable(e) {
			kept.touched[e.Param] = true
		}
	}
	if wordsChange {
		kept.touched[store.ParamText], kept.touched[store.ParamContent] = true, true
	}
	parts, err := w.parts(rid)
	if err != nil {
		return kept, nil, err
	}
	kept.part = 1
	if len(parts) > 0 {
		kept.part = int(parts[len(parts)-1].key&maxPart) + 1
	}
	if kept.part > maxPart {
		return kept, nil, fmt.Errorf("%d parts: %w", len(parts), store.ErrIndexNotKept)
	}
	// The entries of wr that the kept ones may already hold, by their key
	// (entryKeys): held[i] turns true for those they hold.
	keys := map[string]int{}
	for _, e := range wr.Index {
		if !replaced[e.Param] {
			for _, k := range entryKeys(e) {
				if _, ok := keys[k]; !ok {
					keys[k] = len(keys)
				}
			}
		}
	}
	held := make([]bool, len(keys))
	narrow := sharedParams[wr.Type]
	listsWords := false
	var key []byte
	var execErr error
	// keep appends what it keeps of blob to *to.
	keep := func(to *[]byte) func(blob []byte) error {
		return func(blob []byte) error {
			return eachRecord(blob, func(r record) bool {
				listsWords = listsWords || isWord(r.kind)
				if replaced[string(r.param)] {
					execErr = w.deleteRow(rid, wr.Type, r.entry())
					return execErr == nil
				}
				key = append(key[:0], r.raw...)
				if isShared(r.kind) {
					key[0] = unshared(r.kind)
					if replaced[narrow[string(r.param)]] {
						r.raw = key // its row is its own now
						w.ownRow(rid, wr.Type, r.entry())
					}
				}
				if i, ok := keys[string(key)]; ok {
					held[i] = true
				}
				if isWord(r.kind) {
					kept.addWord(rid, r.param, r.text)
				}
				*to = append(*to, r.raw...)
				return true
			})
		}
	}
	if kept.readMain() {
		_, err = w.withEntries(rid, keep(&kept.blob))
		if err = errors.Join(err, execErr); err != nil {
			return kept, nil, err
		}
		if _, err := w.exec(w.st.deleteEntries, rid); err != nil {
			return kept, nil, err
		}
	}
	for _, p := range parts {
		if !p.holdsAny(replaced) {
			continue
		}
		var blob []byte
		_, err = w.withParts(p.key, p.key, keep(&blob))
		if err = errors.Join(err, execErr); err != nil {
			return kept, nil, err
		}
		if _, err := w.exec(w.st.deleteParts, p.key, p.key); err != nil {
			return kept, nil, err
		}
		if len(blob) > 0 {
			w.entries = append(w.entries, entriesRow{rid: rid, part: int(p.key & maxPart), typ: wr.Type, blob: blob})
			w.markPending(rid)
		}
	}
	if wordsChange {
		if !listsWords {
			var one int
			err := w.stmt(w.st.hasWords).QueryRowContext(w.ctx, rid).Scan(&one)
			if err == nil {
				return kept, nil, fmt.Errorf("its words are not listed: %w", store.ErrIndexNotKept)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return kept, nil, err
			}
		}
		// Written again whole, with the new ones (insertIndex).
		if _, err := w.exec(w.st.deleteWords, rid); err != nil {
			return kept, nil, err
		}
	}
	added = make([]store.IndexEntry, 0, len(wr.Index))
	for _, e := range wr.Index {
		if replaced[e.Param] || slices.ContainsFunc(entryKeys(e), func(k string) bool { return !held[keys[k]] }) {
			added = append(added, e)
		}
	}
	return kept, added, nil
}

// partRow is a part of a resource's entries in idx_parts, as listed: its
// key and the parameters it holds.
type partRow struct {
	key    int64
	params string
}

// holdsAny reports whether the part holds an entry of a parameter of set.
func (p partRow) holdsAny(set map[string]bool) bool {
	for param := range strings.FieldsSeq(p.params) {
		if set[param] {
			return true
		}
	}
	return false
}

// parts lists the parts of resource rid in idx_parts, in order.
func (w *txWriter) parts(rid int64) ([]partRow, error) {
	rows, err := w.stmt(w.st.readParts).QueryContext(w.ctx, partKey(rid, 1), partKey(rid, maxPart))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var parts []partRow
	for rows.Next() {
		var p partRow
		if err := rows.Scan(&p.key, &p.params); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, rows.Err()
}

// paramsOf is the params column of a part holding blob.
func paramsOf(blob []byte) (string, error) {
	set := map[string]bool{}
	err := eachRecord(blob, func(r record) bool {
		if !set[string(r.param)] { // looked up in place, not allocated
			set[string(r.param)] = true
		}
		return true
	})
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(set)) {
		b.WriteString(p)
		b.WriteByte(' ')
	}
	return b.String(), err
}

// keptIndex is what a PartialIndex write keeps of the previous version's
// index: the blob of its entries, and its words, which the resource's row
// of idx_words gets again.
type keptIndex struct {
	blob  []byte
	words *wordRow
	// touched are the parameters a partial write touches (nil for a full
	// write): when there are any, the main part was read and deleted, blob
	// is what it keeps, to be listed with their entries.
	touched map[string]bool
	part    int // the number of the new part of the other entries
}

// readMain reports whether a partial write read (and deleted) the main part.
func (k *keptIndex) readMain() bool { return len(k.touched) > 0 }

func (k *keptIndex) addWord(rid int64, param, word []byte) {
	if k.words == nil {
		k.words = &wordRow{rid: rid}
	}
	writeFTSWord(k.words.column(string(param)), word)
}

// entry is the record decoded.
func (r record) entry() entry {
	return entry{kind: r.kind, param: string(r.param), text: string(r.text), low: r.low, high: r.high}
}

// entryKeys are the keys of the entries of e (two for a composite with a
// range): their encoding in the blob, with the kind of an entry that has a
// row of its own.
func entryKeys(e store.IndexEntry) []string {
	if store.IsFullText(e.Param) {
		return []string{string(appendEntry(nil, entryWord, e.Param, e.Text, 0, 0))}
	}
	var keys []string
	if inRangeTable(e) {
		keys = append(keys, string(appendEntry(nil, entryRange, e.Param, e.Text, e.Low, e.High)))
	}
	if inTextTable(e) {
		keys = append(keys, string(appendEntry(nil, entryText, e.Param, e.Text, 0, 0)))
	}
	return keys
}

// unshared is the kind of an entry of kind with a row of its own.
func unshared(kind byte) byte {
	if isRange(kind) {
		return entryRange
	}
	return entryText
}

// ownRow queues a row for a kept shared entry, which has one of its own
// from now on.
func (w *txWriter) ownRow(rid int64, typ string, e entry) {
	if w.pending == nil {
		w.pending = map[int64]bool{}
	}
	w.pending[rid] = true
	if isRange(e.kind) {
		w.ranges = append(w.ranges, rangeRow{param: e.param, typ: typ, text: e.text, low: e.low, high: e.high, rid: rid})
	} else {
		w.text = append(w.text, textRow{param: e.param, text: e.text, typ: typ, rid: rid})
	}
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

// withEntries calls f with the idx_entries blob of resource rid as the
// driver read it, not copied again: a large resource's is megabytes, read
// at each of its versions. f must not keep it. found is false, and f is
// not called, when rid has no idx_entries row.
func (w *txWriter) withEntries(rid int64, f func(blob []byte) error) (found bool, err error) {
	rows, err := w.stmt(w.st.readEntries).QueryContext(w.ctx, rid)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	var blob sql.RawBytes
	if err := rows.Scan(&blob); err != nil {
		return true, err
	}
	if err := f(blob); err != nil {
		return true, err
	}
	return true, rows.Close()
}

// withParts calls f with each idx_parts blob of the parts keyed from first
// to last, in order, read in place. found is false when there is none.
func (w *txWriter) withParts(first, last int64, f func(blob []byte) error) (found bool, err error) {
	rows, err := w.stmt(w.st.readPartEntries).QueryContext(w.ctx, first, last)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		found = true
		var blob sql.RawBytes
		if err := rows.Scan(&blob); err != nil {
			return found, err
		}
		if err := f(blob); err != nil {
			return found, err
		}
	}
	if err := rows.Err(); err != nil {
		return found, err
	}
	return found, rows.Close()
}
