package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

// TestSortWalk checks that pages of searches sorted on a date or number
// parameter, which walk the sort index (the key's Kind says it may), are
// the pages of the same search sorted without that knowledge (which sorts
// every match): on data with several values per resource, equal values,
// resources without a value, deleted ones, and every page size.
func TestSortWalk(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	rng := rand.New(rand.NewPCG(7, 11))
	var writes []store.Write
	for i := range 300 {
		w := benchWrite("Observation", fmt.Sprintf("o%03d", rng.IntN(1000)), 1)
		w.ID = fmt.Sprintf("o%03d", i)
		w.Index = []store.IndexEntry{{Param: "code", Kind: store.KindToken, Text: fmt.Sprint("c", i%3)}}
		for range rng.IntN(3) { // none, one or two dates, often equal
			low := float64(1000 * rng.IntN(20))
			w.Index = append(w.Index, store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: low + float64(1000*rng.IntN(3)) + 1})
		}
		if i%5 != 0 {
			v := float64(rng.IntN(10))
			w.Index = append(w.Index, store.IndexEntry{Param: "value", Kind: store.KindNumber, Low: v - 0.5, High: v + 0.5})
		}
		writes = append(writes, w)
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	// Some deleted, and one updated (its entries replaced).
	for _, id := range []string{"o007", "o100", "o299"} {
		if err := s.Commit(ctx, []store.Write{{Type: "Observation", ID: id, Version: 2, LastUpdated: writes[0].LastUpdated, Deleted: true, Method: "DELETE"}}); err != nil {
			t.Fatal(err)
		}
	}
	up := benchWrite("Observation", "o050", 2)
	up.Index = []store.IndexEntry{{Param: "code", Kind: store.KindToken, Text: "c0"}, {Param: "date", Kind: store.KindDate, Low: 5000, High: 5001}}
	if err := s.Commit(ctx, []store.Write{up}); err != nil {
		t.Fatal(err)
	}

	code := []store.Clause{{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "c1"}, {Param: "code", Op: store.OpExact, Text: "c0"}}}}
	dated := []store.Clause{{Any: []store.Condition{{Param: "date", Op: store.OpGe, Low: 4000, High: 5000}}}}
	for _, sort := range [][]store.SortKey{
		{{Param: "date", Kind: store.KindDate}},
		{{Param: "date", Descending: true, Kind: store.KindDate}},
		{{Param: "value", Descending: true, Kind: store.KindNumber}, {Param: "date", Descending: true, Kind: store.KindDate}},
		{{Param: "date", Kind: store.KindDate}, {Param: store.ParamID, Descending: true}},
	} {
		for _, clauses := range [][]store.Clause{nil, code, dated} {
			for _, count := range []int{1, 7, 50, 400} {
				name := fmt.Sprintf("%v/%d clauses/count %d", sort, len(clauses), count)
				q := store.Query{Types: []string{"Observation"}, Clauses: clauses, Sort: sort, Count: count, Total: true}
				walked := readAll(t, s, q)
				general := slices.Clone(sort)
				for i := range general {
					general[i].Kind = ""
				}
				q.Sort = general
				if want := readAll(t, s, q); !slices.Equal(walked, want) {
					t.Errorf("%s:\n got %v\nwant %v", name, walked, want)
				}
			}
		}
	}
}

// readAll follows the cursors of q to its last page and returns the ids
// read, checking that each page reports the total of the first.
func readAll(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	var ids []string
	total := -1
	for page := 0; ; page++ {
		res, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if page == 0 {
			total = res.Total
		} else if res.Total != total {
			t.Fatalf("page %d total %d, first page %d", page, res.Total, total)
		}
		for _, r := range res.Resources {
			ids = append(ids, r.ID)
		}
		if !res.More {
			if len(ids) != total {
				t.Fatalf("read %d, total %d", len(ids), total)
			}
			return ids
		}
		if res.Next == "" || len(res.Resources) != q.Count {
			t.Fatalf("page %d: %d resources, more, next %q", page, len(res.Resources), res.Next)
		}
		q.Cursor = res.Next
	}
}

// TestIDWalk checks that pages in the default order are the same whether
// they walk the type's ids (which a counted total allows when the matches
// are many) or sort the matches (without a total): on clauses of every
// kind, alone and together, at every page size.
func TestIDWalk(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	rng := rand.New(rand.NewPCG(5, 9))
	var writes []store.Write
	for i := range 400 {
		w := benchWrite("Patient", fmt.Sprintf("p%03d", rng.IntN(1000)), 1)
		w.ID = fmt.Sprintf("p%03d", (i*7919)%400) // ids in another order than the rowids
		low := float64(rng.IntN(50))
		w.Index = []store.IndexEntry{
			{Param: "name", Kind: store.KindString, Text: []string{"dupont", "dupuis", "martin", "durand"}[rng.IntN(4)]},
			{Param: "gender", Kind: store.KindToken, Text: []string{"male", "female"}[rng.IntN(2)]},
			{Param: "birthdate", Kind: store.KindDate, Low: low, High: low + 1},
		}
		if i%3 == 0 {
			w.Index = append(w.Index, store.IndexEntry{Param: "name", Kind: store.KindString, Text: "dupré"})
		}
		writes = append(writes, w)
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, []store.Write{{Type: "Patient", ID: "p010", Version: 2, LastUpdated: writes[0].LastUpdated, Deleted: true, Method: "DELETE"}}); err != nil {
		t.Fatal(err)
	}
	clause := func(conds ...store.Condition) store.Clause { return store.Clause{Any: conds} }
	prefix := clause(store.Condition{Param: "name", Op: store.OpPrefix, Text: "dup"})
	male := clause(store.Condition{Param: "gender", Op: store.OpExact, Text: "male"})
	either := clause(store.Condition{Param: "name", Op: store.OpExact, Text: "martin"}, store.Condition{Param: "name", Op: store.OpPrefix, Text: "dura"})
	after := clause(store.Condition{Param: "birthdate", Op: store.OpGe, Low: 10, High: 11})
	before := clause(store.Condition{Param: "birthdate", Op: store.OpLt, Low: 30, High: 31})
	notMale := clause(store.Condition{Param: "gender", Op: store.OpExact, Text: "male", Not: true})
	for _, clauses := range [][]store.Clause{
		{prefix}, {male}, {either}, {prefix, male}, {after, before}, {prefix, after, before}, {notMale, prefix}, {male, either},
	} {
		for _, count := range []int{1, 3, 20, 500} {
			q := store.Query{Types: []string{"Patient"}, Clauses: clauses, Count: count, Total: true}
			walked := readAll(t, s, q)
			q.Total = false
			var sorted []string
			for {
				res, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res.Resources {
					sorted = append(sorted, r.ID)
				}
				if !res.More {
					break
				}
				q.Cursor = res.Next
			}
			if !slices.Equal(walked, sorted) {
				t.Errorf("%+v, count %d:\n got %v\nwant %v", clauses, count, walked, sorted)
			}
		}
	}
}

// TestHasAmongClauses checks a _has clause beside clauses that drive the
// search or a walk: it is then a list tested per candidate, which a
// two-column membership test must say as such.
func TestHasAmongClauses(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	var writes []store.Write
	for i := range 30 {
		p := benchWrite("Patient", fmt.Sprintf("p%02d", i), 1)
		p.Index = []store.IndexEntry{{Param: "gender", Kind: store.KindToken, Text: []string{"male", "female"}[i%2]},
			{Param: "name", Kind: store.KindString, Text: "x"}, {Param: "birthdate", Kind: store.KindDate, Low: float64(i), High: float64(i) + 1}}
		o := benchWrite("Observation", fmt.Sprintf("o%02d", i), 1)
		o.Index = []store.IndexEntry{{Param: "subject", Kind: store.KindReference, Text: fmt.Sprintf("Patient/p%02d", i)},
			{Param: "code", Kind: store.KindToken, Text: []string{"y", "z"}[i%3%2]}}
		writes = append(writes, p, o)
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	has := store.Condition{Has: &store.Reverse{Param: "subject", Query: store.Query{Types: []string{"Observation"},
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "y"}}}}}}}
	clauses := []store.Clause{
		{Any: []store.Condition{{Param: "gender", Op: store.OpExact, Text: "male"}}},
		{Any: []store.Condition{{Param: "name", Op: store.OpExact, Text: "x"}}},
		{Any: []store.Condition{has}},
	}
	var want []string // male (even i) with code y (i%3%2 == 0)
	for i := 0; i < 30; i += 2 {
		if i%3%2 == 0 {
			want = append(want, fmt.Sprintf("p%02d", i))
		}
	}
	for _, sort := range [][]store.SortKey{nil, {{Param: "birthdate", Kind: store.KindDate}}, {{Param: "birthdate", Descending: true, Kind: store.KindDate}}} {
		for _, total := range []bool{false, true} {
			q := store.Query{Types: []string{"Patient"}, Clauses: clauses, Sort: sort, Count: 3, Total: total}
			var got []string
			for {
				res, err := s.Search(ctx, q)
				if err != nil {
					t.Fatalf("sort %v, total %v: %v", sort, total, err)
				}
				for _, r := range res.Resources {
					got = append(got, r.ID)
				}
				if !res.More {
					break
				}
				q.Cursor = res.Next
			}
			if sort != nil && sort[0].Descending {
				slices.Reverse(got)
			}
			if !slices.Equal(got, want) {
				t.Errorf("sort %v, total %v: got %v, want %v", sort, total, got, want)
			}
		}
	}
}

// TestChainCounted checks searches with a chain, whose page query also
// counts the matches: pages and totals as without a total asked, and the
// total of a page past the end.
func TestChainCounted(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 3))
	var writes []store.Write
	for i := range 40 {
		p := benchWrite("Patient", fmt.Sprintf("p%02d", i), 1)
		p.Index = []store.IndexEntry{{Param: "name", Kind: store.KindString, Text: []string{"dupont", "martin"}[i%2]}}
		writes = append(writes, p)
		for j := range 1 + rng.IntN(4) {
			o := benchWrite("Observation", fmt.Sprintf("o%02d-%d", (i*17)%40, j), 1)
			o.Index = []store.IndexEntry{{Param: "subject", Kind: store.KindReference, Text: fmt.Sprintf("Patient/p%02d", i)},
				{Param: "code", Kind: store.KindToken, Text: []string{"y", "z"}[rng.IntN(2)]}}
			writes = append(writes, o)
		}
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	chain := store.Condition{Param: "subject", Chain: &store.Query{Types: []string{"Patient"},
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "name", Op: store.OpPrefix, Text: "dup"}}}}}}
	for _, clauses := range [][]store.Clause{
		{{Any: []store.Condition{chain}}},
		{{Any: []store.Condition{{Param: "code", Op: store.OpExact, Text: "y"}}}, {Any: []store.Condition{chain}}},
	} {
		for _, count := range []int{1, 3, 100} {
			q := store.Query{Types: []string{"Observation"}, Clauses: clauses, Count: count, Total: true}
			counted := readAll(t, s, q)
			q.Total = false
			var want []string
			for {
				res, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res.Resources {
					want = append(want, r.ID)
				}
				if !res.More {
					break
				}
				q.Cursor = res.Next
			}
			if len(want) == 0 || !slices.Equal(counted, want) {
				t.Errorf("%d clauses, count %d:\n got %v\nwant %v", len(clauses), count, counted, want)
			}
			past := store.Query{Types: []string{"Observation"}, Clauses: clauses, Count: count, Offset: len(want) + 5, Total: true}
			if res, err := s.Search(ctx, past); err != nil || res.Total != len(want) || len(res.Resources) != 0 {
				t.Errorf("past the end: %v, total %d, %d resources; want total %d", err, res.Total, len(res.Resources), len(want))
			}
		}
	}
}
