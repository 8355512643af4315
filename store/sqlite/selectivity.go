package sqlite

import (
	"context"
	"fmt"
	"slices"

	"github.com/telehub/telehub/store"
)

// Join order. Each clause of a search is a list of rowids (r.rid IN
// (subquery)); SQLite walks the first list and, for every other one, builds
// the whole list into an ephemeral table before probing it. Searching
// Observation?code=8867-4&patient=Patient/1 over a million resources, the
// code's list holds tens of thousands of rows, the patient's a few dozen,
// and the search costs the larger of them either way: a second.
//
// So when several clauses could drive a search, each is probed first for
// its size (a count, capped at probeCap, of its index entries), the smallest
// drives the search (its list is the only one SQLite materialises), and the
// clauses of exact text conditions are checked for each candidate by a
// probe of the primary key (param, text, type, rid) instead: a few B-tree
// seeks per candidate, whatever the size of their own lists. Clauses of
// other shapes (prefixes, ranges, full text, chains) stay lists, marked
// with unary + so that SQLite does not pick them to drive.

// probeCap bounds the entries a size probe reads: above it a clause is
// "large", and its exact size does not matter.
const probeCap = 2000

// drivingOrder estimates the size of each clause that can drive the search
// and returns the index of the smallest, or -1 when there is no choice to
// make (fewer than two such clauses) or no estimate.
func (s *Store) drivingOrder(ctx context.Context, q store.Query) (int, error) {
	var candidates []int
	for i, c := range q.Clauses {
		if drivesFromIndex(c) && !slices.ContainsFunc(c.Any, func(c store.Condition) bool { return c.Chain != nil || c.Has != nil }) {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) < 2 {
		return -1, nil
	}
	best, bestSize := -1, probeCap+1
	for _, i := range candidates {
		size, err := s.clauseSize(ctx, q.Clauses[i], q.Types)
		if err != nil {
			return -1, err
		}
		if size < bestSize {
			best, bestSize = i, size
		}
	}
	return best, nil
}

// clauseSize counts (up to probeCap) the index entries of the clause's
// conditions; a condition it cannot count cheaply makes the clause large.
func (s *Store) clauseSize(ctx context.Context, c store.Clause, types []string) (int, error) {
	total := 0
	for _, cond := range c.Any {
		if store.IsFullText(cond.Param) || !isTextOp(cond.Op) || cond.Op == store.OpContains {
			return probeCap + 1, nil
		}
		frag, args, err := textMatch("text", cond)
		if err != nil {
			return 0, err
		}
		sub, args := entrySubquery("1", "idx_text", cond.Param, types, frag, args)
		stmt, done, err := s.queries.get(ctx, "SELECT count(*) FROM ("+sub+" LIMIT ?)")
		if err != nil {
			return 0, err
		}
		var n int
		err = stmt.QueryRowContext(ctx, append(args, probeCap+1)...).Scan(&n)
		done()
		if err != nil {
			return 0, fmt.Errorf("size of %s: %w", cond.Param, err)
		}
		if total += n; total > probeCap {
			return total, nil
		}
	}
	return total, nil
}

// probed reports whether a clause that does not drive the search is checked
// per candidate: a disjunction of exact text conditions.
func probed(c store.Clause) bool {
	for _, cond := range c.Any {
		if cond.Op != store.OpExact || cond.Not || cond.Chain != nil || cond.Has != nil || shared(cond.Param) ||
			store.IsFullText(cond.Param) || cond.Param == store.ParamID || cond.Param == store.ParamLastUpdated {
			return false
		}
	}
	return len(c.Any) > 0
}

// probeCondition is an exact text condition as a primary-key probe for the
// candidate r.
func probeCondition(c store.Condition) (string, []any) {
	return "EXISTS (SELECT 1 FROM idx_text WHERE param = ? AND text = ? AND type = r.type AND rid = r.rid)",
		[]any{c.Param, c.Text}
}
