package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

func testReindex(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	v1 := newWrite("Patient", "p", 1, at(0), "POST", token("identifier", "v1"))
	v2 := newWrite("Patient", "p", 2, at(1000), "PUT",
		token("identifier", "old"), str("name", "smith"), rangeEntry("birthdate", store.KindDate, 0, 100))
	commit(t, s, v1)
	commit(t, s, v2)
	commit(t, s, newWrite("Patient", "other", 1, at(2000), "POST", token("identifier", "old")))
	commit(t, s, newWrite("Observation", "o", 1, at(3000), "POST", reference("subject", "Patient/other")))
	before := history(t, s, store.HistoryQuery{})

	err := s.Reindex(ctx, "Patient", "p", 2, []store.IndexEntry{
		token("identifier", "new"), str("name", "jones"),
		rangeEntry("birthdate", store.KindDate, 500, 600), quantity("weight", kg, 70, 71),
	})
	if err != nil {
		t.Fatalf("reindex: %v", err)
	}
	err = s.Reindex(ctx, "Observation", "o", 1, []store.IndexEntry{reference("subject", "Patient/p")})
	if err != nil {
		t.Fatalf("reindex: %v", err)
	}

	t.Run("no new version", func(t *testing.T) {
		checkResource(t, mustRead(t, s, "Patient", "p"), v2)
		if after := history(t, s, store.HistoryQuery{}); !slices.Equal(after, before) {
			t.Errorf("history after reindex = %v, want %v", after, before)
		}
	})
	for _, tc := range []struct {
		name    string
		types   []string
		clauses []store.Clause
		want    []string
	}{
		{"old token", patients, []store.Clause{exact("identifier", "old")}, []string{"Patient/other"}},
		{"new token", patients, []store.Clause{exact("identifier", "new")}, []string{"Patient/p"}},
		{"old string", patients, []store.Clause{prefix("name", "smi")}, nil},
		{"new string", patients, []store.Clause{prefix("name", "jon")}, []string{"Patient/p"}},
		{"old range", patients, []store.Clause{clause(rangeCond("birthdate", store.OpEq, 0, 100))}, nil},
		{"new range", patients, []store.Clause{clause(rangeCond("birthdate", store.OpEq, 500, 600))}, []string{"Patient/p"}},
		{"new quantity with unit", patients, []store.Clause{clause(unitCond("weight", store.OpGe, kg, 60, 61))}, []string{"Patient/p"}},
		{"new param not missing", patients, []store.Clause{clause(cond("weight", store.OpMissing, "false"))}, []string{"Patient/p"}},
		{"lastUpdated unchanged", patients, []store.Clause{clause(rangeCond(store.ParamLastUpdated, store.OpEq, atMillis(1000), atMillis(1001)))},
			[]string{"Patient/p"}},
		{"chain follows the new reference", obs, []store.Clause{clause(chain("subject", patients, exact("identifier", "new")))},
			[]string{"Observation/o"}},
		{"chain drops the old reference", obs, []store.Clause{clause(chain("subject", patients, exact(store.ParamID, "other")))}, nil},
		{"has follows the new reference", patients, []store.Clause{clause(has(obs, "subject"))}, []string{"Patient/p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: tc.types, Clauses: tc.clauses, Count: 10}, tc.want)
		})
	}

	for _, tc := range []struct {
		name    string
		typ, id string
		version int64
		want    error
	}{
		{"stale version", "Patient", "p", 1, store.ErrConflict},
		{"future version", "Patient", "p", 3, store.ErrConflict},
		{"unknown id", "Patient", "nope", 1, store.ErrNotFound},
		{"unknown type", "Encounter", "p", 2, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Reindex(ctx, tc.typ, tc.id, tc.version, []store.IndexEntry{token("identifier", "refused")})
			wantErr(t, err, tc.want, "reindex "+tc.name)
			checkSearch(t, s, store.Query{Count: 10, Clauses: []store.Clause{exact("identifier", "refused")}}, nil)
		})
	}
	t.Run("refused reindex keeps the index", func(t *testing.T) {
		checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{exact("identifier", "new")}}, []string{"Patient/p"})
	})

	t.Run("empty index", func(t *testing.T) {
		if err := s.Reindex(ctx, "Patient", "other", 1, nil); err != nil {
			t.Fatalf("reindex: %v", err)
		}
		checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{clause(cond("identifier", store.OpMissing, "true"))}},
			[]string{"Patient/other"})
		checkSearch(t, s, store.Query{Types: patients, Count: 10}, []string{"Patient/other", "Patient/p"})
	})

	t.Run("deleted resource stays deleted", func(t *testing.T) {
		commit(t, s, deletion("Patient", "p", 3, at(5000)))
		// Whether the backend refuses or ignores it, the resource must stay
		// deleted, unversioned and out of every search.
		_ = s.Reindex(ctx, "Patient", "p", 3, []store.IndexEntry{token("identifier", "after-delete")})
		r := mustRead(t, s, "Patient", "p")
		if !r.Deleted || r.VersionID != 3 {
			t.Errorf("read after reindex = version %d deleted=%v, want version 3 deleted", r.VersionID, r.Deleted)
		}
		checkSearch(t, s, store.Query{Count: 10, Clauses: []store.Clause{exact("identifier", "after-delete")}}, nil)
		checkSearch(t, s, store.Query{Types: patients, Count: 10}, []string{"Patient/other"})
	})
}

// history returns every version of the store as "Type/id/version", newest first.
func history(t *testing.T, s store.Store, h store.HistoryQuery) []string {
	t.Helper()
	res, err := s.History(context.Background(), h)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return vrefs(res.Versions)
}
