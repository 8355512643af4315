package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/store"
)

// statements are the hot-path statements, prepared once.
type statements struct {
	read, vread                             *sql.Stmt // on the reader pool
	current, insertVersion, insertResource  *sql.Stmt // on the writer
	state                                   *sql.Stmt
	updateResource, deleteText, deleteRange *sql.Stmt
	// insertText[k] and insertRange[k] insert 1<<k index entries at once.
	insertText, insertRange []*sql.Stmt
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
		{writer, &st.deleteText, `DELETE FROM idx_text WHERE rid = ?`},
		{writer, &st.deleteRange, `DELETE FROM idx_range WHERE rid = ?`},
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
	}
	return nil
}

func (st *statements) close() {
	all := []*sql.Stmt{
		st.read, st.vread, st.current, st.state, st.insertVersion, st.insertResource,
		st.updateResource, st.deleteText, st.deleteRange,
	}
	for _, stmt := range slices.Concat(all, st.insertText, st.insertRange) {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// Commit writes all writes in one immediate transaction, or nothing.
func (s *Store) Commit(ctx context.Context, writes []store.Write) (err error) {
	if len(writes) == 0 {
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: commit: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	w := txWriter{ctx: ctx, tx: tx, st: &s.stmts}
	for i := range writes {
		if err := w.write(&writes[i]); err != nil {
			return err
		}
	}
	if err := w.flushIndex(); err != nil {
		return fmt.Errorf("store: commit %d writes: index: %w", len(writes), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit %d writes: %w", len(writes), err)
	}
	s.checkpoints.committed(len(writes))
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
	pending map[int64]bool // rids with entries in text or ranges
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
func (w *txWriter) write(wr *store.Write) error {
	name := fmt.Sprintf("%s/%s", wr.Type, wr.ID)
	var rid, current int64
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

	millis := wr.LastUpdated.UnixMilli()
	var body []byte
	if !wr.Deleted {
		body = wr.Body
	}
	res, err := w.exec(w.st.insertVersion, wr.Type, wr.ID, wr.Version, millis, wr.Deleted, wr.Method, body)
	if err != nil {
		return fmt.Errorf("store: write %s version %d: %w", name, wr.Version, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store: write %s version %d: %w", name, wr.Version, err)
	}

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
		if err := w.clearIndex(rid); err != nil {
			return fmt.Errorf("store: write %s: clear index: %w", name, err)
		}
	}
	if wr.Deleted {
		return nil
	}
	if err := w.insertIndex(rid, wr.Type, wr.Index); err != nil {
		return fmt.Errorf("store: write %s: index: %w", name, err)
	}
	return nil
}

func (w *txWriter) clearIndex(rid int64) error {
	if w.pending[rid] {
		// Written earlier in this transaction: its entries are not in the
		// tables yet.
		w.text = slices.DeleteFunc(w.text, func(r textRow) bool { return r.rid == rid })
		w.ranges = slices.DeleteFunc(w.ranges, func(r rangeRow) bool { return r.rid == rid })
		delete(w.pending, rid)
	}
	if _, err := w.exec(w.st.deleteText, rid); err != nil {
		return err
	}
	_, err := w.exec(w.st.deleteRange, rid)
	return err
}

// insertIndex queues the entries: text kinds for idx_text, numbers, dates
// and quantities (with their unit) for idx_range, and composites for
// idx_text for text operators and, when they have a range, for idx_range
// with their first component.
func (w *txWriter) insertIndex(rid int64, typ string, entries []store.IndexEntry) error {
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if inRangeTable(e) {
			w.ranges = append(w.ranges, rangeRow{param: e.Param, typ: typ, text: e.Text, low: e.Low, high: e.High, rid: rid})
		}
		if inTextTable(e) {
			w.text = append(w.text, textRow{param: e.Param, text: e.Text, typ: typ, rid: rid})
		}
	}
	if w.pending == nil {
		w.pending = map[int64]bool{}
	}
	w.pending[rid] = true
	return nil
}

// flushIndex inserts the queued entries sorted by primary key, with
// multi-row INSERTs: in key order consecutive rows land on the same B-tree
// pages, and a statement costs SQLite more than a row.
func (w *txWriter) flushIndex() error {
	slices.SortFunc(w.text, func(a, b textRow) int {
		return cmp.Or(cmp.Compare(a.param, b.param), cmp.Compare(a.text, b.text), cmp.Compare(a.typ, b.typ), cmp.Compare(a.rid, b.rid))
	})
	slices.SortFunc(w.ranges, func(a, b rangeRow) int {
		return cmp.Or(cmp.Compare(a.param, b.param), cmp.Compare(a.typ, b.typ), cmp.Compare(a.low, b.low),
			cmp.Compare(a.high, b.high), cmp.Compare(a.text, b.text), cmp.Compare(a.rid, b.rid))
	})
	text := make([]any, 0, 4*len(w.text))
	for _, r := range w.text {
		text = append(text, r.param, r.text, r.typ, r.rid)
	}
	ranges := make([]any, 0, 6*len(w.ranges))
	for _, r := range w.ranges {
		ranges = append(ranges, r.param, r.typ, r.low, r.high, r.text, r.rid)
	}
	w.text, w.ranges, w.pending = w.text[:0], w.ranges[:0], nil
	if err := w.insertRows(w.st.insertText, 4, text); err != nil {
		return err
	}
	return w.insertRows(w.st.insertRange, 6, ranges)
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
