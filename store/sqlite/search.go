package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/store"
)

// Search runs q; with a total, in one read transaction so that the total
// and the page agree.
func (s *Store) Search(ctx context.Context, q store.Query) (*store.SearchResult, error) {
	return s.search(ctx, q, true)
}

// search is Search, with range conditions read as windows (see windows.go)
// when useWindows: the shapes they rely on are read before the search's
// transaction, and checked in it; when a write changed them meanwhile,
// the search runs again without windows.
func (s *Store) search(ctx context.Context, q store.Query, useWindows bool) (*store.SearchResult, error) {
	driver, err := s.drivingOrder(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	var windows map[*store.Condition]*window
	if useWindows {
		if windows, err = s.windows(ctx, q); err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
	}
	where, err := buildWhereDriven(q, driver, windows)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	keys, err := s.sortKeysOf(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	// A cursor carries the total its first page counted (see cursor.go).
	carried := -1
	if q.Total && q.Cursor != "" {
		if _, _, _, carried, err = decodeCursor(keys, q.Cursor); err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
	}
	count := q.Total && carried < 0
	var queries []string
	countQuery, countArgs := totalSQL(q, driver, where, windows)
	if count {
		queries = append(queries, countQuery)
	}
	matches := matchesOf(q, driver, where, windows)
	if count && q.Count > 0 && countsWithPage(q, keys, matches) {
		return s.searchCounted(ctx, q, keys, matches, countQuery, countArgs, useWindows)
	}
	page, pageArgs, walk, err := choosePage(q, keys, matches)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if q.Count > 0 {
		queries = append(queries, page)
	}
	// The walk of the type's ids in order, when the total (counted first)
	// shows it cheaper than sorting the matches (see walk.go).
	var idWalk *idWalkPlan
	if !walk && q.Count > 0 && q.Total && walksIDs(q, keys) {
		if idWalk, err = s.planIDWalk(ctx, q, windows); err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
		queries = append(queries, idWalk.sql)
	}
	sn, stmts, err := s.windowedSnapshot(ctx, len(queries) > 1 || len(windows) > 0, windows, q.Types, queries...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if sn == nil {
		return s.search(ctx, q, false)
	}
	defer sn.close()

	res := &store.SearchResult{Total: -1}
	if count {
		if err := stmts[0].QueryRowContext(ctx, countArgs...).Scan(&res.Total); err != nil {
			return nil, fmt.Errorf("store: search: count: %w", err)
		}
		stmts = stmts[1:]
	} else if q.Total {
		res.Total = carried
	}
	if q.Count <= 0 {
		res.More = res.Total > max(q.Offset, 0)
		return res, nil
	}
	pageStmt := stmts[0]
	if idWalk != nil && idWalk.pays(q.Count, res.Total) {
		pageStmt, pageArgs = stmts[1], idWalk.args
	}
	last, err := searchPage(ctx, pageStmt, pageArgs, q.Count, keys, res)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if walk && !res.More {
		if err := s.completeWalk(ctx, sn, q, keys, matches, last, res); err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
	}
	return res, nil
}

// choosePage returns the page query of q: a walk of the sort index when
// it can (see walk.go), with walk set, or else pageSQL.
func choosePage(q store.Query, keys []sortKey, m matchSQL) (page string, args []any, walk bool, err error) {
	var values []any
	var typ, id string
	if q.Cursor != "" {
		if values, typ, id, _, err = decodeCursor(keys, q.Cursor); err != nil {
			return "", nil, false, err
		}
	}
	if walksSort(q, keys, values) {
		page, args, err = walkPageSQL(q, keys, m.windows, values, typ, id)
		return page, args, true, err
	}
	page, args, err = pageSQL(q, keys, m)
	return page, args, false, err
}

// searchPage reads one page (and one row more, which tells whether there
// is a next page) and sets the cursor of the next page. It returns the
// sort values of the last resource of the page.
func searchPage(ctx context.Context, stmt *sql.Stmt, args []any, count int, keys []sortKey, res *store.SearchResult) ([]any, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanPage(rows, count, keys, false, res)
}

// scanPage is searchPage on the rows of a page query; it closes rows. With
// counted, each row ends with the total of the search, which res gets.
func scanPage(rows *sql.Rows, count int, keys []sortKey, counted bool, res *store.SearchResult) ([]any, error) {
	defer rows.Close()
	values := make([]any, len(keys))
	dest := make([]any, 6, 7+len(keys))
	for i := range values {
		dest = append(dest, &values[i])
	}
	if counted {
		dest = append(dest, &res.Total)
	}
	var last []any // the sort values of the page's last resource
	for rows.Next() {
		var r store.Resource
		var millis int64
		dest[0], dest[1], dest[2], dest[3], dest[4], dest[5] = &r.Type, &r.ID, &r.VersionID, &millis, &r.Method, &r.Body
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r.LastUpdated = fromMillis(millis)
		res.Resources = append(res.Resources, r)
		if len(res.Resources) <= count {
			last = slices.Clone(values)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(res.Resources) > count {
		res.Resources, res.More = res.Resources[:count], true
		lastRes := res.Resources[count-1]
		next, err := encodeCursor(keys, last, lastRes.Type, lastRes.ID, res.Total)
		if err != nil {
			return nil, err
		}
		res.Next = next
	}
	return last, nil
}

// entryCount returns, for a search of one type by one exact text
// condition, the count of its matches read off the index alone: an entry
// (param, text, type, rid) is unique per resource, and a deleted resource
// keeps no entries, so counting the entries counts the matches without
// reading a resource row each (the search's total, or _summary=count).
func entryCount(q store.Query) (*builder, bool) {
	if len(q.Types) != 1 || len(q.Clauses) != 1 || len(q.Clauses[0].Any) != 1 {
		return nil, false
	}
	c := q.Clauses[0].Any[0]
	if c.Op != store.OpExact || c.Not || c.Chain != nil || c.Has != nil || store.IsFullText(c.Param) ||
		c.Param == store.ParamID || c.Param == store.ParamLastUpdated || shared(c.Param) {
		return nil, false
	}
	b := &builder{}
	b.add("SELECT count(*) FROM idx_text WHERE param = ? AND text = ? AND type = ?", c.Param, c.Text, q.Types[0])
	return b, true
}

// totalSQL returns the query counting the matches of q, whose condition
// is where, and its arguments: off an index alone when it can.
func totalSQL(q store.Query, driver int, where *builder, windows map[*store.Condition]*window) (string, []any) {
	if c, ok := entryCount(q); ok {
		return c.sql(), c.args
	}
	if c, ok := windowCount(q, windows); ok {
		return c.sql(), c.args
	}
	if c, ok := indexCount(q, driver, windows); ok {
		return c.sql(), c.args
	}
	return countSQL(where), where.args
}

// countSQL counts the resources matching where.
func countSQL(where *builder) string {
	return "SELECT count(*) FROM resources r WHERE " + where.sql()
}

// matchSQL is how a page query finds the matches of a search.
type matchSQL struct {
	where *builder // the condition on resources r
	// windows are the range conditions read as windows (see windows.go).
	windows map[*store.Condition]*window
	// rowids, when not nil, selects the rowids of the matches from the
	// index lists alone (see count.go): the page then reads the resource
	// rows of the matches only, not of every candidate of the first list.
	rowids *builder
	// counted: the page query computes the rowids once (the CTE matched)
	// and also selects their count, as its last column (see count.go).
	counted bool
}

// matchesOf returns how a page query finds the matches of q, whose
// condition is where.
func matchesOf(q store.Query, driver int, where *builder, windows map[*store.Condition]*window) matchSQL {
	m := matchSQL{where: where, windows: windows}
	if rowids, ok := matchingRowids(q, driver, windows); ok {
		m.rowids = rowids
	}
	return m
}

// from returns the FROM clause and WHERE condition of the matches, as
// resources r, and its arguments.
func (m matchSQL) from() (string, []any) {
	if m.rowids == nil {
		return "resources r WHERE " + m.where.sql(), m.where.args
	}
	if m.counted {
		return "matched CROSS JOIN resources r ON r.rid = matched.rid WHERE r.deleted = 0", nil
	}
	// CROSS JOIN: SQLite keeps the rowids as the outer loop.
	return "(" + m.rowids.sql() + ") matched CROSS JOIN resources r ON r.rid = matched.rid WHERE r.deleted = 0", m.rowids.args
}

// pageSQL selects one page of the resources matching m, after the
// query's cursor if it has one, with its arguments. The sort values are
// selected too (k0, k1, …), for the cursor of the next page.
func pageSQL(q store.Query, keys []sortKey, m matchSQL) (string, []any, error) {
	var values []any
	var typ, id string
	if q.Cursor != "" {
		if q.Offset > 0 {
			return "", nil, fmt.Errorf("a cursor and an offset (%d) together", q.Offset)
		}
		var err error
		if values, typ, id, _, err = decodeCursor(keys, q.Cursor); err != nil {
			return "", nil, err
		}
	}
	// after returns " AND <after the cursor>", or nothing without a cursor.
	after := func(keys []sortKey, table string) (string, []any) {
		if q.Cursor == "" {
			return "", nil
		}
		cond, args := afterSQL(keys, values, q.Types, table, typ, id)
		return " AND " + cond, args
	}
	limit := []any{q.Count + 1, max(q.Offset, 0)}
	if slices.ContainsFunc(keys, func(k sortKey) bool { return k.nullable }) {
		page, args := valueSortedPageSQL(keys, m, after)
		return page, append(args, limit...), nil
	}
	// Keys on the resource's own columns: indexes give the order, and
	// ORDER BY names the selected keys, so that SQLite computes each once.
	// The page is cut (p) before its rows are joined to their bodies: a
	// search whose matches are sorted then never carries every match's body
	// through the sort, only the page's.
	sel := &builder{sep: ", "}
	sel.add("r.type, r.id, r.seq")
	names := []string{""}
	for i, k := range keys {
		sel.add(fmt.Sprintf("%s AS k%d", k.expr, i), k.args...)
		names = append(names, fmt.Sprintf("p.k%d", i))
	}
	cond, condArgs := after(keys, "r")
	from, fromArgs := m.from()
	with, withArgs := "", []any(nil)
	if m.counted {
		with, withArgs = "WITH matched AS MATERIALIZED ("+m.rowids.sql()+")\n", m.rowids.args
		sel.add("(SELECT count(*) FROM matched) AS total")
		names = append(names, "p.total")
	}
	page := with + `SELECT p.type, p.id, v.version, v.last_updated, v.method, v.body` + strings.Join(names, ", ") + `
		FROM (SELECT ` + sel.sql() + ` FROM ` + from + cond + ` ORDER BY ` + orderBy(keys, "r") + ` LIMIT ? OFFSET ?) p
		JOIN versions v ON v.seq = p.seq ORDER BY ` + orderBy(keys, "p")
	args := slices.Concat(withArgs, sel.args, fromArgs, condArgs, limit)
	return page, args, nil
}

// valueSortedPageSQL selects a page sorted on parameter values. Each value
// is a subquery per resource, so the matches and their sort values are
// computed once (m), the page is cut from them (p) and only its rows are
// joined to their bodies: the sort never carries a body.
func valueSortedPageSQL(keys []sortKey, m matchSQL, after func([]sortKey, string) (string, []any)) (string, []any) {
	sel := &builder{sep: ", "}
	sel.add("r.type, r.id, r.seq")
	named := make([]sortKey, len(keys))
	var names []string
	for i, k := range keys {
		name := fmt.Sprintf("k%d", i)
		sel.add(k.expr+" AS "+name, k.args...)
		named[i] = sortKey{param: k.param, expr: "m." + name, desc: k.desc, nullable: k.nullable}
		names = append(names, "p."+name)
	}
	cond, condArgs := after(named, "m")
	from, fromArgs := m.from()
	page := `WITH m AS MATERIALIZED (SELECT ` + sel.sql() + ` FROM ` + from + `),
		p AS (SELECT * FROM m WHERE 1` + cond + ` ORDER BY ` + orderBy(keys, "m") + ` LIMIT ? OFFSET ?)
		SELECT p.type, p.id, v.version, v.last_updated, v.method, v.body, ` + strings.Join(names, ", ") + `
		FROM p JOIN versions v ON v.seq = p.seq ORDER BY ` + orderBy(keys, "p")
	return page, slices.Concat(sel.args, fromArgs, condArgs)
}

// builder accumulates an SQL fragment and its bound arguments; values never
// enter the SQL text.
type builder struct {
	parts []string
	args  []any
	sep   string
}

func (b *builder) add(sql string, args ...any) {
	b.parts = append(b.parts, sql)
	b.args = append(b.args, args...)
}

func (b *builder) sql() string { return strings.Join(b.parts, b.sep) }

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func stringArgs(values []string) []any {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return args
}

// buildWhere turns the query's types and clauses into the WHERE condition on
// resources r.
func buildWhere(q store.Query) (*builder, error) { return buildWhereDriven(q, -1, nil) }

// buildWhereDriven is buildWhere with clause driver (when not -1) driving
// the search, the other exact clauses probed per candidate and the other
// lists kept from driving (see selectivity.go), and the range conditions
// in windows read as those windows (see windows.go).
func buildWhereDriven(q store.Query, driver int, windows map[*store.Condition]*window) (*builder, error) {
	w := &builder{sep: " AND "}
	// Without statistics SQLite prefers the type index to the rowid lists of
	// the index tables, and then scans every resource of the type. When a
	// clause can drive the search from an index table, the unary + keeps the
	// type and deleted terms as mere filters.
	filter := ""
	if slices.ContainsFunc(q.Clauses, drivesFromIndex) && !slices.ContainsFunc(q.Clauses, selectsIDs) {
		filter = "+"
	}
	w.add(filter + "r.deleted = 0")
	if len(q.Types) > 0 {
		w.add(filter+"r.type IN ("+placeholders(len(q.Types))+")", stringArgs(q.Types)...)
	}
	clauses := q.Clauses
	if driver >= 0 {
		// The driver first: SQLite walks the first list it is offered.
		clauses = slices.Concat(clauses[driver:driver+1], clauses[:driver], clauses[driver+1:])
	}
	for i, c := range clauses {
		if len(c.Any) == 0 {
			continue
		}
		follower := driver >= 0 && i > 0 && drivesFromIndex(c)
		probe := follower && probed(c)
		if w, ok := windows[&c.Any[0]]; ok && w == nil {
			continue // merged into the window of an earlier clause
		}
		or := &builder{sep: " OR "}
		for j, cond := range c.Any {
			frag, args, err := condition(cond, q.Types)
			if w := windows[&c.Any[j]]; w != nil {
				sub, subArgs := w.sql(q.Types)
				frag, args = "r.rid IN (SELECT rid FROM idx_range WHERE "+sub+")", subArgs
			}
			if probe {
				frag, args = probeCondition(cond)
			} else if follower {
				frag = notWalked(frag) // a list, but not the one to walk
			}
			if err != nil {
				return nil, err
			}
			or.add(frag, args...)
		}
		w.add("("+or.sql()+")", or.args...)
	}
	return w, nil
}

// notWalked returns the condition frag of a list (r.rid IN (…), or
// (r.type, r.id) IN (…) for _has) with a unary + on the columns, so that
// SQLite tests it per candidate rather than walks it.
func notWalked(frag string) string {
	if rest, ok := strings.CutPrefix(frag, "(r.type, r.id) IN "); ok {
		return "(+r.type, +r.id) IN " + rest
	}
	return "+" + frag
}

// drivesFromIndex reports whether every condition of c selects resources
// through an index table lookup (no negation, no missing, no special param),
// so that the clause as a whole is a list of rowids.
func drivesFromIndex(c store.Clause) bool {
	if len(c.Any) == 0 {
		return false
	}
	for _, cond := range c.Any {
		special := cond.Param == store.ParamID || cond.Param == store.ParamLastUpdated
		if special || cond.Not || cond.Op == store.OpMissing || cond.Op == store.OpNe || cond.Op == store.OpContains {
			return false
		}
	}
	return true
}

// selectsIDs reports whether c is a list of _id values, which the
// (type, id) index resolves best.
func selectsIDs(c store.Clause) bool {
	if len(c.Any) == 0 {
		return false
	}
	for _, cond := range c.Any {
		if cond.Param != store.ParamID || cond.Op != store.OpExact || cond.Not {
			return false
		}
	}
	return true
}

// condition returns the SQL of one condition on resources r.
func condition(c store.Condition, types []string) (string, []any, error) {
	frag, args, err := positive(c, types)
	if err != nil {
		return "", nil, fmt.Errorf("%s:%s: %w", c.Param, c.Op, err)
	}
	if c.Not {
		frag = "NOT (" + frag + ")"
	}
	return frag, args, nil
}

func positive(c store.Condition, types []string) (string, []any, error) {
	switch {
	case c.Chain != nil:
		return chained(c.Param, *c.Chain, types)
	case c.Has != nil:
		return reverseChained(*c.Has)
	case c.Op == store.OpMissing:
		return missing(c, types)
	}
	if store.IsFullText(c.Param) {
		return wordMatch(c)
	}
	switch c.Param {
	case store.ParamID:
		return textMatch("r.id", c)
	case store.ParamLastUpdated:
		// An instant covers [t, t+1ms): comparing high = t+1 with v is
		// comparing t with v-1, which keeps the column bare for its index.
		return rangeMatch("r.last_updated", "r.last_updated", 1, c)
	}
	table, frag, args, err := "idx_text", "", []any(nil), error(nil)
	if isTextOp(c.Op) {
		frag, args, err = textMatch("text", c)
	} else {
		table = "idx_range"
		frag, args, err = rangeMatch("low", "high", 0, c)
		if err == nil && c.Text != "" {
			// The unit (or first component) of the same entry.
			textFrag, textArgs, _ := textMatch("text", store.Condition{Op: c.RangeTextOp(), Text: c.Text})
			frag, args = frag+" AND "+textFrag, append(args, textArgs...)
		}
	}
	if err != nil {
		return "", nil, err
	}
	sub, subArgs := entrySubquery("rid", table, c.Param, types, frag, args)
	return "r.rid IN (" + sub + ")", subArgs, nil
}

func isTextOp(op store.Op) bool {
	return op == store.OpExact || op == store.OpPrefix || op == store.OpContains
}

// textMatch compares column with c.Text. A prefix is a range of the index
// (every string starting with p sorts in [p, p+U+10FFFF)), so it stays an
// index search; both it and instr are case-sensitive, unlike LIKE.
func textMatch(column string, c store.Condition) (string, []any, error) {
	switch c.Op {
	case store.OpExact:
		return column + " = ?", []any{c.Text}, nil
	case store.OpPrefix:
		return column + " >= ? AND " + column + " < ?", []any{c.Text, c.Text + "\U0010FFFF"}, nil
	case store.OpContains:
		return "instr(" + column + ", ?) > 0", []any{c.Text}, nil
	}
	return "", nil, fmt.Errorf("operator %q does not apply to text", c.Op)
}

// rangeMatch compares the range [low, high+highOffset) with the condition's,
// following the definitions of the range operators in package store.
func rangeMatch(low, high string, highOffset float64, c store.Condition) (string, []any, error) {
	cLow, cHigh := c.Low, c.High
	hLow, hHigh := c.Low-highOffset, c.High-highOffset // for comparisons with high
	switch c.Op {
	case store.OpEq:
		return low + " >= ? AND " + high + " <= ?", []any{cLow, hHigh}, nil
	case store.OpNe:
		return "NOT (" + low + " >= ? AND " + high + " <= ?)", []any{cLow, hHigh}, nil
	case store.OpGt:
		return high + " > ?", []any{hHigh}, nil
	case store.OpLt:
		return low + " < ?", []any{cLow}, nil
	case store.OpGe:
		return high + " > ?", []any{hLow}, nil
	case store.OpLe:
		return low + " < ?", []any{cHigh}, nil
	case store.OpSa:
		return low + " >= ?", []any{cHigh}, nil
	case store.OpEb:
		return high + " <= ?", []any{hLow}, nil
	case store.OpOverlap:
		return low + " < ? AND " + high + " > ?", []any{cHigh, hLow}, nil
	}
	return "", nil, fmt.Errorf("operator %q does not apply to ranges", c.Op)
}

// missing matches resources without (Text "true") or with (Text "false") an
// entry for the parameter. The special parameters are never missing.
func missing(c store.Condition, types []string) (string, []any, error) {
	want, err := c.MissingWanted()
	if err != nil {
		return "", nil, err
	}
	if store.IsFullText(c.Param) {
		return "", nil, fmt.Errorf("missing does not apply to full-text parameters")
	}
	if c.Param == store.ParamID || c.Param == store.ParamLastUpdated {
		if want {
			return "0", nil, nil
		}
		return "1", nil, nil
	}
	op := "IN"
	if want {
		op = "NOT IN"
	}
	text, textArgs := entrySubquery("rid", "idx_text", c.Param, types, "", nil)
	ranges, rangeArgs := entrySubquery("rid", "idx_range", c.Param, types, "", nil)
	return "r.rid " + op + " (" + text + " UNION ALL " + ranges + ")", append(textArgs, rangeArgs...), nil
}

// orderBy returns the ORDER BY list of rows of table: the sort keys (by
// their names in the select list), then type and id so that ties, and so
// pages, are stable.
// Without keys, type and id alone: the (type, id) index yields that order
// without sorting.
func orderBy(keys []sortKey, table string) string {
	var terms []string
	for i, k := range keys {
		term := fmt.Sprintf("k%d", i)
		if table != "r" {
			term = table + "." + term
		}
		if k.desc {
			term += " DESC"
		}
		if k.nullable {
			term += " NULLS LAST"
		}
		terms = append(terms, term)
	}
	return strings.Join(append(terms, table+".type", table+".id"), ", ")
}
