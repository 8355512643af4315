package storetest

import (
	"fmt"
	"testing"

	"github.com/telehub/telehub/store"
)

// partialWrite returns a PartialIndex write: Index adds to the previous
// version's entries, those of replaced (and the full-text ones) excepted.
func partialWrite(typ, id string, version int64, replaced []string, index ...store.IndexEntry) store.Write {
	w := newWrite(typ, id, version, at(version*1000), "PUT", index...)
	w.PartialIndex, w.Replaced = true, replaced
	return w
}

// testPartialIndex: a PartialIndex write keeps the previous version's
// entries but those of the parameters it replaces, full-text ones
// included, adds its own once, and a later full write replaces them all.
func testPartialIndex(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	reference := func(param, text string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindReference, Text: text}
	}
	composite := store.IndexEntry{Param: "combo", Kind: store.KindComposite, Text: "a$b", Low: 1, High: 2}
	commit(t, s, newWrite("Observation", "o", 1, at(1000), "POST",
		token("code", "old"), token("code", "kept"), str("name", "smith"),
		str(store.ParamContent, "alpha"), str(store.ParamContent, "beta"), str(store.ParamText, "narrative"),
		rangeEntry("date", store.KindDate, 0, 100), composite,
		reference("subject", "Patient/p1"), reference("patient", "Patient/p1")))
	commit(t, s, partialWrite("Observation", "o", 2, []string{"name", "patient", store.ParamText},
		token("code", "new"), token("code", "kept"), str("name", "jones"),
		str(store.ParamContent, "gamma"), str(store.ParamContent, "beta"), str(store.ParamText, "story"),
		rangeEntry("date", store.KindDate, 500, 600), reference("patient", "Patient/p2")))
	for _, tc := range []struct {
		name   string
		clause store.Clause
		want   []string
	}{
		{"kept token", exact("code", "old"), []string{"Observation/o"}},
		{"kept token given again", exact("code", "kept"), []string{"Observation/o"}},
		{"added token", exact("code", "new"), []string{"Observation/o"}},
		{"replaced param's old entry", exact("name", "smith"), nil},
		{"replaced param's new entry", exact("name", "jones"), []string{"Observation/o"}},
		{"kept word", exact(store.ParamContent, "alpha"), []string{"Observation/o"}},
		{"kept word given again", exact(store.ParamContent, "beta"), []string{"Observation/o"}},
		{"added word", exact(store.ParamContent, "gamma"), []string{"Observation/o"}},
		{"replaced full-text param's old word", exact(store.ParamText, "narrative"), nil},
		{"replaced full-text param's new word", exact(store.ParamText, "story"), []string{"Observation/o"}},
		{"kept range", clause(rangeCond("date", store.OpEq, 0, 100)), []string{"Observation/o"}},
		{"added range", clause(rangeCond("date", store.OpEq, 500, 600)), []string{"Observation/o"}},
		{"kept composite", store.Clause{Any: []store.Condition{{Param: "combo", Op: store.OpEq, Text: "a$b", Low: 1, High: 2}}}, []string{"Observation/o"}},
		{"kept composite text", exact("combo", "a$b"), []string{"Observation/o"}},
		// subject is kept while patient, whose entry it repeated, is replaced.
		{"kept reference", exact("subject", "Patient/p1"), []string{"Observation/o"}},
		{"replaced reference", exact("patient", "Patient/p1"), nil},
		{"new reference", exact("patient", "Patient/p2"), []string{"Observation/o"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: obs, Count: 10, Clauses: []store.Clause{tc.clause}}, tc.want)
		})
	}
	sorted := []store.SortKey{{Param: "code", Descending: true}}
	commit(t, s, newWrite("Observation", "x", 1, at(1000), "POST", token("code", "middle")))
	checkSearch(t, s, store.Query{Types: obs, Count: 10, Sort: sorted}, []string{"Observation/o", "Observation/x"})
	checkSearch(t, s, store.Query{Types: obs, Count: 10, Sort: []store.SortKey{{Param: "date", Descending: true}}},
		[]string{"Observation/o", "Observation/x"})

	// A full write replaces the kept entries with the rest.
	commit(t, s, newWrite("Observation", "o", 3, at(3000), "PUT", token("code", "last")))
	for _, c := range []store.Clause{exact("code", "old"), exact("code", "kept"), exact("code", "new"),
		exact("subject", "Patient/p1"), exact("patient", "Patient/p2"), exact("combo", "a$b"),
		clause(rangeCond("date", store.OpEq, 0, 100)), exact(store.ParamContent, "alpha"), exact(store.ParamContent, "gamma"),
		exact(store.ParamText, "story")} {
		checkSearch(t, s, store.Query{Types: obs, Count: 10, Clauses: []store.Clause{c}}, nil)
	}
	checkSearch(t, s, store.Query{Types: obs, Count: 10, Clauses: []store.Clause{exact("code", "last")}}, []string{"Observation/o"})

	// Without a previous version, or after a deletion, Index is all there is.
	commit(t, s, partialWrite("Patient", "p", 1, nil, token("identifier", "one")))
	commit(t, s, deletion("Patient", "p", 2, at(2000)))
	commit(t, s, partialWrite("Patient", "p", 3, nil, token("identifier", "three")))
	checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{exact("identifier", "one")}}, nil)
	checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{exact("identifier", "three")}}, []string{"Patient/p"})

	// Twice in one commit: the second keeps the first's entries.
	if !s.SupportsTransactions() {
		return
	}
	commit(t, s, newWrite("Patient", "q", 1, at(1000), "POST", token("identifier", "first"), str("name", "ann")),
		partialWrite("Patient", "q", 2, []string{"name"}, token("identifier", "second"), str("name", "bea")))
	for _, tc := range []struct {
		clause store.Clause
		want   []string
	}{
		{exact("identifier", "first"), []string{"Patient/q"}},
		{exact("identifier", "second"), []string{"Patient/q"}},
		{exact("name", "ann"), nil},
		{exact("name", "bea"), []string{"Patient/q"}},
	} {
		checkSearch(t, s, store.Query{Types: patients, Count: 10, Clauses: []store.Clause{tc.clause}}, tc.want)
	}
}

// testGrowingBulk: a resource grown by many partial writes (an
// ImagingStudy whose instances come request by request) keeps every
// entry each added, loses those of the parameters replaced wherever an
// earlier write put them, sorts on its entries whichever write added
// them, and a full write replaces them all.
func testGrowingBulk(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	studies := []string{"ImagingStudy"}
	commit(t, s, newWrite("ImagingStudy", "s", 1, at(1000), "POST", token("status", "registered"), token("instance", "i1"), token("modality", "MR")))
	const versions = 12
	for v := int64(2); v <= versions; v++ {
		index := []store.IndexEntry{token("instance", fmt.Sprintf("i%d", v)), token("dicom-class", "ct")}
		replaced := []string(nil)
		if v%4 == 0 {
			// Now and then the status changes, and a date is added.
			index = append(index, token("status", fmt.Sprintf("status%d", v)))
			replaced = []string{"status"}
		}
		if v == 7 {
			index = append(index, rangeEntry("started", store.KindDate, 700, 800), token("modality", "CT"))
		}
		commit(t, s, partialWrite("ImagingStudy", "s", v, replaced, index...))
	}
	for v := 1; v <= versions; v++ {
		checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("instance", fmt.Sprintf("i%d", v))}}, []string{"ImagingStudy/s"})
	}
	for _, status := range []string{"registered", "status4", "status8"} {
		checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("status", status)}}, nil)
	}
	checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("status", "status12")}}, []string{"ImagingStudy/s"})
	checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{clause(rangeCond("started", store.OpEq, 700, 800))}}, []string{"ImagingStudy/s"})

	// Sorted on all its entries, whichever write added them: s has i1 and
	// MR from the first write, i2… and CT from later ones.
	commit(t, s, newWrite("ImagingStudy", "t", 1, at(1000), "POST", token("instance", "i5"), token("modality", "DX"),
		rangeEntry("started", store.KindDate, 750, 760)))
	for _, tc := range []struct {
		key  store.SortKey
		want []string
	}{
		{store.SortKey{Param: "started"}, []string{"ImagingStudy/s", "ImagingStudy/t"}},
		{store.SortKey{Param: "started", Descending: true}, []string{"ImagingStudy/s", "ImagingStudy/t"}},
		{store.SortKey{Param: "instance"}, []string{"ImagingStudy/s", "ImagingStudy/t"}},                   // i1 < i5
		{store.SortKey{Param: "instance", Descending: true}, []string{"ImagingStudy/s", "ImagingStudy/t"}}, // i9 > i5
		{store.SortKey{Param: "modality"}, []string{"ImagingStudy/s", "ImagingStudy/t"}},                   // CT < DX
		{store.SortKey{Param: "modality", Descending: true}, []string{"ImagingStudy/s", "ImagingStudy/t"}}, // MR > DX
	} {
		checkSearch(t, s, store.Query{Types: studies, Count: 10, Sort: []store.SortKey{tc.key}}, tc.want)
	}

	commit(t, s, newWrite("ImagingStudy", "s", versions+1, at(20000), "PUT", token("instance", "only")))
	for v := 1; v <= versions; v++ {
		var want []string // s lost them all; t has i5
		if v == 5 {
			want = []string{"ImagingStudy/t"}
		}
		checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("instance", fmt.Sprintf("i%d", v))}}, want)
	}
	checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("status", "status12")}}, nil)
	checkSearch(t, s, store.Query{Types: studies, Count: 10, Clauses: []store.Clause{exact("instance", "only")}}, []string{"ImagingStudy/s"})
}
