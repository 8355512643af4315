package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

func exact(param, text string) store.Clause {
	return store.Clause{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: text}}}
}

func cond(param string, op store.Op, text string) store.Condition {
	return store.Condition{Param: param, Op: op, Text: text}
}

func rangeCond(param string, op store.Op, low, high float64) store.Condition {
	return store.Condition{Param: param, Op: op, Low: low, High: high}
}

func not(c store.Condition) store.Condition {
	c.Not = true
	return c
}

func clause(conds ...store.Condition) store.Clause { return store.Clause{Any: conds} }

// checkSearch runs q and compares the matches with want, in order when q
// sorts and as sets otherwise.
func checkSearch(t *testing.T, s store.Store, q store.Query, want []string) {
	t.Helper()
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	got := refs(res.Resources)
	if len(q.Sort) == 0 {
		got = slices.Sorted(slices.Values(got))
		want = slices.Sorted(slices.Values(want))
	}
	if !equalStrings(got, want) {
		t.Errorf("search %+v = %v, want %v", q, got, want)
	}
	for _, r := range res.Resources {
		if r.Deleted || len(r.Body) == 0 {
			t.Errorf("search returned %s deleted=%v with body %q", vref(r), r.Deleted, r.Body)
		}
	}
}

// searchFixture stores six resources, written at base+0s, +1s, …:
//
//	Observation/o1  code loinc|1234, 1234; name "heart rate"; date [1000,2000); value [10,11)
//	Observation/o2  code loinc|5678, 5678; name "blood_pressure"; date [3000,4000); value [20,21) and [5,6)
//	Observation/o3  code snomed|1234, 1234; name "body%weight"; no date, no value
//	Patient/p1      name "alice smith" and "al"; gender female
//	Patient/p2      name "bob"; gender male
//	Patient/o1      gender female
//
// plus Patient/gone, deleted, whose last live version matched almost everything.
func searchFixture(t *testing.T, s store.Store) {
	// Committed newest first, so that no order of storage matches the order
	// of ids, types or times a test expects.
	writes := []store.Write{
		newWrite("Patient", "o1", 1, at(5000), "POST", token("gender", "female")),
		newWrite("Patient", "p2", 1, at(4000), "POST",
			str("name", "bob"), token("gender", "male")),
		newWrite("Patient", "p1", 1, at(3000), "POST",
			str("name", "alice smith"), str("name", "al"), token("gender", "female")),
		newWrite("Observation", "o3", 1, at(2000), "POST",
			token("code", "snomed|1234"), token("code", "1234"), str("name", "body%weight")),
		newWrite("Observation", "o2", 1, at(1000), "POST",
			token("code", "loinc|5678"), token("code", "5678"), str("name", "blood_pressure"),
			rangeEntry("date", store.KindDate, 3000, 4000),
			rangeEntry("value", store.KindNumber, 20, 21), rangeEntry("value", store.KindNumber, 5, 6)),
		newWrite("Observation", "o1", 1, at(0), "POST",
			token("code", "loinc|1234"), token("code", "1234"), str("name", "heart rate"),
			rangeEntry("date", store.KindDate, 1000, 2000), rangeEntry("value", store.KindNumber, 10, 11)),
		newWrite("Patient", "gone", 1, at(-1000), "POST",
			token("code", "1234"), str("name", "bob"), token("gender", "female"),
			rangeEntry("date", store.KindDate, 1000, 2000), rangeEntry("value", store.KindNumber, 10, 11)),
		deletion("Patient", "gone", 2, at(-500)),
	}
	for _, w := range writes {
		commit(t, s, w)
	}
}

var (
	obs      = []string{"Observation"}
	patients = []string{"Patient"}
)

func testSearch(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	searchFixture(t, s)
	for _, tc := range []struct {
		name    string
		types   []string
		clauses []store.Clause
		want    []string
	}{
		{"everything of a type", obs, nil, []string{"Observation/o1", "Observation/o2", "Observation/o3"}},
		{"everything", nil, nil, []string{"Observation/o1", "Observation/o2", "Observation/o3", "Patient/p1", "Patient/p2", "Patient/o1"}},
		{"type with nothing stored", []string{"Encounter"}, nil, nil},
		{"_id", obs, []store.Clause{exact(store.ParamID, "o1")}, []string{"Observation/o1"}},
		{"_id is exact", obs, []store.Clause{exact(store.ParamID, "o")}, nil},
		{"_id across types", nil, []store.Clause{exact(store.ParamID, "o1")}, []string{"Observation/o1", "Patient/o1"}},
		{"_id or", obs, []store.Clause{clause(cond(store.ParamID, store.OpExact, "o1"), cond(store.ParamID, store.OpExact, "o3"))},
			[]string{"Observation/o1", "Observation/o3"}},
		{"_id not", obs, []store.Clause{clause(not(cond(store.ParamID, store.OpExact, "o1")))},
			[]string{"Observation/o2", "Observation/o3"}},
		{"_id of a deleted resource", nil, []store.Clause{exact(store.ParamID, "gone")}, nil},
		{"token code", obs, []store.Clause{exact("code", "1234")}, []string{"Observation/o1", "Observation/o3"}},
		{"token system|code", obs, []store.Clause{exact("code", "loinc|1234")}, []string{"Observation/o1"}},
		{"token is exact", obs, []store.Clause{exact("code", "loinc|12")}, nil},
		{"token is case-sensitive", patients, []store.Clause{exact("gender", "Female")}, nil},
		{"token without match", obs, []store.Clause{exact("code", "9999")}, nil},
		{"token across types", nil, []store.Clause{exact("gender", "female")}, []string{"Patient/p1", "Patient/o1"}},
		{"prefix", obs, []store.Clause{clause(cond("name", store.OpPrefix, "heart"))}, []string{"Observation/o1"}},
		{"prefix of several", obs, []store.Clause{clause(cond("name", store.OpPrefix, "b"))}, []string{"Observation/o2", "Observation/o3"}},
		{"prefix is not contains", obs, []store.Clause{clause(cond("name", store.OpPrefix, "eart"))}, nil},
		{"prefix with underscore", obs, []store.Clause{clause(cond("name", store.OpPrefix, "blood_"))}, []string{"Observation/o2"}},
		{"prefix underscore is literal", obs, []store.Clause{clause(cond("name", store.OpPrefix, "bl_od"))}, nil},
		{"prefix percent is literal", obs, []store.Clause{clause(cond("name", store.OpPrefix, "b%"))}, nil},
		{"prefix whole value", patients, []store.Clause{clause(cond("name", store.OpPrefix, "bob"))}, []string{"Patient/p2"}},
		{"prefix on second value", patients, []store.Clause{clause(cond("name", store.OpPrefix, "al"))}, []string{"Patient/p1"}},
		{"contains", obs, []store.Clause{clause(cond("name", store.OpContains, "rate"))}, []string{"Observation/o1"}},
		{"contains middle", patients, []store.Clause{clause(cond("name", store.OpContains, "ice sm"))}, []string{"Patient/p1"}},
		{"contains percent", obs, []store.Clause{clause(cond("name", store.OpContains, "y%w"))}, []string{"Observation/o3"}},
		{"contains percent is literal", obs, []store.Clause{clause(cond("name", store.OpContains, "h%t"))}, nil},
		{"contains underscore", obs, []store.Clause{clause(cond("name", store.OpContains, "d_p"))}, []string{"Observation/o2"}},
		{"contains underscore is literal", obs, []store.Clause{clause(cond("name", store.OpContains, "o_d"))}, nil},
		{"missing true", obs, []store.Clause{clause(cond("date", store.OpMissing, "true"))}, []string{"Observation/o3"}},
		{"missing false", obs, []store.Clause{clause(cond("date", store.OpMissing, "false"))}, []string{"Observation/o1", "Observation/o2"}},
		// Every resource has an id and a lastUpdated: never missing.
		{"_lastUpdated missing true", obs, []store.Clause{clause(cond(store.ParamLastUpdated, store.OpMissing, "true"))}, nil},
		{"_id missing false", obs, []store.Clause{clause(cond(store.ParamID, store.OpMissing, "false"))}, []string{"Observation/o1", "Observation/o2", "Observation/o3"}},
		{"missing true everywhere", nil, []store.Clause{clause(cond("gender", store.OpMissing, "true"))},
			[]string{"Observation/o1", "Observation/o2", "Observation/o3"}},
		{"not token", obs, []store.Clause{clause(not(cond("code", store.OpExact, "1234")))}, []string{"Observation/o2"}},
		{"not includes resources without the param", nil, []store.Clause{clause(not(cond("gender", store.OpExact, "female")))},
			[]string{"Observation/o1", "Observation/o2", "Observation/o3", "Patient/p2"}},
		{"not prefix", patients, []store.Clause{clause(not(cond("name", store.OpPrefix, "al")))}, []string{"Patient/p2", "Patient/o1"}},
		{"not range", obs, []store.Clause{clause(not(rangeCond("date", store.OpEq, 1000, 2000)))}, []string{"Observation/o2", "Observation/o3"}},
		{"not missing", obs, []store.Clause{clause(not(cond("date", store.OpMissing, "true")))}, []string{"Observation/o1", "Observation/o2"}},
		{"or in a clause", obs, []store.Clause{clause(cond("code", store.OpExact, "5678"), cond("name", store.OpPrefix, "body"))},
			[]string{"Observation/o2", "Observation/o3"}},
		{"or with not", obs, []store.Clause{clause(cond("code", store.OpExact, "loinc|1234"), not(cond("code", store.OpExact, "1234")))},
			[]string{"Observation/o1", "Observation/o2"}},
		{"and across clauses", obs, []store.Clause{exact("code", "1234"), clause(cond("name", store.OpPrefix, "heart"))},
			[]string{"Observation/o1"}},
		{"and of the same param", obs, []store.Clause{exact("code", "1234"), exact("code", "snomed|1234")},
			[]string{"Observation/o3"}},
		{"and without match", obs, []store.Clause{exact("code", "5678"), clause(cond("name", store.OpPrefix, "heart"))}, nil},
		{"and of ors", obs, []store.Clause{
			clause(cond("code", store.OpExact, "1234"), cond("code", store.OpExact, "5678")),
			clause(cond("name", store.OpPrefix, "blood"), cond("name", store.OpPrefix, "body")),
		}, []string{"Observation/o2", "Observation/o3"}},
		{"several types", []string{"Observation", "Patient"}, []store.Clause{clause(cond("name", store.OpPrefix, "b"))},
			[]string{"Observation/o2", "Observation/o3", "Patient/p2"}},
		{"all types", nil, []store.Clause{clause(cond("name", store.OpPrefix, "b"))},
			[]string{"Observation/o2", "Observation/o3", "Patient/p2"}},
		{"date eq", obs, []store.Clause{clause(rangeCond("date", store.OpEq, 1000, 2000))}, []string{"Observation/o1"}},
		{"date eq wider", obs, []store.Clause{clause(rangeCond("date", store.OpEq, 0, 5000))}, []string{"Observation/o1", "Observation/o2"}},
		{"date eq narrower", obs, []store.Clause{clause(rangeCond("date", store.OpEq, 1200, 1300))}, nil},
		{"date ne", obs, []store.Clause{clause(rangeCond("date", store.OpNe, 1000, 2000))}, []string{"Observation/o2"}},
		{"date gt", obs, []store.Clause{clause(rangeCond("date", store.OpGt, 1000, 2000))}, []string{"Observation/o2"}},
		{"date lt", obs, []store.Clause{clause(rangeCond("date", store.OpLt, 3000, 4000))}, []string{"Observation/o1"}},
		{"date ge", obs, []store.Clause{clause(rangeCond("date", store.OpGe, 1999, 2000))}, []string{"Observation/o1", "Observation/o2"}},
		{"date ge excludes ending at low", obs, []store.Clause{clause(rangeCond("date", store.OpGe, 2000, 2001))}, []string{"Observation/o2"}},
		{"date le", obs, []store.Clause{clause(rangeCond("date", store.OpLe, 2000, 3001))}, []string{"Observation/o1", "Observation/o2"}},
		{"date le excludes starting at high", obs, []store.Clause{clause(rangeCond("date", store.OpLe, 2000, 3000))}, []string{"Observation/o1"}},
		{"date sa", obs, []store.Clause{clause(rangeCond("date", store.OpSa, 1000, 2000))}, []string{"Observation/o2"}},
		{"date sa overlapping", obs, []store.Clause{clause(rangeCond("date", store.OpSa, 1000, 1500))}, []string{"Observation/o2"}},
		{"date eb", obs, []store.Clause{clause(rangeCond("date", store.OpEb, 3000, 3500))}, []string{"Observation/o1"}},
		{"date eb overlapping", obs, []store.Clause{clause(rangeCond("date", store.OpEb, 1999, 3500))}, nil},
		{"date overlap", obs, []store.Clause{clause(rangeCond("date", store.OpOverlap, 1500, 3500))}, []string{"Observation/o1", "Observation/o2"}},
		{"date overlap touching", obs, []store.Clause{clause(rangeCond("date", store.OpOverlap, 2000, 3000))}, nil},
		{"date range and", obs, []store.Clause{
			clause(rangeCond("date", store.OpGe, 500, 600)), clause(rangeCond("date", store.OpLt, 2500, 2600)),
		}, []string{"Observation/o1"}},
		{"number eq", obs, []store.Clause{clause(rangeCond("value", store.OpEq, 10, 11))}, []string{"Observation/o1"}},
		{"number eq of second value", obs, []store.Clause{clause(rangeCond("value", store.OpEq, 5, 6))}, []string{"Observation/o2"}},
		{"number ne, any value differs", obs, []store.Clause{clause(rangeCond("value", store.OpNe, 5, 6))},
			[]string{"Observation/o1", "Observation/o2"}},
		{"number gt", obs, []store.Clause{clause(rangeCond("value", store.OpGt, 15, 16))}, []string{"Observation/o2"}},
		{"number lt, any value", obs, []store.Clause{clause(rangeCond("value", store.OpLt, 8, 9))}, []string{"Observation/o2"}},
		{"number ge", obs, []store.Clause{clause(rangeCond("value", store.OpGe, 10.5, 10.6))}, []string{"Observation/o1", "Observation/o2"}},
		{"number le", obs, []store.Clause{clause(rangeCond("value", store.OpLe, 4, 5))}, nil},
		{"number overlap", obs, []store.Clause{clause(rangeCond("value", store.OpOverlap, 5.5, 5.6))}, []string{"Observation/o2"}},
		{"range param with text op", obs, []store.Clause{exact("value", "10")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: tc.types, Clauses: tc.clauses, Count: 100}, tc.want)
		})
	}
}

func testSearchLastUpdated(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	searchFixture(t, s)
	// Observations o1, o2, o3 were written at base, base+1s, base+2s: as ranges
	// [t, t+1ms). The condition covers the second starting at base+1s.
	low, high := atMillis(1000), atMillis(2000)
	for _, tc := range []struct {
		op   store.Op
		want []string
	}{
		{store.OpEq, []string{"Observation/o2"}},
		{store.OpNe, []string{"Observation/o1", "Observation/o3"}},
		{store.OpGt, []string{"Observation/o3"}},
		{store.OpLt, []string{"Observation/o1"}},
		{store.OpGe, []string{"Observation/o2", "Observation/o3"}},
		{store.OpLe, []string{"Observation/o1", "Observation/o2"}},
		{store.OpSa, []string{"Observation/o3"}},
		{store.OpEb, []string{"Observation/o1"}},
		{store.OpOverlap, []string{"Observation/o2"}},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			q := store.Query{Types: obs, Count: 100, Clauses: []store.Clause{clause(rangeCond(store.ParamLastUpdated, tc.op, low, high))}}
			checkSearch(t, s, q, tc.want)
		})
	}
	t.Run("millisecond instant", func(t *testing.T) {
		q := store.Query{Count: 100, Clauses: []store.Clause{clause(rangeCond(store.ParamLastUpdated, store.OpEq, atMillis(3000), atMillis(3001)))}}
		checkSearch(t, s, q, []string{"Patient/p1"})
	})
	t.Run("not", func(t *testing.T) {
		q := store.Query{Types: obs, Count: 100, Clauses: []store.Clause{clause(not(rangeCond(store.ParamLastUpdated, store.OpLt, low, high)))}}
		checkSearch(t, s, q, []string{"Observation/o2", "Observation/o3"})
	})
}

func testSearchIndexReplaced(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	commit(t, s, newWrite("Patient", "p", 1, at(0), "POST",
		token("identifier", "old"), str("name", "smith"), rangeEntry("birthdate", store.KindDate, 0, 100)))
	commit(t, s, newWrite("Patient", "p", 2, at(1000), "PUT",
		token("identifier", "new"), rangeEntry("birthdate", store.KindDate, 500, 600)))
	for _, tc := range []struct {
		name   string
		clause store.Clause
		want   []string
	}{
		{"old token", exact("identifier", "old"), nil},
		{"new token", exact("identifier", "new"), []string{"Patient/p"}},
		{"dropped param", clause(cond("name", store.OpPrefix, "smi")), nil},
		{"dropped param missing", clause(cond("name", store.OpMissing, "true")), []string{"Patient/p"}},
		{"old range", clause(rangeCond("birthdate", store.OpEq, 0, 100)), nil},
		{"new range", clause(rangeCond("birthdate", store.OpEq, 500, 600)), []string{"Patient/p"}},
		{"old lastUpdated", clause(rangeCond(store.ParamLastUpdated, store.OpEq, atMillis(0), atMillis(1))), nil},
		{"new lastUpdated", clause(rangeCond(store.ParamLastUpdated, store.OpEq, atMillis(1000), atMillis(1001))), []string{"Patient/p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{tc.clause}}, tc.want)
		})
	}
	res, err := s.Search(context.Background(), store.Query{Types: patients, Count: 10})
	if err != nil || len(res.Resources) != 1 || res.Resources[0].VersionID != 2 {
		t.Fatalf("search returned %+v, %v; want only version 2", res, err)
	}
}

func testSearchSort(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	searchFixture(t, s)
	all := []string{"Observation", "Patient"}
	for _, tc := range []struct {
		name  string
		types []string
		sort  []store.SortKey
		want  []string
	}{
		{"_id", nil, []store.SortKey{{Param: store.ParamID}},
			[]string{"Observation/o1", "Patient/o1", "Observation/o2", "Observation/o3", "Patient/p1", "Patient/p2"}},
		{"_id descending, ties by type", nil, []store.SortKey{{Param: store.ParamID, Descending: true}},
			[]string{"Patient/p2", "Patient/p1", "Observation/o3", "Observation/o2", "Observation/o1", "Patient/o1"}},
		{"_lastUpdated", all, []store.SortKey{{Param: store.ParamLastUpdated}},
			[]string{"Observation/o1", "Observation/o2", "Observation/o3", "Patient/p1", "Patient/p2", "Patient/o1"}},
		{"_lastUpdated descending", all, []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}},
			[]string{"Patient/o1", "Patient/p2", "Patient/p1", "Observation/o3", "Observation/o2", "Observation/o1"}},
		{"number ascending uses smallest", obs, []store.SortKey{{Param: "value"}},
			[]string{"Observation/o2", "Observation/o1", "Observation/o3"}},
		{"number descending uses largest", obs, []store.SortKey{{Param: "value", Descending: true}},
			[]string{"Observation/o2", "Observation/o1", "Observation/o3"}},
		{"date", obs, []store.SortKey{{Param: "date"}},
			[]string{"Observation/o1", "Observation/o2", "Observation/o3"}},
		{"date descending, missing last", obs, []store.SortKey{{Param: "date", Descending: true}},
			[]string{"Observation/o2", "Observation/o1", "Observation/o3"}},
		{"string", nil, []store.SortKey{{Param: "name"}},
			[]string{"Patient/p1", "Observation/o2", "Patient/p2", "Observation/o3", "Observation/o1", "Patient/o1"}},
		{"string descending uses largest", nil, []store.SortKey{{Param: "name", Descending: true}},
			[]string{"Observation/o1", "Observation/o3", "Patient/p2", "Observation/o2", "Patient/p1", "Patient/o1"}},
		{"token, ties by type then id", nil, []store.SortKey{{Param: "gender"}},
			[]string{"Patient/o1", "Patient/p1", "Patient/p2", "Observation/o1", "Observation/o2", "Observation/o3"}},
		{"several keys", all, []store.SortKey{{Param: "date"}, {Param: store.ParamID, Descending: true}},
			[]string{"Observation/o1", "Observation/o2", "Patient/p2", "Patient/p1", "Observation/o3", "Patient/o1"}},
		{"several keys, second decides", patients, []store.SortKey{{Param: "gender", Descending: true}, {Param: store.ParamLastUpdated, Descending: true}},
			[]string{"Patient/p2", "Patient/o1", "Patient/p1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: tc.types, Sort: tc.sort, Count: 100}, tc.want)
		})
	}
}

func testSearchPaging(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	searchFixture(t, s)
	byID := []store.SortKey{{Param: store.ParamID}}
	for _, tc := range []struct {
		name      string
		q         store.Query
		want      []string
		wantTotal int
		wantMore  bool
	}{
		{"first page", store.Query{Sort: byID, Count: 2, Total: true},
			[]string{"Observation/o1", "Patient/o1"}, 6, true},
		{"middle page", store.Query{Sort: byID, Count: 2, Offset: 2, Total: true},
			[]string{"Observation/o2", "Observation/o3"}, 6, true},
		{"last page", store.Query{Sort: byID, Count: 2, Offset: 4, Total: true},
			[]string{"Patient/p1", "Patient/p2"}, 6, false},
		{"partial last page", store.Query{Sort: byID, Count: 4, Offset: 4, Total: true},
			[]string{"Patient/p1", "Patient/p2"}, 6, false},
		{"past the end", store.Query{Sort: byID, Count: 2, Offset: 10, Total: true}, nil, 6, false},
		{"no total asked", store.Query{Sort: byID, Count: 2}, []string{"Observation/o1", "Patient/o1"}, -1, true},
		{"page of a filtered search", store.Query{Types: obs, Sort: byID, Count: 1, Offset: 1, Total: true,
			Clauses: []store.Clause{exact("code", "1234")}}, []string{"Observation/o3"}, 2, false},
		{"count 0: total only", store.Query{Count: 0, Total: true}, nil, 6, true},
		{"count 0 of a filtered search", store.Query{Types: obs, Count: 0, Total: true,
			Clauses: []store.Clause{exact("code", "1234")}}, nil, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(ctx, tc.q)
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if got := refs(res.Resources); !equalStrings(got, tc.want) {
				t.Errorf("page = %v, want %v", got, tc.want)
			}
			if res.Total != tc.wantTotal {
				t.Errorf("Total = %d, want %d", res.Total, tc.wantTotal)
			}
			if tc.q.Count > 0 && res.More != tc.wantMore {
				t.Errorf("More = %v, want %v", res.More, tc.wantMore)
			}
		})
	}

	// Walking pages of one resource under a sort full of ties must visit every
	// match once: ties are broken by type then id.
	for _, sort := range [][]store.SortKey{
		{{Param: "gender"}},
		{{Param: "gender", Descending: true}},
		{{Param: "code"}},
		nil,
	} {
		var walked []string
		for offset := 0; offset < 10; offset++ {
			res, err := s.Search(ctx, store.Query{Sort: sort, Count: 1, Offset: offset})
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			walked = append(walked, refs(res.Resources)...)
			if !res.More {
				break
			}
		}
		slices.Sort(walked)
		want := []string{"Observation/o1", "Observation/o2", "Observation/o3", "Patient/o1", "Patient/p1", "Patient/p2"}
		if !slices.Equal(walked, want) {
			t.Errorf("pages under sort %v visited %v, want each of %v once", sort, walked, want)
		}
	}
}
