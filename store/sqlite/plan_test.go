package sqlite

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// TestSearchPlans checks that selective searches reach their matches through
// an index instead of scanning a table: SQLite plans without statistics, and a
// plan that scans every resource of a type is correct but a hundred times slower.
func TestSearchPlans(t *testing.T) {
	s := openTemp(t)

	patients := []string{"Patient"}
	token := store.Condition{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1|1"}
	prefix := store.Condition{Param: "family", Op: store.OpPrefix, Text: "dup"}
	date := store.Condition{Param: "birthdate", Op: store.OpGe, Low: 1, High: 2}
	id := store.Condition{Param: store.ParamID, Op: store.OpExact, Text: "p1"}
	updated := store.Condition{Param: store.ParamLastUpdated, Op: store.OpGe, Low: 1, High: 2}
	observations := []string{"Observation"}
	name := store.Condition{Param: "name", Op: store.OpPrefix, Text: "al"}
	code := store.Condition{Param: "code", Op: store.OpExact, Text: "c1"}
	chain := func(param string, types []string, c store.Condition) store.Condition {
		return store.Condition{Param: param, Chain: &store.Query{Types: types, Clauses: []store.Clause{{Any: []store.Condition{c}}}}}
	}
	has := func(types []string, param string, c store.Condition) store.Condition {
		return store.Condition{Has: &store.Reverse{Param: param, Query: store.Query{Types: types, Clauses: []store.Clause{{Any: []store.Condition{c}}}}}}
	}
	subjectName := chain("subject", patients, name)
	subjectOrganization := chain("subject", patients, chain("organization", []string{"Organization"}, name))
	observed := has(observations, "subject", code)
	encountered := has([]string{"Encounter"}, "subject", has(observations, "encounter", code))
	byLastUpdated := []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}}
	byID := []store.SortKey{{Param: store.ParamID}}
	const (
		viaRowid = "SEARCH r USING INTEGER PRIMARY KEY"
		viaID    = "SEARCH r USING INDEX resources_by_id"
		viaTime  = "SEARCH r USING INDEX resources_by_time"
		// A cursor page seeks in the index instead of reading from its start.
		afterID   = "SEARCH r USING INDEX resources_by_id (type=? AND id>?)"
		afterTime = "SEARCH r USING INDEX resources_by_time (type=? AND last_updated<?)"
	)
	for _, tc := range []struct {
		name    string
		q       store.Query
		access  string // how the plan must reach resources
		ordered bool   // whether the index must give the order, with no sort
	}{
		{"token", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{token}}}}, viaRowid, false},
		{"token without type", store.Query{Clauses: []store.Clause{{Any: []store.Condition{token}}}}, viaRowid, false},
		{"token or prefix", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{token, prefix}}}}, viaRowid, false},
		{"token and date", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{token}}, {Any: []store.Condition{date}}}}, viaRowid, false},
		{"date", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{date}}}}, viaRowid, false},
		{"_id", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{id}}}}, viaID, false},
		{"_id and date", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{id}}, {Any: []store.Condition{date}}}}, viaID, false},
		{"_lastUpdated", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{updated}}}}, viaTime, false},
		{"type", store.Query{Types: patients}, viaID, true},
		{"type sorted by _id", store.Query{Types: patients, Sort: []store.SortKey{{Param: store.ParamID}}}, viaID, true},
		{"type sorted by _lastUpdated", store.Query{Types: patients, Sort: byLastUpdated}, viaTime, false},
		{"chain", store.Query{Types: observations, Clauses: []store.Clause{{Any: []store.Condition{subjectName}}}}, viaRowid, false},
		{"chain of chain", store.Query{Types: observations, Clauses: []store.Clause{{Any: []store.Condition{subjectOrganization}}}}, viaRowid, false},
		{"chain and token", store.Query{Types: observations, Clauses: []store.Clause{{Any: []store.Condition{subjectName}}, {Any: []store.Condition{code}}}}, viaRowid, false},
		{"_has", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{observed}}}}, viaID, false},
		{"nested _has", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{encountered}}}}, viaID, false},
		{"_has and prefix", store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{observed}}, {Any: []store.Condition{name}}}}, viaRowid, false},
		{"cursor", store.Query{Types: patients, Cursor: cursor(t, nil, "Patient", "p1")}, afterID, true},
		{"cursor sorted by _id", store.Query{Types: patients, Sort: byID, Cursor: cursor(t, byID, "p1", "Patient", "p1")}, afterID, true},
		{"cursor sorted by _lastUpdated", store.Query{Types: patients, Sort: byLastUpdated, Cursor: cursor(t, byLastUpdated, 1e12, "Patient", "p1")}, afterTime, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Count = 10
			where, err := buildWhere(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			page, args, err := pageSQL(tc.q, sortKeys(tc.q.Sort, false), matchesOf(tc.q, -1, where, nil))
			if err != nil {
				t.Fatal(err)
			}
			if plan := explain(t, s, countSQL(where), where.args); strings.Contains(plan, "SCAN ") {
				t.Errorf("count plan:\n%s\nwant no table scan, for %s", plan, countSQL(where))
			}
			// The page is cut (in p) before it is joined to its bodies: p is
			// scanned, and its few rows sorted again, by design; so are the
			// rowids of the matches (ids) when the lists give them.
			plan := explain(t, s, page, args)
			matches, _, _ := strings.Cut(plan, "SCAN p\n")
			if tableScan.MatchString(plan) || !strings.Contains(matches, tc.access) {
				t.Errorf("page plan:\n%s\nwant no table scan and %q, for %s", plan, tc.access, page)
			}
			if tc.ordered && strings.Contains(matches, "TEMP B-TREE") {
				t.Errorf("page plan:\n%s\nwant no sort of the matches, for %s", plan, page)
			}
		})
	}
}

// tableScan matches a plan's scan of a table (by its name or alias), not
// of a subquery's rows.
var tableScan = regexp.MustCompile(`(?m)^SCAN (r|v|x|resources|versions|idx_\w+)( |$)`)

// cursor returns the cursor after a resource with the given sort values,
// type and id.
func cursor(t *testing.T, sort []store.SortKey, fields ...any) string {
	t.Helper()
	n := len(fields) - 2
	c, err := encodeCursor(sortKeys(sort, false), fields[:n], fields[n].(string), fields[n+1].(string), -1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func explain(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	rows, err := s.reader.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// TestHistoryPlans checks that history pages come in index order, with no
// sort of every version of a type or of the system.
func TestHistoryPlans(t *testing.T) {
	s := openTemp(t)
	since := time.UnixMilli(1000)
	for _, tc := range []struct {
		name string
		h    store.HistoryQuery
	}{
		{"type", store.HistoryQuery{Type: "Patient"}},
		{"type since", store.HistoryQuery{Type: "Patient", Since: since}},
		{"system", store.HistoryQuery{}},
		{"system since", store.HistoryQuery{Since: since}},
		{"system at", store.HistoryQuery{At: since}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, page, args, err := historySQL(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, s, page, append(args, 10, 0))
			if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN versions\n") {
				t.Errorf("plan sorts or scans the table:\n%s\nfor %s", plan, page)
			}
		})
	}
}

// TestWalkPlans checks that the walks read their index in its order: the
// matches are never all sorted (only the ties of a sort value, or the
// page's own rows once cut).
func TestWalkPlans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	code := []store.Clause{{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "c1"}}}}
	observations := []string{"Observation"}
	for _, tc := range []struct {
		name   string
		sort   []store.SortKey
		access string
	}{
		{"date ascending", []store.SortKey{{Param: "date", Kind: store.KindDate}}, "SEARCH x USING PRIMARY KEY (param=? AND type=?)"},
		{"date descending", []store.SortKey{{Param: "date", Descending: true, Kind: store.KindDate}}, "SEARCH x USING COVERING INDEX idx_range_by_high (param=? AND type=?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Types: observations, Clauses: code, Sort: tc.sort, Count: 10}
			page, args, walk, err := choosePage(q, sortKeys(q.Sort, false), matchSQL{})
			if err != nil || !walk {
				t.Fatalf("walk %v, %v", walk, err)
			}
			plan := explain(t, s, page, args)
			matches, _, _ := strings.Cut(plan, "SCAN p\n")
			if !strings.Contains(matches, tc.access) || strings.Contains(matches, "USE TEMP B-TREE FOR ORDER BY") {
				t.Errorf("plan:\n%s\nwant %q and no sort of the matches, for %s", plan, tc.access, page)
			}
		})
	}
	t.Run("ids", func(t *testing.T) {
		q := store.Query{Types: observations, Clauses: code, Count: 10, Cursor: cursor(t, nil, "Observation", "o1")}
		walk, err := s.planIDWalk(ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, s, walk.sql, walk.args)
		matches, _, _ := strings.Cut(plan, "SCAN p\n")
		if !strings.Contains(matches, "SEARCH r USING INDEX resources_by_id (type=? AND id>?)") || strings.Contains(matches, "TEMP B-TREE") {
			t.Errorf("plan:\n%s\nwant the ids from the cursor and no sort, for %s", plan, walk.sql)
		}
	})
}

// TestExplainPlans checks that Explain names the plans a search may take.
func TestExplainPlans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w := store.Write{Type: "Observation", ID: "o1", Version: 1, LastUpdated: time.UnixMilli(1), Method: "POST", Body: []byte(`{}`),
		Index: []store.IndexEntry{{Param: "date", Kind: store.KindDate, Low: 1, High: 2}}}
	if err := s.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
	observations := []string{"Observation"}
	code := store.Clause{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "c1"}}}
	chain := store.Clause{Any: []store.Condition{{Param: "subject", Chain: &store.Query{Types: []string{"Patient"},
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "name", Op: store.OpPrefix, Text: "dup"}}}}}}}}
	after := store.Clause{Any: []store.Condition{{Param: "date", Op: store.OpGe, Low: 0, High: 1}}}
	before := store.Clause{Any: []store.Condition{{Param: "date", Op: store.OpLt, Low: 5, High: 6}}}
	for _, tc := range []struct {
		name string
		q    store.Query
		want []string
	}{
		{"window", store.Query{Types: observations, Clauses: []store.Clause{after, before}, Count: 10, Total: true},
			[]string{"clause 1 reads a window of date (single-valued, span 1)", "or page walking the ids", "total: SELECT count(*) FROM idx_range"}},
		{"chain", store.Query{Types: observations, Clauses: []store.Clause{code, chain}, Count: 10, Total: true},
			[]string{"page and total (the matches' rowids computed once)", "WITH matched AS MATERIALIZED"}},
		{"sorted", store.Query{Types: observations, Clauses: []store.Clause{code}, Count: 10, Sort: []store.SortKey{{Param: "date", Descending: true, Kind: store.KindDate}}},
			[]string{"page (walking the sort index", "idx_range_by_high"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Explain(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("explain:\n%s\nwant %q", got, want)
				}
			}
		})
	}
}
