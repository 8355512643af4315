package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func write(typ, id string, version int64, index ...store.IndexEntry) store.Write {
	return store.Write{
		Type: typ, ID: id, Version: version, LastUpdated: t0.Add(time.Duration(version) * time.Second),
		Method: "PUT", Body: fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"v":%d}`, typ, id, version),
		Index: index,
	}
}

func mustCommit(t testing.TB, s store.Store, writes ...store.Write) {
	t.Helper()
	if err := s.Commit(context.Background(), writes); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func searchRefs(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	var refs []string
	for _, r := range res.Resources {
		refs = append(refs, r.Type+"/"+r.ID)
	}
	return refs
}

// The database is the URI's path, "telehub" when it has none.
func TestDatabaseFromURI(t *testing.T) {
	ctx := context.Background()
	uri := mongo.ServerURIForTest()
	open := func(uri string) *mongo.Store {
		s, err := mongo.Open(ctx, uri)
		if err != nil {
			t.Fatalf("open %s: %v", uri, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	defaultDB := open(uri)
	t.Cleanup(func() { defaultDB.DropDatabase(ctx) })
	mustCommit(t, defaultDB, write("Patient", "p", 1))

	for _, tc := range []struct {
		uri       string
		wantFound bool
	}{
		{uri, true},
		{uri + mongo.DefaultDatabase, true},
		{uri + "elsewhere", false},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			_, err := open(tc.uri).Read(ctx, "Patient", "p")
			if found := err == nil; found != tc.wantFound {
				t.Errorf("read: %v, want found=%v", err, tc.wantFound)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, uri := range []string{
		"http://127.0.0.1/",
		"mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", // nothing listens on port 1
	} {
		t.Run(uri, func(t *testing.T) {
			if s, err := mongo.Open(ctx, uri); err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
		})
	}
}

// FerretDB is not a replica set: multi-write commits are refused, whole.
func TestNoTransactionsOnStandalone(t *testing.T) {
	s := mongo.OpenForTest(t)
	if s.SupportsTransactions() {
		t.Fatal("SupportsTransactions on a standalone server")
	}
	err := s.Commit(context.Background(), []store.Write{write("Patient", "a", 1), write("Patient", "b", 1)})
	if !errors.Is(err, store.ErrTransactionsUnsupported) {
		t.Fatalf("multi-write commit: %v, want ErrTransactionsUnsupported", err)
	}
	if got := searchRefs(t, s, store.Query{Count: 10}); len(got) != 0 {
		t.Errorf("refused commit stored %v", got)
	}
}

// Concurrent creates of one id: exactly one wins, the others conflict.
func TestConcurrentCreate(t *testing.T) {
	const writers = 8
	s := mongo.OpenForTest(t)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			w := write("Patient", "same", 1)
			w.Body = fmt.Appendf(nil, `{"writer":%d}`, i)
			errs[i] = s.Commit(context.Background(), []store.Write{w})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the resource", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the resource")
	}
	r, err := s.Read(context.Background(), "Patient", "same")
	if err != nil || string(r.Body) != fmt.Sprintf(`{"writer":%d}`, winner) {
		t.Fatalf("read = %+v, %v; want the winner's (%d) body", r, err, winner)
	}
}

// A quantity condition with a unit matches entries of that unit only.
func TestQuantityUnits(t *testing.T) {
	s := mongo.OpenForTest(t)
	quantity := func(unit string, low, high float64) store.IndexEntry {
		return store.IndexEntry{Param: "value-quantity", Kind: store.KindQuantity, Text: unit, Low: low, High: high}
	}
	mustCommit(t, s, write("Observation", "mg", 1, quantity("http://unitsofmeasure.org|mg", 5, 6)))
	mustCommit(t, s, write("Observation", "g", 1, quantity("http://unitsofmeasure.org|g", 5, 6)))
	mustCommit(t, s, write("Observation", "both", 1,
		quantity("http://unitsofmeasure.org|g", 1, 2), quantity("http://unitsofmeasure.org|mg", 9, 10)))
	for _, tc := range []struct {
		name string
		unit string
		op   store.Op
		want []string
	}{
		{"any unit", "", store.OpEq, []string{"Observation/g", "Observation/mg"}},
		{"mg", "http://unitsofmeasure.org|mg", store.OpEq, []string{"Observation/mg"}},
		{"g", "http://unitsofmeasure.org|g", store.OpEq, []string{"Observation/g"}},
		{"unknown unit", "http://unitsofmeasure.org|kg", store.OpEq, nil},
		// "both" has a g value below 5 and an mg value above 6, but no mg
		// value below: unit and value must come from the same entry.
		{"unit and value of one entry", "http://unitsofmeasure.org|mg", store.OpLt, nil},
		{"gt with unit", "http://unitsofmeasure.org|mg", store.OpGt, []string{"Observation/both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.Query{Types: []string{"Observation"}, Count: 10, Sort: []store.SortKey{{Param: store.ParamID}},
				Clauses: []store.Clause{{Any: []store.Condition{{Param: "value-quantity", Op: tc.op, Text: tc.unit, Low: 5, High: 6}}}}}
			if got := searchRefs(t, s, q); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Param codes are used as field names: '.', '$' and '%' must not break sorting.
func TestSortOnAwkwardParamNames(t *testing.T) {
	s := mongo.OpenForTest(t)
	for i, param := range []string{"a.b", "$x", "50%", "a%2Eb"} {
		t.Run(param, func(t *testing.T) {
			typ := fmt.Sprint("T", i)
			mustCommit(t, s, write(typ, "1", 1, store.IndexEntry{Param: param, Kind: store.KindString, Text: "b"}))
			mustCommit(t, s, write(typ, "2", 1, store.IndexEntry{Param: param, Kind: store.KindString, Text: "a"}))
			mustCommit(t, s, write(typ, "3", 1, store.IndexEntry{Param: param, Kind: store.KindString, Text: "c"}))
			q := store.Query{Types: []string{typ}, Count: 10, Sort: []store.SortKey{{Param: param, Descending: true}}}
			if got, want := searchRefs(t, s, q), []string{typ + "/3", typ + "/1", typ + "/2"}; !slices.Equal(got, want) {
				t.Errorf("sorted = %v, want %v", got, want)
			}
			q = store.Query{Types: []string{typ}, Count: 10, Clauses: []store.Clause{{Any: []store.Condition{{Param: param, Op: store.OpPrefix, Text: "a"}}}}}
			if got, want := searchRefs(t, s, q), []string{typ + "/2"}; !slices.Equal(got, want) {
				t.Errorf("prefix search = %v, want %v", got, want)
			}
		})
	}
}

// Regular-expression characters in values are literal.
func TestTextOperatorsAreLiteral(t *testing.T) {
	s := mongo.OpenForTest(t)
	mustCommit(t, s, write("Patient", "p", 1, store.IndexEntry{Param: "name", Kind: store.KindString, Text: "a.b*(c)[d]\nend"}))
	for _, tc := range []struct {
		op   store.Op
		text string
		want bool
	}{
		{store.OpPrefix, "a.b*(", true},
		{store.OpPrefix, "a?b", false},
		{store.OpPrefix, "a.", true},
		{store.OpPrefix, "ax", false},
		{store.OpContains, "(c)[d]", true},
		{store.OpContains, "\nend", true},
		{store.OpContains, "c.d", false},
		{store.OpExact, "a.b*(c)[d]\nend", true},
		{store.OpExact, "a.b*(c)[d]", false},
	} {
		t.Run(fmt.Sprintf("%s %q", tc.op, tc.text), func(t *testing.T) {
			q := store.Query{Count: 10, Clauses: []store.Clause{{Any: []store.Condition{{Param: "name", Op: tc.op, Text: tc.text}}}}}
			if got := len(searchRefs(t, s, q)) == 1; got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}
