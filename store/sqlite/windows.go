package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	sqlitedriver "modernc.org/sqlite"

	"github.com/telehub/telehub/store"
)

// Date windows. idx_range is ordered by (param, type, low): a condition on
// low alone is a range of it, but one on high ("date=ge2023-04-01": high >
// X) bounds nothing, and a window written as two parameters
// (date=ge2023-04-01&date=lt2023-05-01) is two such lists, each about half
// the type's entries, whose intersection is a month.
//
// Two facts make a window a short range of the index:
//
//   - An entry is no wider than the widest entry of its parameter and type
//     (span, below): high > X implies low > X - span; and when no entry
//     ends before it starts (min_span >= 0), high <= Y implies low <= Y.
//     So every condition on high also bounds low.
//   - When no resource of the type has ever had two range entries for the
//     parameter (multiple = 0, below), "some entry satisfies A and some
//     entry satisfies B" is "one entry satisfies A and B": the clauses on
//     the parameter merge into one condition on one entry, and each match
//     has one entry, so counting entries counts matches.
//
// range_shapes keeps both facts per (param, type), as maxima that only
// grow: the writer folds in the range entries of the resources each
// transaction writes, with one upsert per parameter and type the
// transaction widens (foldShapes, writeShapes), in that transaction.
// Deleting entries never lowers them, so they stay true, at worst looser
// than the data. (Triggers on idx_entries did this until layout version 5:
// a trigger program per resource written cost 2-3% of the CPU of a load,
// all of it in the serial commit.)

// rangeShapesSchema creates range_shapes and fills it from the entries
// already stored, in one transaction.
const rangeShapesSchema = `
CREATE TABLE range_shapes (
	param    TEXT    NOT NULL,
	type     TEXT    NOT NULL,
	multiple INTEGER NOT NULL, -- 1 once a resource had two range entries for param
	span     REAL    NOT NULL, -- the largest high - low of an entry
	min_span REAL    NOT NULL, -- the smallest, negative if an entry ends before it starts
	PRIMARY KEY (param, type)
) WITHOUT ROWID;
INSERT INTO range_shapes (param, type, multiple, span, min_span)
	SELECT s.value ->> 0, r.type, max(s.value ->> 1), max(s.value ->> 2), min(s.value ->> 3)
	FROM idx_entries e JOIN resources r ON r.rid = e.rid, json_each(range_shapes_of(e.entries)) s
	GROUP BY 1, 2;
`

// dropShapeTriggers removes the triggers that kept range_shapes before
// layout version 5.
const dropShapeTriggers = `
DROP TRIGGER IF EXISTS range_shapes_of_new_entries;
DROP TRIGGER IF EXISTS range_shapes_of_changed_entries;
`

// foldShapeSQL widens the shape of a parameter of a type.
const foldShapeSQL = `
INSERT INTO range_shapes (param, type, multiple, span, min_span) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (param, type) DO UPDATE SET multiple = max(multiple, excluded.multiple),
		span = max(span, excluded.span), min_span = min(min_span, excluded.min_span)
	WHERE excluded.multiple > range_shapes.multiple OR excluded.span > range_shapes.span
		OR excluded.min_span < range_shapes.min_span`

// createRangeShapes creates range_shapes unless the file has it.
func createRangeShapes(ctx context.Context, db *sql.DB) error {
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'range_shapes')`).Scan(&exists)
	if err != nil || exists {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, rangeShapesSchema); err != nil {
		return err
	}
	return tx.Commit()
}

// paramShape is the shape of one parameter's range entries in a blob.
type paramShape struct {
	param string
	rangeShape
}

// blobShapes returns, for each parameter with range entries in an
// idx_entries blob, their shape: multiple for two entries or more, the
// largest and smallest high - low.
func blobShapes(blob []byte) ([]paramShape, error) {
	var shapes []paramShape
	err := eachRecord(blob, func(r record) bool { // in place: most entries are not ranges
		if !isRange(r.kind) {
			return true
		}
		span := r.high - r.low
		if i := slices.IndexFunc(shapes, func(s paramShape) bool { return s.param == string(r.param) }); i >= 0 {
			shapes[i].multiple, shapes[i].span, shapes[i].minSpan = true, max(shapes[i].span, span), min(shapes[i].minSpan, span)
			return true
		}
		shapes = append(shapes, paramShape{param: string(r.param), rangeShape: rangeShape{span: span, minSpan: span}})
		return true
	})
	return shapes, err
}

// rangeShapesOf is the SQL function range_shapes_of(entries), which fills
// range_shapes from a file's entries: blobShapes as a JSON array of
// [param, multiple, span, min_span].
func rangeShapesOf(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
	blob, _ := args[0].([]byte)
	shapes, err := blobShapes(blob)
	if err != nil {
		return nil, err
	}
	b := []byte{'['}
	for i, s := range shapes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendQuote(b, s.param)
		if s.multiple {
			b = append(b, ",1,"...)
		} else {
			b = append(b, ",0,"...)
		}
		b = strconv.AppendFloat(b, storedSpan(s.span), 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, storedSpan(s.minSpan), 'g', -1, 64)
		b = append(b, ']')
	}
	return string(append(b, ']')), nil
}

// storedSpan is a span as range_shapes holds it: JSON, which filled it
// first, has no infinity, so an unbounded span is the largest number.
func storedSpan(span float64) float64 {
	return max(min(span, math.MaxFloat64), -math.MaxFloat64)
}

func init() {
	sqlitedriver.MustRegisterDeterministicScalarFunction("range_shapes_of", 1, rangeShapesOf)
}

// shapeKey names a parameter of a type in range_shapes.
type shapeKey struct{ param, typ string }

// foldShapes widens shapes by the range entries of blob, the entries of a
// resource of type typ.
func foldShapes(shapes map[shapeKey]rangeShape, typ string, blob []byte) error {
	found, err := blobShapes(blob)
	if err != nil {
		return err
	}
	for _, f := range found {
		k := shapeKey{f.param, typ}
		if s, ok := shapes[k]; ok {
			f.multiple, f.span, f.minSpan = f.multiple || s.multiple, max(f.span, s.span), min(f.minSpan, s.minSpan)
		}
		shapes[k] = f.rangeShape
	}
	return nil
}

// writeShapes widens range_shapes by shapes, in the writer's transaction,
// in key order.
func (w *txWriter) writeShapes(shapes map[shapeKey]rangeShape) error {
	keys := slices.SortedFunc(maps.Keys(shapes), func(a, b shapeKey) int {
		return cmp.Or(strings.Compare(a.param, b.param), strings.Compare(a.typ, b.typ))
	})
	for _, k := range keys {
		s := shapes[k]
		if _, err := w.exec(w.st.foldShape, k.param, k.typ, s.multiple, storedSpan(s.span), storedSpan(s.minSpan)); err != nil {
			return fmt.Errorf("range shapes: %w", err)
		}
	}
	return nil
}

// rangeShape is what range_shapes knows of a parameter of a type.
type rangeShape struct {
	multiple      bool
	span, minSpan float64
}

const shapeQuery = `SELECT multiple, span, min_span FROM range_shapes WHERE param = ? AND type = ?`

// rangeShape reads the shape of param's entries for typ; ok is false when
// the type has no range entry for it.
func (s *Store) rangeShape(ctx context.Context, param, typ string) (shape rangeShape, ok bool, err error) {
	stmt, done, err := s.queries.get(ctx, shapeQuery)
	if err != nil {
		return shape, false, err
	}
	defer done()
	err = stmt.QueryRowContext(ctx, param, typ).Scan(&shape.multiple, &shape.span, &shape.minSpan)
	if errors.Is(err, sql.ErrNoRows) {
		return shape, false, nil
	}
	return shape, err == nil, err
}

// window is a conjunction of bounds on one range entry: low >= lowMin,
// low < lowMax, high > highMin, high <= highMax (each when set), of the
// entries of param for the search's type, and the span of those entries.
type window struct {
	param                                     string
	lowMin, lowMax, highMin, highMax          float64
	hasLowMin, hasLowMax, hasHigh, hasHighMax bool
	span                                      float64
	// ordered: no entry ends before it starts, so high <= Y implies low <= Y.
	ordered bool
	// single: each resource has at most one entry (see range_shapes), so
	// the window's entries count its matches.
	single bool
}

// bound adds the bounds of a range condition to w; ok is false for an
// operator that is not a conjunction of bounds (ne).
func (w *window) bound(c store.Condition) bool {
	lowMin := func(v float64) { w.lowMin, w.hasLowMin = maxIf(w.hasLowMin, w.lowMin, v), true }
	lowMax := func(v float64) { w.lowMax, w.hasLowMax = minIf(w.hasLowMax, w.lowMax, v), true }
	highMin := func(v float64) { w.highMin, w.hasHigh = maxIf(w.hasHigh, w.highMin, v), true }
	highMax := func(v float64) { w.highMax, w.hasHighMax = minIf(w.hasHighMax, w.highMax, v), true }
	switch c.Op {
	case store.OpEq:
		lowMin(c.Low)
		highMax(c.High)
	case store.OpGt:
		highMin(c.High)
	case store.OpLt:
		lowMax(c.Low)
	case store.OpGe:
		highMin(c.Low)
	case store.OpLe:
		lowMax(c.High)
	case store.OpSa:
		lowMin(c.High)
	case store.OpEb:
		highMax(c.Low)
	case store.OpOverlap:
		lowMax(c.High)
		highMin(c.Low)
	default:
		return false
	}
	return true
}

func maxIf(has bool, cur, v float64) float64 {
	if has {
		return max(cur, v)
	}
	return v
}

func minIf(has bool, cur, v float64) float64 {
	if has {
		return min(cur, v)
	}
	return v
}

// sql returns the condition on idx_range of the window, for the search's
// types: the bounds as given, and the bounds on low they imply (the
// tighter of each kind), so that SQLite reads a range of the primary key.
func (w *window) sql(types []string) (string, []any) {
	b := &builder{sep: " AND "}
	b.add("param = ?", w.param)
	b.add("type IN ("+placeholders(len(types))+")", stringArgs(types)...)
	// The index walks low from its tightest lower bound to its tightest
	// upper bound; a bound that is not the one walked is still checked, with
	// a unary + so that SQLite does not walk it instead.
	if implied, ok := w.impliedLowMin(); ok && (!w.hasLowMin || implied > w.lowMin) {
		b.add("low >= ?", implied)
		if w.hasLowMin {
			b.add("+low >= ?", w.lowMin)
		}
	} else if w.hasLowMin {
		b.add("low >= ?", w.lowMin)
	}
	if w.hasHighMax && w.ordered && (!w.hasLowMax || w.highMax < w.lowMax) {
		b.add("low <= ?", w.highMax) // low <= high <= highMax
		if w.hasLowMax {
			b.add("+low < ?", w.lowMax)
		}
	} else if w.hasLowMax {
		b.add("low < ?", w.lowMax)
	}
	if w.hasHigh {
		b.add("high > ?", w.highMin)
	}
	if w.hasHighMax {
		b.add("high <= ?", w.highMax)
	}
	return b.sql(), b.args
}

// windows finds, in a search of one type, the range clauses whose
// conditions can read a window of idx_range: clauses of one range
// condition on a parameter, with no unit (Text) nor negation. It returns
// the window of each such condition, by address in q.Clauses; when the
// parameter is single-valued, its clauses merge into the window of the
// first, and the others map to nil (nothing left to check).
func (s *Store) windows(ctx context.Context, q store.Query) (map[*store.Condition]*window, error) {
	if len(q.Types) != 1 {
		return nil, nil
	}
	var found map[*store.Condition]*window
	first := map[string]*window{} // the window of each single-valued parameter
	for i := range q.Clauses {
		c := &q.Clauses[i]
		if len(c.Any) != 1 || !windowed(c.Any[0]) {
			continue
		}
		cond := &c.Any[0]
		shape, ok, err := s.rangeShape(ctx, cond.Param, q.Types[0])
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // no entry: nothing to bound
		}
		if found == nil {
			found = map[*store.Condition]*window{}
		}
		if w := first[cond.Param]; w != nil && !shape.multiple {
			w.bound(*cond)
			found[cond] = nil
			continue
		}
		w := &window{param: cond.Param, span: shape.span, ordered: shape.minSpan >= 0, single: !shape.multiple}
		w.bound(*cond)
		found[cond] = w
		if !shape.multiple {
			first[cond.Param] = w
		}
	}
	return found, nil
}

// windowedSnapshot opens a snapshot with queries prepared (see
// Store.snapshot) and checks in it that the shapes windows were built on
// still hold. When they no longer do, it closes the snapshot and returns a
// nil one: the caller runs the search again without windows.
func (s *Store) windowedSnapshot(ctx context.Context, consistent bool, windows map[*store.Condition]*window, types []string, queries ...string) (*snapshot, []*sql.Stmt, error) {
	sn, stmts, err := s.snapshot(ctx, consistent, queries...)
	if err != nil {
		return nil, nil, err
	}
	hold, err := sn.windowsHold(ctx, windows, types)
	if !hold || err != nil {
		sn.close()
		return nil, nil, err
	}
	return sn, stmts, nil
}

// windowsHold reports whether the shapes the windows were built on still
// hold in the snapshot (read in its transaction): each parameter merged is
// still single-valued, and no entry is wider than the span that bounds it.
func (sn *snapshot) windowsHold(ctx context.Context, windows map[*store.Condition]*window, types []string) (bool, error) {
	for _, w := range windows {
		if w == nil {
			continue
		}
		rows, err := sn.query(ctx, shapeQuery, []any{w.param, types[0]})
		if err != nil {
			return false, err
		}
		var now rangeShape
		found := rows.Next()
		if found {
			err = rows.Scan(&now.multiple, &now.span, &now.minSpan)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
		if err != nil || !found {
			return false, err
		}
		if w.single && now.multiple || now.span > w.span || w.ordered && now.minSpan < 0 {
			return false, nil
		}
	}
	return true, nil
}

// windowed reports whether c is a range condition a window can hold.
func windowed(c store.Condition) bool {
	if c.Not || c.Chain != nil || c.Has != nil || c.Text != "" || c.Param == store.ParamID ||
		c.Param == store.ParamLastUpdated || store.IsFullText(c.Param) || isTextOp(c.Op) || shared(c.Param) {
		return false
	}
	var w window
	return w.bound(c)
}

// windowCount returns, for a search whose only clauses merged into one
// window of a single-valued parameter, the count of its matches read off
// the index: one entry per match.
func windowCount(q store.Query, windows map[*store.Condition]*window) (*builder, bool) {
	var only *window
	for i := range q.Clauses {
		c := &q.Clauses[i]
		if len(c.Any) != 1 {
			return nil, false
		}
		w, ok := windows[&c.Any[0]]
		switch {
		case !ok:
			return nil, false
		case w == nil:
			continue
		case only != nil || !w.single:
			return nil, false
		}
		only = w
	}
	if only == nil {
		return nil, false
	}
	frag, args := only.sql(q.Types)
	b := &builder{}
	b.add("SELECT count(*) FROM idx_range WHERE "+frag, args...)
	return b, true
}

// impliedLowMin is the lower bound on low that high > highMin implies for
// entries no wider than span: low >= high - span > highMin - span, less a
// margin far above the rounding of the subtraction.
func (w *window) impliedLowMin() (float64, bool) {
	if !w.hasHigh {
		return 0, false
	}
	implied := w.highMin - w.span
	implied -= (math.Abs(w.highMin) + w.span) * 1e-9
	return implied, !math.IsInf(implied, 0) && !math.IsNaN(implied)
}

// describe names the window for Explain.
func (w *window) describe() string {
	var parts []string
	if w.single {
		parts = append(parts, "single-valued")
	}
	parts = append(parts, fmt.Sprintf("span %g", w.span))
	return w.param + " (" + strings.Join(parts, ", ") + ")"
}
