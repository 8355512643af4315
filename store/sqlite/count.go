package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/store"
)

// Totals off the index tables. A search's total counts the resources whose
// rowids are in every clause's list; counting them through resources r
// reads one resource row per candidate, only to check its type and that it
// is not deleted. But the lists already hold the answer: an index entry
// carries its resource's type, and a deleted resource keeps no entries. So
// when every clause is such a list (entries of the searched types, chains
// included), the total is the size of their intersection, computed on the
// rowids alone: the first list's distinct rowids, each checked against the
// other lists. A page of such a search starts from the same rowids, and
// reads the resource rows of the matches only (matchSQL, in search.go).

// indexCount returns the query counting the matches of q from its clauses'
// lists (see matchingRowids), and its arguments, or false.
func indexCount(q store.Query, driver int, windows map[*store.Condition]*window) (*builder, bool) {
	m, ok := matchingRowids(q, driver, windows)
	if !ok {
		return nil, false
	}
	b := &builder{}
	b.add("SELECT count(*) FROM ("+m.sql()+")", m.args...)
	return b, true
}

// matchingRowids returns the query of the rowids of the matches of q (each
// once) computed from its clauses' lists alone, or false when a clause is
// not such a list (a negation, _id, _lastUpdated, :missing, full text,
// _has) or no type is searched (the lists then do not check it). driver,
// when not -1, is the clause to read first (the smallest, see
// selectivity.go).
func matchingRowids(q store.Query, driver int, windows map[*store.Condition]*window) (*builder, bool) {
	if len(q.Types) == 0 || len(q.Clauses) == 0 {
		return nil, false
	}
	order := make([]int, 0, len(q.Clauses))
	if driver >= 0 {
		order = append(order, driver)
	}
	for i := range q.Clauses {
		if i != driver {
			order = append(order, i)
		}
	}
	var lists, probes []*builder
	unique := false // whether the first list holds each rowid once
	for _, i := range order {
		c := &q.Clauses[i]
		if !drivesFromIndex(*c) {
			return nil, false
		}
		if w, ok := windows[&c.Any[0]]; ok && w == nil {
			continue // merged into the window of an earlier clause
		}
		if len(lists) > 0 && probed(*c) {
			// Exact text conditions after the first: a primary-key probe
			// per rowid, not a list to build.
			probes = append(probes, countProbe(c, q.Types))
			continue
		}
		list := &builder{sep: " UNION "}
		for j := range c.Any {
			sub, args, ok := conditionList(&c.Any[j], q.Types, windows)
			if !ok {
				return nil, false
			}
			list.add(sub, args...)
		}
		if len(lists) == 0 {
			unique = uniqueList(c, windows)
		}
		lists = append(lists, list)
	}
	if len(lists) == 0 {
		return nil, false
	}
	// The first list's rowids, once each (a resource may have several
	// entries in it), then the others as membership tests.
	first := "SELECT DISTINCT rid FROM (" + lists[0].sql() + ")"
	if unique {
		first = lists[0].sql()
	}
	b := &builder{}
	b.add("SELECT ids.rid FROM ("+first+") ids", lists[0].args...)
	var tests []*builder
	for _, l := range lists[1:] {
		t := &builder{}
		// The unary +: a membership test of each rowid of the first list,
		// in its order; without it SQLite may walk this list instead and
		// seek each rowid in the first list's index, by its text.
		t.add("+ids.rid IN ("+l.sql()+")", l.args...)
		tests = append(tests, t)
	}
	for i, t := range append(probes, tests...) {
		if i == 0 {
			b.add(" WHERE ")
		} else {
			b.add(" AND ")
		}
		b.add(t.sql(), t.args...)
	}
	return b, true
}

// countProbe is probeCondition for the rowid ids.rid of the matches: the clause
// of exact text conditions holds for it when one of them has its entry.
func countProbe(c *store.Clause, types []string) *builder {
	or := &builder{sep: " OR "}
	for _, cond := range c.Any {
		or.add("EXISTS (SELECT 1 FROM idx_text WHERE param = ? AND text = ? AND type IN ("+placeholders(len(types))+") AND rid = ids.rid)",
			append([]any{cond.Param, cond.Text}, stringArgs(types)...)...)
	}
	b := &builder{}
	b.add("("+or.sql()+")", or.args...)
	return b
}

// uniqueList reports whether the list of clause c holds each rowid once:
// one exact text condition (an entry (param, text, type, rid) is unique),
// or the window of a single-valued parameter.
func uniqueList(c *store.Clause, windows map[*store.Condition]*window) bool {
	if len(c.Any) != 1 {
		return false
	}
	if w := windows[&c.Any[0]]; w != nil {
		return w.single
	}
	return probed(*c)
}

// conditionList returns the subquery selecting the rowids of the entries
// (of the searched types) matching c, or false when c is not such a list.
func conditionList(c *store.Condition, types []string, windows map[*store.Condition]*window) (string, []any, bool) {
	if c.Has != nil || store.IsFullText(c.Param) {
		return "", nil, false
	}
	if w := windows[c]; w != nil {
		sub, args := w.sql(types)
		return "SELECT rid FROM idx_range WHERE " + sub, args, true
	}
	frag, args, err := condition(*c, types)
	if err != nil {
		return "", nil, false
	}
	// positive and chained write an index condition as "r.rid IN (list)".
	sub, ok := strings.CutPrefix(frag, "r.rid IN (")
	if !ok || !strings.HasSuffix(sub, ")") || !strings.HasPrefix(sub, "SELECT rid FROM ") {
		return "", nil, false
	}
	return strings.TrimSuffix(sub, ")"), args, true
}

// A chain's list is costly to build (the targets' ids, then the entries
// that name them), and a search with a total builds its lists twice: for
// the count, then for the page. So a search with a chain among its lists
// counts its matches in its page query: the rowids are computed once
// (matched), counted, and the page cut from them.

// countsWithPage reports whether the page query of q also counts its
// matches: a chain among lists that give the rowids, and the page in an
// order of the resources' own columns.
func countsWithPage(q store.Query, keys []sortKey, m matchSQL) bool {
	if m.rowids == nil || slices.ContainsFunc(keys, func(k sortKey) bool { return k.nullable }) {
		return false
	}
	return slices.ContainsFunc(q.Clauses, func(c store.Clause) bool {
		return slices.ContainsFunc(c.Any, func(cond store.Condition) bool { return cond.Chain != nil })
	})
}

// searchCounted runs a search whose page query counts the matches (see
// countsWithPage). A page with no row carries no total: it is zero from
// the first page, and counted apart (countQuery) past it.
func (s *Store) searchCounted(ctx context.Context, q store.Query, keys []sortKey, m matchSQL, countQuery string, countArgs []any, useWindows bool) (*store.SearchResult, error) {
	m.counted = true
	page, args, err := pageSQL(q, keys, m)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	sn, stmts, err := s.windowedSnapshot(ctx, true, m.windows, q.Types, page)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if sn == nil {
		return s.search(ctx, q, false)
	}
	defer sn.close()
	res := &store.SearchResult{Total: -1}
	rows, err := stmts[0].QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if _, err := scanPage(rows, q.Count, keys, true, res); err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if len(res.Resources) > 0 {
		return res, nil
	}
	if q.Cursor == "" && q.Offset <= 0 {
		res.Total = 0
		return res, nil
	}
	rows, err = sn.query(ctx, countQuery, countArgs)
	if err != nil {
		return nil, fmt.Errorf("store: search: count: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, fmt.Errorf("store: search: count: %w", errors.Join(rows.Err(), errors.New("no row")))
	}
	if err := rows.Scan(&res.Total); err != nil {
		return nil, fmt.Errorf("store: search: count: %w", err)
	}
	return res, nil
}
