package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// TestDrivingClause checks that the most selective clause drives a search
// whatever its place in the query, that the other exact clauses become
// primary-key probes, and that the matches are the same either way.
func TestDrivingClause(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var writes []store.Write
	for i := range 3 * probeCap / 2 {
		writes = append(writes, store.Write{Type: "Observation", ID: fmt.Sprint("o", i), Version: 1, LastUpdated: time.Now(),
			Method: "PUT", Body: []byte(`{"resourceType":"Observation"}`), Index: []store.IndexEntry{
				{Param: "code", Kind: store.KindToken, Text: "common"},
				{Param: "subject", Kind: store.KindReference, Text: fmt.Sprint("Patient/", i%100)},
				{Param: "date", Kind: store.KindDate, Low: float64(i), High: float64(i + 1)},
			}})
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	code := store.Clause{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "common"}}}
	subject := store.Clause{Any: []store.Condition{{Param: "subject", Op: store.OpExact, Text: "Patient/7"}}}
	date := store.Clause{Any: []store.Condition{{Param: "date", Op: store.OpGe, Low: 0, High: 1}}}
	for _, tc := range []struct {
		name    string
		clauses []store.Clause
		driver  int
	}{
		{"selective last", []store.Clause{code, subject}, 1},
		{"selective first", []store.Clause{subject, code}, 0},
		{"with a range", []store.Clause{date, code, subject}, 2},
		{"one candidate", []store.Clause{code, date}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Types: []string{"Observation"}, Clauses: tc.clauses, Count: 100, Total: true}
			driver, err := s.drivingOrder(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if driver != tc.driver {
				t.Errorf("driver = %d, want %d", driver, tc.driver)
			}
			where, err := buildWhereDriven(q, driver, nil)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, s, countSQL(where), where.args)
			if driver >= 0 && !strings.Contains(plan, "rid=?") {
				t.Errorf("the other exact clauses are not probed by rid:\n%s", plan)
			}
			res, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := buildWhere(q)
			if err != nil {
				t.Fatal(err)
			}
			var want int
			if err := s.reader.QueryRowContext(ctx, countSQL(plain), plain.args...).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if res.Total != want || len(res.Resources) != min(want, q.Count) {
				t.Errorf("%d matches (%d on the page), want %d", res.Total, len(res.Resources), want)
			}
		})
	}
}
