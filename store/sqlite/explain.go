package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/telehub/telehub/store"
)

// Explain shows how Search would run q: the clause chosen to drive it (the
// most selective, by the probes Search makes too), the SQL of its page and
// total, and SQLite's EXPLAIN QUERY PLAN of each.
func (s *Store) Explain(ctx context.Context, q store.Query) (string, error) {
	driver, err := s.drivingOrder(ctx, q)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	windows, err := s.windows(ctx, q)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	where, err := buildWhereDriven(q, driver, windows)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SQLite; %d clause(s)", len(q.Clauses))
	if driver >= 0 && driver < len(q.Clauses) {
		fmt.Fprintf(&b, "; clause %d drives (the most selective)", driver+1)
	}
	for i := range q.Clauses {
		if w := windows[firstCondition(q.Clauses[i])]; w != nil {
			fmt.Fprintf(&b, "; clause %d reads a window of %s", i+1, w.describe())
		}
	}
	b.WriteString("\n")
	keys, err := s.sortKeysOf(ctx, q)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	matches := matchesOf(q, driver, where, windows)
	if q.Total && q.Count > 0 && countsWithPage(q, keys, matches) {
		matches.counted = true
		page, args, err := pageSQL(q, keys, matches)
		if err != nil {
			return "", fmt.Errorf("store: explain: %w", err)
		}
		return s.explainSteps(ctx, &b, []explainStep{{"page and total (the matches' rowids computed once)", page, args}})
	}
	page, pageArgs, walk, err := choosePage(q, keys, matches)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	name := "page"
	if walk {
		name = "page (walking the sort index; the resources without a value follow by the general plan)"
	}
	steps := []explainStep{{name, page, pageArgs}}
	if !walk && q.Total && walksIDs(q, keys) {
		idWalk, err := s.planIDWalk(ctx, q, windows)
		if err != nil {
			return "", fmt.Errorf("store: explain: %w", err)
		}
		steps = append(steps, explainStep{fmt.Sprintf("or page walking the ids (taken when the total shows that a page "+
			"needs fewer of the %d resources of the type than there are matches)", idWalk.typeSize), idWalk.sql, idWalk.args})
	}
	if q.Total {
		countQuery, countArgs := totalSQL(q, driver, where, windows)
		steps = append(steps, explainStep{"total", countQuery, countArgs})
	}
	return s.explainSteps(ctx, &b, steps)
}

// explainStep is one query of a search, named for Explain.
type explainStep struct {
	name, sql string
	args      []any
}

// explainSteps appends to b each query with SQLite's plan of it.
func (s *Store) explainSteps(ctx context.Context, b *strings.Builder, steps []explainStep) (string, error) {
	for _, st := range steps {
		fmt.Fprintf(b, "\n%s: %s\n", st.name, st.sql)
		rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+st.sql, st.args...)
		if err != nil {
			return "", fmt.Errorf("store: explain %s: %w", st.name, err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return "", fmt.Errorf("store: explain %s: %w", st.name, err)
			}
			fmt.Fprintf(b, "  %s\n", detail)
		}
		if err := rows.Close(); err != nil {
			return "", fmt.Errorf("store: explain %s: %w", st.name, err)
		}
	}
	return b.String(), nil
}

// firstCondition returns the address of c's first condition, or nil.
func firstCondition(c store.Clause) *store.Condition {
	if len(c.Any) == 0 {
		return nil
	}
	return &c.Any[0]
}
