package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telehub/telehub/store"
)

// Pages by index walk.
//
// Sorted on a parameter's values. A search sorted on a parameter's values
// (Observation?code=…&_sort=-date) would otherwise compute the sort value of
// every match, sort them all, and keep one page: each page of a walk through
// fifty thousand matches cost as much as the whole walk. But the sort values
// of a date or number parameter are range entries, which idx_range keeps in
// order: ascending, a resource sorts on its smallest low, the order of the
// primary key (param, type, low, …); descending, on its largest high, the
// order of idx_range_by_high. So such a page walks the entries of the
// parameter in order from the cursor, keeps the entry that is its
// resource's sort value (sort_value equals it), checks the search's clauses
// on that resource, and stops after a page: its cost is the entries walked,
// about a page divided by the share of the type's resources that match.
//
// Resources without a value sort last; when the walk runs out before the
// page is full, the rest of the page comes from the general plan, after the
// walk's last resource (pageSQL), which then counts only for the last pages.

// In the default order, (type, id). A search of a type with many matches
// (Patient?name=dup, a tenth of the patients) would otherwise look up every
// match's id and sort them all for one page. When the total, counted first,
// shows that a page is found by walking fewer of the type's resources in
// id order (the resources_by_id index) than there are matches, the page
// walks them from the cursor instead, checking the clauses on each, and
// stops after a page: about a page divided by the share of the type that
// matches, whatever the number of matches.

// searchIndexes are indexes of the read side, created at open in files of
// any layout version (CREATE INDEX IF NOT EXISTS). idx_range_by_high orders
// the entries of dates and numbers (an empty text) by their high bound, for
// descending sorts; quantities and composites (with a unit or a component
// in text), the bulk of idx_range, stay out of it, so that it costs writes
// little.
const searchIndexes = `
CREATE INDEX IF NOT EXISTS idx_range_by_high ON idx_range (param, type, high) WHERE text = '';
`

// createReadSide creates the read side's indexes and tables when missing
// (searchIndexes here, range_shapes in windows.go). In a file of a million
// resources, the first open takes about a minute for them.
func createReadSide(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, searchIndexes); err != nil {
		return err
	}
	return createRangeShapes(ctx, db)
}

// walksSort reports whether the page of q can walk the sort index: one
// type, no offset, the first sort key a date or number parameter (only
// range entries, with no text), and the cursor, if any, still among the
// resources with a value for it.
func walksSort(q store.Query, keys []sortKey, cursorValues []any) bool {
	if len(q.Types) != 1 || q.Offset > 0 || len(q.Sort) == 0 || len(keys) == 0 || !keys[0].nullable || shared(keys[0].param) {
		return false
	}
	if k := q.Sort[0].Kind; k != store.KindDate && k != store.KindNumber {
		return false
	}
	if q.Cursor != "" && (len(cursorValues) == 0 || cursorValues[0] == nil) {
		return false
	}
	return true
}

// walkPageSQL selects, like pageSQL, one page (count+1 rows) of the
// resources matching q sorted on keys, walking the first key's entries in
// order from the cursor (values, typ, id when q.Cursor is set).
func walkPageSQL(q store.Query, keys []sortKey, windows map[*store.Condition]*window, values []any, typ, id string) (string, []any, error) {
	filter, err := buildFilter(q, windows)
	if err != nil {
		return "", nil, err
	}
	column, from := "x.low", "idx_range x"
	if keys[0].desc {
		// The partial index holds entries whose text is '': the only ones
		// a date or number parameter has.
		column, from = "x.high", "idx_range x INDEXED BY idx_range_by_high"
	}
	// The walk's first key is the entry's bound itself: never NULL, and
	// bounded on its own so that the walk seeks to the cursor.
	walked := slices.Clone(keys)
	walked[0] = sortKey{param: keys[0].param, expr: column, desc: keys[0].desc}
	sel := &builder{sep: ", "}
	sel.add(column + " AS k0")
	names := []string{"p.k0"}
	for i, k := range keys[1:] {
		sel.add(fmt.Sprintf("%s AS k%d", k.expr, i+1), k.args...)
		names = append(names, fmt.Sprintf("p.k%d", i+1))
	}
	sel.add("r.type, r.id, r.seq")
	cond := &builder{sep: " AND "}
	cond.add("x.param = ? AND x.type = ?", keys[0].param, q.Types[0])
	if keys[0].desc {
		cond.add("x.text = ''")
	}
	// The clauses first: their probes are cheaper than reading the entries.
	cond.add(filter.sql(), filter.args...)
	cond.add(column+" = "+keys[0].expr, keys[0].args...)
	if q.Cursor != "" {
		after, args := afterSQL(walked, values, q.Types, "r", typ, id)
		cond.add(after, args...)
	}
	// DISTINCT: a resource with two entries at its sort value would come twice.
	page := `SELECT p.type, p.id, v.version, v.last_updated, v.method, v.body, ` + strings.Join(names, ", ") + `
		FROM (SELECT DISTINCT ` + sel.sql() + ` FROM ` + from + ` JOIN resources r ON r.rid = x.rid
			WHERE ` + cond.sql() + ` ORDER BY ` + orderBy(walked, "r") + ` LIMIT ?) p
		JOIN versions v ON v.seq = p.seq ORDER BY ` + orderBy(keys, "p")
	args := slices.Concat(sel.args, cond.args, []any{q.Count + 1})
	return page, args, nil
}

// buildFilter is buildWhere for a search whose candidates come from
// elsewhere (a walk): each clause of exact text conditions is a primary-key
// probe per candidate, the others lists of rowids tested per candidate,
// and the range conditions in windows read as those windows (see
// windows.go).
func buildFilter(q store.Query, windows map[*store.Condition]*window) (*builder, error) {
	w := &builder{sep: " AND "}
	w.add("+r.deleted = 0")
	if len(q.Types) > 0 {
		w.add("+r.type IN ("+placeholders(len(q.Types))+")", stringArgs(q.Types)...)
	}
	for _, c := range q.Clauses {
		if len(c.Any) == 0 {
			continue
		}
		if w, ok := windows[&c.Any[0]]; ok && w == nil {
			continue // merged into the window of an earlier clause
		}
		or := &builder{sep: " OR "}
		for j, cond := range c.Any {
			var frag string
			var args []any
			if w := windows[&c.Any[j]]; w != nil {
				sub, subArgs := w.sql(q.Types)
				frag, args = "+r.rid IN (SELECT rid FROM idx_range WHERE "+sub+")", subArgs
			} else if probed(c) {
				frag, args = probeCondition(cond)
			} else {
				var err error
				if frag, args, err = condition(cond, q.Types); err != nil {
					return nil, err
				}
				if drivesFromIndex(c) {
					frag = notWalked(frag) // a list to probe, not to walk
				}
			}
			or.add(frag, args...)
		}
		w.add("("+or.sql()+")", or.args...)
	}
	return w, nil
}

// completeWalk completes a page whose walk ran out (res holds its rows,
// last the sort values of its last one) from the general plan: the
// resources after the walk's last one, or after the cursor when the walk
// found none, are those the walk cannot see (without a value).
func (s *Store) completeWalk(ctx context.Context, sn *snapshot, q store.Query, keys []sortKey, m matchSQL, last []any, res *store.SearchResult) error {
	rest := q
	if n := len(res.Resources); n > 0 {
		r := res.Resources[n-1]
		var err error
		if rest.Cursor, err = encodeCursor(keys, last, r.Type, r.ID, res.Total); err != nil {
			return err
		}
	}
	// With a full page already, one row more tells whether a next page exists.
	rest.Count = max(q.Count-len(res.Resources), 1)
	page, args, err := pageSQL(rest, keys, m)
	if err != nil {
		return err
	}
	rows, err := sn.query(ctx, page, args)
	if err != nil {
		return err
	}
	more := &store.SearchResult{Total: res.Total}
	if _, err := scanPage(rows, rest.Count, keys, false, more); err != nil {
		return err
	}
	if len(res.Resources) == q.Count {
		res.More = len(more.Resources) > 0
		if res.More {
			res.Next = rest.Cursor
		}
		return nil
	}
	res.Resources = append(res.Resources, more.Resources...)
	res.More, res.Next = more.More, more.Next
	return nil
}

// walksIDs reports whether a page of q may walk the type's ids in order:
// one type, the default order, no offset, clauses to check, and none that
// lists ids (the (type, id) index then reads exactly the matches).
func walksIDs(q store.Query, keys []sortKey) bool {
	return len(q.Types) == 1 && len(keys) == 0 && q.Offset <= 0 && len(q.Clauses) > 0 &&
		!slices.ContainsFunc(q.Clauses, selectsIDs)
}

// idWalkPlan is the page query of a walk of the type's ids, and what it
// needs to know whether it pays.
type idWalkPlan struct {
	sql      string
	args     []any
	typeSize int // resources of the type, an estimate
}

// planIDWalk returns the page query of q walking the type's ids from the
// cursor, the clauses checked on each resource.
func (s *Store) planIDWalk(ctx context.Context, q store.Query, windows map[*store.Condition]*window) (*idWalkPlan, error) {
	size, err := s.sizes.of(ctx, s, q.Types[0])
	if err != nil {
		return nil, err
	}
	filter, err := buildFilter(q, windows)
	if err != nil {
		return nil, err
	}
	cond := &builder{sep: " AND "}
	cond.add("r.type = ?", q.Types[0])
	if q.Cursor != "" {
		_, typ, id, _, err := decodeCursor(nil, q.Cursor)
		if err != nil {
			return nil, err
		}
		after, args := afterTypeID(q.Types, "r", typ, id)
		cond.add(after, args...)
	}
	cond.add(filter.sql(), filter.args...)
	page := `SELECT p.type, p.id, v.version, v.last_updated, v.method, v.body
		FROM (SELECT r.type, r.id, r.seq FROM resources r INDEXED BY resources_by_id
			WHERE ` + cond.sql() + ` ORDER BY r.type, r.id LIMIT ?) p
		JOIN versions v ON v.seq = p.seq ORDER BY p.type, p.id`
	return &idWalkPlan{sql: page, args: append(cond.args, q.Count+1), typeSize: size}, nil
}

// pays reports whether walking for a page of count reads fewer resources
// (count+1 matches, at the share total/typeSize of the type) than the total
// of matches a sort would read.
func (p *idWalkPlan) pays(count, total int) bool {
	return total > 0 && float64(count+1)*float64(p.typeSize) < float64(total)*float64(total)
}

// typeSizes caches the number of resources of each type, which plans use
// as an estimate: counting them costs a read of the type's index, so a
// count serves for a minute.
type typeSizes struct {
	mu    sync.Mutex
	sizes map[string]typeSize
}

type typeSize struct {
	n  int
	at time.Time
}

const typeSizeLifetime = time.Minute

// of returns the (estimated) number of resources of typ.
func (c *typeSizes) of(ctx context.Context, s *Store, typ string) (int, error) {
	c.mu.Lock()
	cached, ok := c.sizes[typ]
	c.mu.Unlock()
	if ok && time.Since(cached.at) < typeSizeLifetime {
		return cached.n, nil
	}
	stmt, done, err := s.queries.get(ctx, "SELECT count(*) FROM resources WHERE type = ?")
	if err != nil {
		return 0, err
	}
	defer done()
	var n int
	if err := stmt.QueryRowContext(ctx, typ).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of %s: %w", typ, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = map[string]typeSize{}
	}
	c.sizes[typ] = typeSize{n: n, at: time.Now()}
	return n, nil
}
