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
	where, err := buildWhereDriven(q, driver)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SQLite; %d clause(s)", len(q.Clauses))
	if driver >= 0 && driver < len(q.Clauses) {
		fmt.Fprintf(&b, "; clause %d drives (the most selective)", driver+1)
	}
	b.WriteString("\n")
	page, pageArgs, err := pageSQL(q, sortKeys(q.Sort), where)
	if err != nil {
		return "", fmt.Errorf("store: explain: %w", err)
	}
	steps := []struct {
		name, sql string
		args      []any
	}{{"page", page, pageArgs}}
	if q.Total {
		countQuery, countArgs := countSQL(where), where.args
		if c, ok := entryCount(q); ok {
			countQuery, countArgs = c.sql(), c.args
		}
		steps = append(steps, struct {
			name, sql string
			args      []any
		}{"total", countQuery, countArgs})
	}
	for _, st := range steps {
		fmt.Fprintf(&b, "\n%s: %s\n", st.name, st.sql)
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
			fmt.Fprintf(&b, "  %s\n", detail)
		}
		if err := rows.Close(); err != nil {
			return "", fmt.Errorf("store: explain %s: %w", st.name, err)
		}
	}
	return b.String(), nil
}
