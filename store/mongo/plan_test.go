package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
)

func reference(param, target string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindReference, Text: target}
}

func birthdate(low float64) store.IndexEntry {
	return store.IndexEntry{Param: "birthdate", Kind: store.KindDate, Low: low, High: low + 1}
}

func oneCondition(c store.Condition) []store.Clause {
	return []store.Clause{{Any: []store.Condition{c}}}
}

// Sub-queries and range conditions whose keys would make a huge filter are
// refused with ErrTooManyMatches, not sent; below the limits they run.
func TestSearchLimits(t *testing.T) {
	s := mongo.OpenForTest(t)
	for i := range 3 {
		id := fmt.Sprint("p", i)
		mustCommit(t, s, write("Patient", id, 1,
			store.IndexEntry{Param: "name", Kind: store.KindString, Text: fmt.Sprint("smith", i)}, birthdate(float64(i*10))))
		mustCommit(t, s, write("Observation", fmt.Sprint("o", i), 1, reference("subject", "Patient/"+id)))
	}
	patients, observations := []string{"Patient"}, []string{"Observation"}
	chainTo := func(namePrefix string) []store.Clause {
		return oneCondition(store.Condition{Param: "subject", Chain: &store.Query{Types: patients,
			Clauses: oneCondition(store.Condition{Param: "name", Op: store.OpPrefix, Text: namePrefix})}})
	}
	hasObservation := oneCondition(store.Condition{Has: &store.Reverse{Param: "subject", Query: store.Query{Types: observations}}})
	born := func(before float64) store.Condition {
		return store.Condition{Param: "birthdate", Op: store.OpLt, Low: before, High: before + 1}
	}
	for _, tc := range []struct {
		name               string
		subQuery, inValues int
		q                  store.Query
		wantErr            bool
		want               int
	}{
		{"chain within limit", 2, 10, store.Query{Types: observations, Clauses: chainTo("smith1")}, false, 1},
		{"chain at limit", 3, 10, store.Query{Types: observations, Clauses: chainTo("smith")}, false, 3},
		{"chain over limit", 2, 10, store.Query{Types: observations, Clauses: chainTo("smith")}, true, 0},
		{"has at limit", 3, 10, store.Query{Types: patients, Clauses: hasObservation}, false, 3},
		{"has over limit", 2, 10, store.Query{Types: patients, Clauses: hasObservation}, true, 0},
		{"range at limit", 10, 3, store.Query{Types: patients, Clauses: oneCondition(born(100))}, false, 3},
		{"range over limit", 10, 2, store.Query{Types: patients, Clauses: oneCondition(born(100))}, true, 0},
		{"budget shared by conditions", 10, 3, store.Query{Types: patients,
			Clauses: []store.Clause{{Any: []store.Condition{born(15)}}, {Any: []store.Condition{born(25)}}}}, true, 0},
		{"budget shared by a chain and its range", 10, 5, store.Query{Types: observations,
			Clauses: oneCondition(store.Condition{Param: "subject", Chain: &store.Query{Types: patients,
				Clauses: oneCondition(born(100))}})}, true, 0},
		{"chain to a range within budget", 10, 6, store.Query{Types: observations,
			Clauses: oneCondition(store.Condition{Param: "subject", Chain: &store.Query{Types: patients,
				Clauses: oneCondition(born(100))}})}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetLimitsForTest(tc.subQuery, tc.inValues)
			tc.q.Total = true
			res, err := s.Search(context.Background(), tc.q)
			switch {
			case tc.wantErr && !errors.Is(err, mongo.ErrTooManyMatches):
				t.Fatalf("search: %v, want ErrTooManyMatches", err)
			case !tc.wantErr && err != nil:
				t.Fatalf("search: %v", err)
			case !tc.wantErr && res.Total != tc.want:
				t.Errorf("total = %d, want %d", res.Total, tc.want)
			}
		})
	}
}

// Reindex and the next write remove the range entries that can no longer
// match, so that the ranges collection does not grow with reindexing.
func TestRangeEntriesCleanedUp(t *testing.T) {
	ctx := context.Background()
	s := mongo.OpenForTest(t)
	mustCommit(t, s, write("Patient", "p", 1, birthdate(0), birthdate(10)))
	steps := []struct {
		name string
		do   func() error
		want int64
	}{
		{"after create", func() error { return nil }, 2},
		{"after reindex", func() error { return s.Reindex(ctx, "Patient", "p", 1, []store.IndexEntry{birthdate(20)}) }, 1},
		{"after reindex to nothing", func() error { return s.Reindex(ctx, "Patient", "p", 1, nil) }, 0},
		{"after reindex back", func() error {
			return s.Reindex(ctx, "Patient", "p", 1, []store.IndexEntry{birthdate(30), birthdate(40)})
		}, 2},
		{"after update", func() error { return s.Commit(ctx, []store.Write{write("Patient", "p", 2, birthdate(50))}) }, 1},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		n, err := s.RangeEntriesForTest(ctx, "Patient", "p")
		if err != nil {
			t.Fatal(err)
		}
		if n != step.want {
			t.Errorf("%s: %d range entries, want %d", step.name, n, step.want)
		}
	}
}

// A cursor continues only the search that made it.
func TestCursorBelongsToItsSearch(t *testing.T) {
	ctx := context.Background()
	s := mongo.OpenForTest(t)
	for i := range 3 {
		mustCommit(t, s, write("Patient", fmt.Sprint("p", i), 1, birthdate(float64(i))))
	}
	byID := []store.SortKey{{Param: store.ParamID}}
	first, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %+v, %v; want a cursor", first, err)
	}
	for _, tc := range []struct {
		name    string
		q       store.Query
		wantErr bool
	}{
		{"same search", store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1, Cursor: first.Next}, false},
		{"other types", store.Query{Types: []string{"Observation"}, Sort: byID, Count: 1, Cursor: first.Next}, true},
		{"other sort", store.Query{Types: []string{"Patient"}, Count: 1, Cursor: first.Next}, true},
		{"other clauses", store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1, Cursor: first.Next,
			Clauses: oneCondition(store.Condition{Param: "birthdate", Op: store.OpGe, Low: 0, High: 1})}, true},
		{"with an offset", store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1, Offset: 1, Cursor: first.Next}, true},
		{"not base64", store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1, Cursor: "%%%"}, true},
		{"not a cursor", store.Query{Types: []string{"Patient"}, Sort: byID, Count: 1, Cursor: "AAAA"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(ctx, tc.q)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("search: %+v, %v; want error %v", res, err, tc.wantErr)
			}
			if err == nil && (len(res.Resources) != 1 || res.Resources[0].ID != "p1") {
				t.Errorf("page = %+v, want Patient/p1", res.Resources)
			}
		})
	}
}
