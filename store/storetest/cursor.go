package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

// cursorFixture stores 24 Patients r00…r23 and 8 Observations r00, r03, …,
// r21 (the same ids, another type). Values repeat so that sorts have ties:
// name cycles through "ann", "bea", "cy", "bea" and none (missing); gender
// alternates; rank cycles 0, 1, 2 and none; Patients get distinct times,
// each Observation the time of the Patient with its id. It returns the
// number of matches (32).
func cursorFixture(t *testing.T, s store.Store) int {
	names := []string{"ann", "bea", "cy", "bea", ""}
	var writes []store.Write
	for i := range 24 {
		var index []store.IndexEntry
		if name := names[i%len(names)]; name != "" {
			index = append(index, str("name", name))
		}
		index = append(index, token("gender", []string{"female", "male"}[i%2]))
		if i%4 != 3 {
			index = append(index, rangeEntry("rank", store.KindNumber, float64(i%4), float64(i%4)+1))
		}
		lastUpdated := at(int64(i*7%24) * 1000)
		id := fmt.Sprintf("r%02d", i)
		writes = append(writes, newWrite("Patient", id, 1, lastUpdated, "POST", index...))
		if i%3 == 0 {
			writes = append(writes, newWrite("Observation", id, 1, lastUpdated, "POST", index...))
		}
	}
	for _, w := range writes {
		commit(t, s, w)
	}
	return len(writes)
}

// walk follows Next from the first page of q to the last and returns every
// match in page order with the number of pages. It checks More, Next and
// Total on each page.
func walk(t *testing.T, s store.Store, q store.Query, wantTotal int) (walked []string, pages int) {
	t.Helper()
	ctx := context.Background()
	q.Total = true
	for {
		res, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("page %d of %+v: %v", pages+1, q, err)
		}
		pages++
		walked = append(walked, refs(res.Resources)...)
		if res.Total != wantTotal {
			t.Errorf("page %d: Total = %d, want %d", pages, res.Total, wantTotal)
		}
		if res.More != (res.Next != "") {
			t.Fatalf("page %d: More = %v with Next %q", pages, res.More, res.Next)
		}
		if !res.More {
			return walked, pages
		}
		if len(res.Resources) != q.Count {
			t.Errorf("page %d has %d resources and More, want %d", pages, len(res.Resources), q.Count)
		}
		if pages > 100 {
			t.Fatalf("more than 100 pages of %d: the cursor does not advance", q.Count)
		}
		q.Cursor = res.Next
	}
}

// allMatches returns every match of q in one page.
func allMatches(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	q.Count, q.Cursor, q.Offset = 1000, "", 0
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return refs(res.Resources)
}

func testSearchCursor(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	n := cursorFixture(t, s)
	for _, tc := range []struct {
		name    string
		types   []string
		clauses []store.Clause
		sort    []store.SortKey
		want    int // number of matches
	}{
		{"no sort", nil, nil, nil, n},
		{"no sort, one type", patients, nil, nil, 24},
		{"_lastUpdated descending", nil, nil, []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}}, n},
		{"_id", nil, nil, []store.SortKey{{Param: store.ParamID}}, n},
		{"_id descending", nil, nil, []store.SortKey{{Param: store.ParamID, Descending: true}}, n},
		{"string with missing values", nil, nil, []store.SortKey{{Param: "name"}}, n},
		{"string descending with missing values", nil, nil, []store.SortKey{{Param: "name", Descending: true}}, n},
		{"number descending with missing values", patients, nil, []store.SortKey{{Param: "rank", Descending: true}}, 24},
		{"several keys", nil, nil, []store.SortKey{
			{Param: "gender", Descending: true}, {Param: "rank"}, {Param: "name", Descending: true}, {Param: store.ParamLastUpdated}}, n},
		{"filtered", patients, []store.Clause{exact("gender", "female")}, []store.SortKey{{Param: "name"}, {Param: store.ParamID, Descending: true}}, 12},
	} {
		for _, count := range []int{1, 4, 7, 32} {
			t.Run(fmt.Sprintf("%s by %d", tc.name, count), func(t *testing.T) {
				q := store.Query{Types: tc.types, Clauses: tc.clauses, Sort: tc.sort, Count: count}
				want := allMatches(t, s, q)
				if len(want) != tc.want {
					t.Fatalf("one page holds %d matches, want %d", len(want), tc.want)
				}
				if len(tc.sort) == 0 {
					// Without sort keys the order is type then id.
					sorted := slices.Clone(want)
					slices.SortFunc(sorted, func(a, b string) int { return compareRefs(a, b) })
					if !slices.Equal(want, sorted) {
						t.Fatalf("unsorted search order %v, want type then id %v", want, sorted)
					}
				}
				got, pages := walk(t, s, q, tc.want)
				if !slices.Equal(got, want) {
					t.Errorf("pages visited\n%v\nwant\n%v", got, want)
				}
				if wantPages := max(1, (tc.want+count-1)/count); pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
			})
		}
	}
	t.Run("invalid cursor", func(t *testing.T) {
		for _, cursor := range []string{"not a cursor", "e30", "AAAA", "%%%", "eyJ4IjoxfQ"} {
			res, err := s.Search(context.Background(), store.Query{Count: 2, Cursor: cursor, Sort: []store.SortKey{{Param: "name"}}})
			if err == nil {
				t.Errorf("cursor %q: got %d resources and no error, want an error", cursor, len(res.Resources))
			}
		}
	})
	t.Run("empty result", func(t *testing.T) {
		res, err := s.Search(context.Background(), store.Query{Types: []string{"Encounter"}, Count: 2})
		if err != nil || len(res.Resources) != 0 || res.More || res.Next != "" {
			t.Errorf("search of nothing = %+v, %v; want no resources, no Next", res, err)
		}
	})
}

// compareRefs orders "Type/id" by type then id.
func compareRefs(a, b string) int {
	at, aid, _ := cutRef(a)
	bt, bid, _ := cutRef(b)
	if c := compareStrings(at, bt); c != 0 {
		return c
	}
	return compareStrings(aid, bid)
}

func cutRef(r string) (typ, id string, ok bool) {
	for i := range len(r) {
		if r[i] == '/' {
			return r[:i], r[i+1:], true
		}
	}
	return r, "", false
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testSearchCursorWrites walks pages while others write between them: new
// resources, updates that move resources in the order, deletions ahead and
// of the last resource seen. Resources that exist unchanged throughout must
// each be seen exactly once and in order; none is seen after its deletion.
func testSearchCursorWrites(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		sort []store.SortKey
	}{
		{"no sort", nil},
		{"string", []store.SortKey{{Param: "name"}}},
		{"_lastUpdated descending", []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}}},
		{"several keys", []store.SortKey{{Param: "gender"}, {Param: "rank", Descending: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			cursorFixture(t, s)
			q := store.Query{Types: patients, Sort: tc.sort, Count: 4}
			initial := allMatches(t, s, q)
			w := &cursorWriter{t: t, s: s, versions: map[string]int64{}, clock: 100_000}
			for _, r := range initial {
				w.versions[r] = 1
			}
			changed := map[string]bool{}
			deleted := map[string]bool{}
			var seen []string
			for page := 0; ; page++ {
				res, err := s.Search(context.Background(), q)
				if err != nil {
					t.Fatalf("page %d: %v", page+1, err)
				}
				for _, r := range refs(res.Resources) {
					if deleted[r] {
						t.Errorf("page %d holds %s, deleted before it was read", page+1, r)
					}
				}
				seen = append(seen, refs(res.Resources)...)
				if !res.More {
					if res.Next != "" {
						t.Errorf("last page has Next %q", res.Next)
					}
					break
				}
				if page > 50 {
					t.Fatal("more than 50 pages: the cursor does not advance")
				}
				q.Cursor = res.Next
				w.between(page, seen, initial, changed, deleted)
			}
			var unchanged, seenUnchanged []string
			for _, r := range initial {
				if !changed[r] {
					unchanged = append(unchanged, r)
				}
			}
			for _, r := range seen {
				if !changed[r] && slices.Contains(initial, r) {
					seenUnchanged = append(seenUnchanged, r)
				}
			}
			if !slices.Equal(seenUnchanged, unchanged) {
				t.Errorf("unchanged resources seen\n%v\nwant each once, in order\n%v", seenUnchanged, unchanged)
			}
		})
	}
}

// cursorWriter makes the writes between pages.
type cursorWriter struct {
	t        *testing.T
	s        store.Store
	versions map[string]int64 // "Patient/id" → current version
	clock    int64            // milliseconds after base of the next write
	created  int
}

func (w *cursorWriter) tick() int64 { w.clock += 1000; return w.clock }

// between creates two Patients (one sorting first, one last), updates the
// last resource seen and one not seen yet, and deletes one not seen yet.
func (w *cursorWriter) between(page int, seen, initial []string, changed, deleted map[string]bool) {
	for _, name := range []string{"aaa", "zzz"} {
		w.created++
		id := fmt.Sprintf("new%02d", w.created)
		commit(w.t, w.s, newWrite("Patient", id, 1, at(w.tick()), "POST",
			str("name", name), token("gender", "female"), rangeEntry("rank", store.KindNumber, 9, 10)))
		w.versions["Patient/"+id] = 1
	}
	last := seen[len(seen)-1]
	w.update(last, "aaa", changed)
	var ahead []string
	for _, r := range initial {
		if !changed[r] && !slices.Contains(seen, r) {
			ahead = append(ahead, r)
		}
	}
	// Resources far ahead, so that the unchanged ones around the cursor stay.
	if len(ahead) > 6 {
		w.update(ahead[len(ahead)-1], []string{"aaa", "zzz"}[page%2], changed)
		w.remove(ahead[len(ahead)-2], changed, deleted)
	}
}

func (w *cursorWriter) update(r, name string, changed map[string]bool) {
	_, id, _ := cutRef(r)
	w.versions[r]++
	commit(w.t, w.s, newWrite("Patient", id, w.versions[r], at(w.tick()), "PUT",
		str("name", name), token("gender", "male"), rangeEntry("rank", store.KindNumber, 5, 6)))
	changed[r] = true
}

func (w *cursorWriter) remove(r string, changed, deleted map[string]bool) {
	_, id, _ := cutRef(r)
	w.versions[r]++
	commit(w.t, w.s, deletion("Patient", id, w.versions[r], at(w.tick())))
	changed[r], deleted[r] = true, true
}
