package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	sqlitedriver "modernc.org/sqlite"

	"github.com/telehub/telehub/store"
)

// statements are the hot-path statements, prepared once.
type statements struct {
	read, vread                             *sql.Stmt // on the reader pool
	current, insertVersion, insertResource  *sql.Stmt // on the writer
	state                                   *sql.Stmt
	updateResource, deleteText, deleteRange *sql.Stmt
	deleteWords, readEntries, deleteEntries *sql.Stmt
	readParts, readPartEntries, deleteParts *sql.Stmt
	insertPartType, partTypes               *sql.Stmt
	foldShape, hasWords                     *sql.Stmt
	// insertText[k], insertRange[k], insertWords[k], insertEntries[k] and
	// insertParts[k] insert 1<<k rows at once.
	insertText, insertRange, insertWords, insertEntries, insertParts []*sql.Stmt
}

func (st *statements) prepare(ctx context.Context, writer, reader *sql.DB) error {
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{reader, &st.read, `SELECT v.version, v.last_updated, v.deleted, v.method, v.body
			FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?`},
		{reader, &st.vread, `SELECT version, last_updated, deleted, method, body
			FROM versions WHERE type = ? AND id = ? AND version = ?`},
		{writer, &st.current, `SELECT rid, version FROM resources WHERE type = ? AND id = ?`},
		{writer, &st.state, `SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?`},
		{writer, &st.insertVersion, `INSERT INTO versions (type, id, version, last_updated, deleted, method, body)
			VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{writer, &st.insertResource, `INSERT INTO resources (type, id, version, seq, last_updated, deleted)
			VALUES (?, ?, ?, ?, ?, ?)`},
		{writer, &st.updateResource, `UPDATE resources SET version = ?, seq = ?, last_updated = ?, deleted = ?
			WHERE rid = ?`},
		{writer, &st.deleteText, `DELETE FROM idx_text WHERE param = ? AND text = ? AND type = ? AND rid = ?`},
		{writer, &st.deleteRange, `DELETE FROM idx_range
			WHERE param = ? AND type = ? AND low = ? AND high = ? AND text = ? AND rid = ?`},
		{writer, &st.deleteWords, `DELETE FROM idx_words WHERE rowid = ?`},
		{writer, &st.hasWords, `SELECT 1 FROM idx_words WHERE rowid = ?`},
		{writer, &st.readEntries, `SELECT entries FROM idx_entries WHERE rid = ?`},
		{writer, &st.deleteEntries, `DELETE FROM idx_entries WHERE rid = ?`},
		{writer, &st.readParts, `SELECT key, params FROM idx_parts WHERE key BETWEEN ? AND ?`},
		{writer, &st.readPartEntries, `SELECT entries FROM idx_parts WHERE key BETWEEN ? AND ?`},
		{writer, &st.deleteParts, `DELETE FROM idx_parts WHERE key BETWEEN ? AND ?`},
		{writer, &st.insertPartType, `INSERT OR IGNORE INTO part_types (type) VALUES (?)`},
		{reader, &st.partTypes, `SELECT type FROM part_types`},
		{writer, &st.foldShape, foldShapeSQL},
	} {
		stmt, err := p.db.PrepareContext(ctx, p.text)
		if err != nil {
			return err
		}
		*p.dst = stmt
	}
	for rows := 1; rows <= maxRowsPerInsert; rows *= 2 {
		text, err := writer.PrepareContext(ctx, insertSQL("idx_text (param, text, type, rid)", 4, rows))
		if err != nil {
			return err
		}
		st.insertText = append(st.insertText, text)
		ranges, err := writer.PrepareContext(ctx, insertSQL("idx_range (param, type, low, high, text, rid)", 6, rows))
		if err != nil {
			return err
		}
		st.insertRange = append(st.insertRange, ranges)
		words, err := writer.PrepareContext(ctx, insertSQL("idx_words (rowid, text_words, content_words)", 3, rows))
		if err != nil {
			return err
		}
		st.insertWords = append(st.insertWords, words)
		entries, err := writer.PrepareContext(ctx, insertSQL("idx_entries (rid, entries)", 2, rows))
		if err != nil {
			return err
		}
		st.insertEntries = append(st.insertEntries, entries)
		parts, err := writer.PrepareContext(ctx, insertSQL("idx_parts (key, params, entries)", 3, rows))
		if err != nil {
			return err
		}
		st.insertParts = append(st.insertParts, parts)
	}
	return nil
}

func (st *statements) close() {
	all := []*sql.Stmt{
		st.read, st.vread, st.current, st.state, st.insertVersion, st.insertResource,
		st.updateResource, st.deleteText, st.deleteRange, st.deleteWords, st.readEntries, st.deleteEntries,
		st.readParts, st.readPartEntries, st.deleteParts, st.insertPartType, st.partTypes, st.foldShape, st.hasWords,
	}
	for _, stmt := range slices.Concat(all, st.insertText, st.insertRange, st.insertWords, st.insertEntries, st.insertParts) {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// Commit writes all writes in one immediate transaction, or nothing. It is
// group-committed with the Commits of other callers running at the same
// time (see group.go), each still all or nothing on its own.
func (s *Store) Commit(ctx context.Context, writes []store.Write) error {
	if len(writes) == 0 {
		return nil
	}
	return s.commits.commit(ctx, writes)
}

// apply writes one Commit's writes and their index entries.
func (w *txWriter) apply(writes []store.Write) error {
	for i := range writes {
		if err := w.write(&writes[i]); err != nil {
			return err
		}
	}
	if err := w.flushIndex(); err != nil {
		return fmt.Errorf("store: commit %d writes: index: %w", len(writes), err)
	}
	return nil
}

// txWriter applies writes inside one transaction, binding the prepared
// statements to it once. It holds back the index entries of the whole
// transaction and inserts them at the end, in key order (flushIndex).
type txWriter struct {
	ctx   context.Context
	tx    *sql.Tx
	st    *statements
	bound map[*sql.Stmt]*sql.Stmt

	text    []textRow
	ranges  []rangeRow
	words   []*wordRow
	entries []entriesRow
	pending map[int64]bool // rids with entries in text, ranges, words or entries
}

// entriesRow is a part of the entries of resource rid, of type typ: its
// idx_entries row (part 0), or a row of idx_parts.
type entriesRow struct {
	rid  int64
	part int
	typ  string
	blob []byte
}

// textRow and rangeRow are index entries waiting for flushIndex.
type textRow struct {
	param, text, typ string
	rid              int64
}

type rangeRow struct {
	param, typ, text string
	low, high        float64
	rid              int64
}

func (w *txWriter) stmt(s *sql.Stmt) *sql.Stmt {
	if b, ok := w.bound[s]; ok {
		return b
	}
	if w.bound == nil {
		w.bound = make(map[*sql.Stmt]*sql.Stmt, 8)
	}
	b := w.tx.StmtContext(w.ctx, s)
	w.bound[s] = b
	return b
}

func (w *txWriter) exec(s *sql.Stmt, args ...any) (sql.Result, error) {
	return w.stmt(s).ExecContext(w.ctx, args...)
}

// write stores one version after checking its compare-and-set token.
//
// A creation (version 1) skips reading the current version: the unique
// (type, id, version) index of versions refuses a version 1 of a resource
// that has ever existed, which is the compare-and-set on "does not exist".
func (w *txWriter) write(wr *store.Write) error {
	name := resourceName{wr.Type, wr.ID} // formatted only into an error
	var rid, current int64
	if wr.Version != 1 {
		err := w.stmt(w.st.current).QueryRowContext(w.ctx, wr.Type, wr.ID).Scan(&rid, &current)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			rid, current = 0, 0
		case err != nil:
			return fmt.Errorf("store: write %s: read current version: %w", name, err)
		}
		if wr.Version != current+1 {
			return fmt.Errorf("store: write %s version %d over version %d: %w", name, wr.Version, current, store.ErrConflict)
		}
	}

	millis := wr.LastUpdated.UnixMilli()
	var body []byte
	if !wr.Deleted {
		body = wr.Body
	}
	res, err := w.exec(w.st.insertVersion, wr.Type, wr.ID, wr.Version, millis, wr.Deleted, wr.Method, body)
	if isConstraint(err) && wr.Version == 1 {
		return fmt.Errorf("store: write %s version 1 over an existing resource: %w", name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: write %s version %d: %w", name, wr.Version, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store: write %s version %d: %w", name, wr.Version, err)
	}

	var kept keptIndex // what a PartialIndex write keeps of the previous version's index
	index := wr.Index
	if rid == 0 {
		res, err := w.exec(w.st.insertResource, wr.Type, wr.ID, wr.Version, seq, millis, wr.Deleted)
		if err == nil {
			rid, err = res.LastInsertId()
		}
		if err != nil {
			return fmt.Errorf("store: write %s: insert current version: %w", name, err)
		}
	} else {
		if _, err := w.exec(w.st.updateResource, wr.Version, seq, millis, wr.Deleted, rid); err != nil {
			return fmt.Errorf("store: write %s: update current version: %w", name, err)
		}
		if wr.PartialIndex && !wr.Deleted {
			kept, index, err = w.keepIndex(rid, wr)
		} else {
			err = w.clearIndex(rid, wr.Type)
		}
		if err != nil {
			return fmt.Errorf("store: write %s: clear index: %w", name, err)
		}
	}
	if wr.Deleted {
		return nil
	}
	if err := w.insertIndex(rid, wr.Type, kept, index); err != nil {
		return fmt.Errorf("store: write %s: index: %w", name, err)
	}
	return nil
}

// resourceName prints as Type/id.
type resourceName struct{ typ, id string }

func (n resourceName) String() string { return n.typ + "/" + n.id }

// clearIndex deletes the index entries of resource rid, of type typ.
func (w *txWriter) clearIndex(rid int64, typ string) error {
	if w.pending[rid] {
		// Written earlier in this transaction: its entries are not in the
		// tables yet.
		w.text = slices.DeleteFunc(w.text, func(r textRow) bool { return r.rid == rid })
		w.ranges = slices.DeleteFunc(w.ranges, func(r rangeRow) bool { return r.rid == rid })
		w.words = slices.DeleteFunc(w.words, func(r *wordRow) bool { return r.rid == rid })
		w.entries = slices.DeleteFunc(w.entries, func(r entriesRow) bool { return r.rid == rid })
		delete(w.pending, rid)
	}
	if err := w.deleteEntries(rid, typ); err != nil {
		return err
	}
	_, err := w.exec(w.st.deleteWords, rid)
	return err
}

// insertIndex queues the entries: text kinds for idx_text, numbers, dates
// and quantities (with their unit) for idx_range, composites for idx_text
// for text operators and, when they have a range, for idx_range with their
// first component, and full-text words for one row of idx_words, after
// what is kept of the previous version's entries (keepIndex), whose rows
// are in place. A full write lists them in the main part, but a parameter
// of bigParam entries or more in a part of its own; a partial write lists
// those of the parameters it touched with what the main part kept, and the
// others in a new part (see partsSchema).
func (w *txWriter) insertIndex(rid int64, typ string, kept keptIndex, entries []store.IndexEntry) error {
	words := kept.words
	if words != nil {
		w.words = append(w.words, words)
	}
	if kept.touched == nil { // a full write
		for part, list := range splitBig(typ, entries) {
			w.queueEntries(rid, typ, part, nil, list, &words)
		}
		return nil
	}
	var main, other []store.IndexEntry
	for _, e := range entries {
		if kept.touched[e.Param] {
			main = append(main, e)
		} else {
			other = append(other, e)
		}
	}
	if kept.readMain() {
		w.queueEntries(rid, typ, 0, kept.blob, main, &words)
	}
	w.queueEntries(rid, typ, kept.part, nil, other, &words)
	return nil
}

// queueEntries queues the rows of entries and their listing, after kept,
// as part of resource rid.
func (w *txWriter) queueEntries(rid int64, typ string, part int, kept []byte, entries []store.IndexEntry, words **wordRow) {
	if len(entries) == 0 && len(kept) == 0 {
		return
	}
	blob := append(make([]byte, 0, len(kept)+entriesSize(entries)), kept...)
	shared := sharedEntries(typ, entries)
	for i, e := range entries {
		if store.IsFullText(e.Param) {
			if *words == nil {
				*words = &wordRow{rid: rid}
				w.words = append(w.words, *words)
			}
			writeFTSWord((*words).column(e.Param), e.Text)
			blob = appendEntry(blob, entryWord, e.Param, e.Text, 0, 0)
			continue
		}
		if shared[i] {
			// Listed only: the narrower parameter's row stands for it.
			if inRangeTable(e) {
				blob = appendEntry(blob, entryRangeShared, e.Param, e.Text, e.Low, e.High)
			}
			if inTextTable(e) {
				blob = appendEntry(blob, entryTextShared, e.Param, e.Text, 0, 0)
			}
			continue
		}
		if inRangeTable(e) {
			w.ranges = append(w.ranges, rangeRow{param: e.Param, typ: typ, text: e.Text, low: e.Low, high: e.High, rid: rid})
			blob = appendEntry(blob, entryRange, e.Param, e.Text, e.Low, e.High)
		}
		if inTextTable(e) {
			w.text = append(w.text, textRow{param: e.Param, text: e.Text, typ: typ, rid: rid})
			blob = appendEntry(blob, entryText, e.Param, e.Text, 0, 0)
		}
	}
	if len(blob) > 0 {
		w.entries = append(w.entries, entriesRow{rid: rid, part: part, typ: typ, blob: blob})
	}
	w.markPending(rid)
}

// markPending notes that rid has rows waiting for flushIndex.
func (w *txWriter) markPending(rid int64) {
	if w.pending == nil {
		w.pending = map[int64]bool{}
	}
	w.pending[rid] = true
}

// bigParam is how many entries of one parameter a full write lists in a
// part of their own: an ImagingStudy's thousands of instance entries,
// which a partial write replacing its status then neither reads nor
// writes.
const bigParam = 256

// splitBig returns the entries of a full write by part (the index is the
// part): the main part (0), and a part of its own for each parameter of
// bigParam entries or more, unless it shares entries with another
// (shared.go: a kept shared entry and the entry standing for it are read
// together) or is full-text (the words are read together).
func splitBig(typ string, entries []store.IndexEntry) [][]store.IndexEntry {
	if len(entries) < bigParam {
		return [][]store.IndexEntry{entries}
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e.Param]++
	}
	parts := map[string]int{}
	for _, param := range slices.Sorted(maps.Keys(count)) {
		if count[param] >= bigParam && !store.IsFullText(param) && !sharesEntries(typ, param) {
			parts[param] = len(parts) + 1
		}
	}
	if len(parts) == 0 {
		return [][]store.IndexEntry{entries}
	}
	out := make([][]store.IndexEntry, len(parts)+1)
	for _, e := range entries {
		out[parts[e.Param]] = append(out[parts[e.Param]], e)
	}
	return out
}

// flushIndex inserts the queued entries sorted by primary key, with
// multi-row INSERTs: in key order consecutive rows land on the same B-tree
// pages, and a statement costs SQLite more than a row. It widens
// range_shapes by the range entries of the resources written.
func (w *txWriter) flushIndex() error {
	shapes := make(map[shapeKey]rangeShape)
	for _, r := range w.entries {
		if err := foldShapes(shapes, r.typ, r.blob); err != nil {
			return err
		}
	}
	slices.SortFunc(w.text, compareText)
	slices.SortFunc(w.ranges, compareRange)
	var param, typ boxer
	text := make([]any, 0, 4*len(w.text))
	for _, r := range w.text {
		text = append(text, param.box(r.param), r.text, typ.box(r.typ), r.rid)
	}
	ranges := make([]any, 0, 6*len(w.ranges))
	for _, r := range w.ranges {
		ranges = append(ranges, param.box(r.param), typ.box(r.typ), r.low, r.high, r.text, r.rid)
	}
	words := make([]any, 0, 3*len(w.words))
	for _, r := range w.words {
		words = append(words, r.rid, r.text.String(), r.content.String())
	}
	entries := make([]any, 0, 2*len(w.entries))
	var parts []any
	partTypes := map[string]bool{}
	for _, r := range w.entries {
		if r.part == 0 {
			entries = append(entries, r.rid, r.blob)
			continue
		}
		params, err := paramsOf(r.blob)
		if err != nil {
			return err
		}
		parts = append(parts, partKey(r.rid, r.part), params, r.blob)
		partTypes[r.typ] = true
	}
	for typ := range partTypes {
		if _, err := w.exec(w.st.insertPartType, typ); err != nil {
			return err
		}
	}
	w.text, w.ranges, w.words, w.entries, w.pending = w.text[:0], w.ranges[:0], nil, nil, nil
	if err := w.insertRows(w.st.insertText, 4, text); err != nil {
		return err
	}
	if err := w.insertRows(w.st.insertRange, 6, ranges); err != nil {
		return err
	}
	if err := w.insertRows(w.st.insertWords, 3, words); err != nil {
		return err
	}
	if err := w.insertRows(w.st.insertEntries, 2, entries); err != nil {
		return err
	}
	if err := w.insertRows(w.st.insertParts, 3, parts); err != nil {
		return err
	}
	return w.writeShapes(shapes)
}

// boxer converts a string to an interface value once for a run of equal
// strings: sorted rows repeat their parameter and type, and each conversion
// of a string to an interface allocates.
type boxer struct {
	last  string
	boxed any
}

func (b *boxer) box(s string) any {
	if b.boxed == nil || s != b.last {
		b.last, b.boxed = s, s
	}
	return b.boxed
}

// compareText orders idx_text rows by primary key. It compares field by
// field and stops at the first difference (cmp.Or would compare them all):
// a transaction of 100 Observations sorts some 4,000 rows.
func compareText(a, b textRow) int {
	if c := strings.Compare(a.param, b.param); c != 0 {
		return c
	}
	if c := strings.Compare(a.text, b.text); c != 0 {
		return c
	}
	if c := strings.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	return cmp.Compare(a.rid, b.rid)
}

// compareRange orders idx_range rows by primary key, as compareText does.
func compareRange(a, b rangeRow) int {
	if c := strings.Compare(a.param, b.param); c != 0 {
		return c
	}
	if c := strings.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	if c := cmp.Compare(a.low, b.low); c != 0 {
		return c
	}
	if c := cmp.Compare(a.high, b.high); c != 0 {
		return c
	}
	if c := cmp.Compare(a.rid, b.rid); c != 0 {
		return c
	}
	return strings.Compare(a.text, b.text)
}

func inRangeTable(e store.IndexEntry) bool {
	switch e.Kind {
	case store.KindNumber, store.KindDate, store.KindQuantity:
		return true
	case store.KindComposite:
		return e.Low != 0 || e.High != 0
	}
	return false
}

func inTextTable(e store.IndexEntry) bool {
	return !inRangeTable(e) || e.Kind == store.KindComposite
}

// maxRowsPerInsert is the largest multi-row INSERT prepared (a power of
// two); the statements for 1, 2, 4, … rows insert any number of rows in a
// handful of executions.
const maxRowsPerInsert = 128

// insertRows inserts values, width per row, with inserts[k] inserting 1<<k
// rows.
func (w *txWriter) insertRows(inserts []*sql.Stmt, width int, values []any) error {
	for len(values) > 0 {
		k := len(inserts) - 1
		for (1<<k)*width > len(values) {
			k--
		}
		rows := 1 << k
		if _, err := w.exec(inserts[k], values[:rows*width]...); err != nil {
			return err
		}
		values = values[rows*width:]
	}
	return nil
}

// insertSQL returns INSERT OR IGNORE INTO table VALUES (?, …), … for rows rows.
// OR IGNORE: a version may list the same entry twice; one row is enough.
func insertSQL(table string, width, rows int) string {
	row := "(" + placeholders(width) + ")"
	return "INSERT OR IGNORE INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// isConstraint reports whether err is SQLite's refusal of a row that breaks
// a constraint (a unique index).
func isConstraint(err error) bool {
	var e *sqlitedriver.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3Constraint
}

// sqlite3Constraint is SQLITE_CONSTRAINT, the primary result code of every
// constraint violation.
const sqlite3Constraint = 19
