package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// TestSharedParamsAreSubsets checks, on the specification's definitions,
// that every entry of each narrower parameter of sharedParams is one of
// its wider parameter's: a search on the wider one reads the narrower
// one's rows as its own.
func TestSharedParamsAreSubsets(t *testing.T) {
	reg := search.DefaultRegistry()
	for typ, params := range sharedParams {
		for wide, narrow := range params {
			wideCode, suffix, _ := strings.Cut(wide, ":")
			narrowCode, narrowSuffix, _ := strings.Cut(narrow, ":")
			if suffix != narrowSuffix {
				t.Errorf("%s: %s and %s are entries of different modifiers", typ, wide, narrow)
				continue
			}
			w, okW := reg.Lookup(typ, wideCode)
			n, okN := reg.Lookup(typ, narrowCode)
			if !okW || !okN || w.Kind != n.Kind {
				t.Errorf("%s: %s and %s are not parameters of the same kind", typ, wideCode, narrowCode)
				continue
			}
			if !subsetExpression(typ, w, n) {
				t.Errorf("%s: %s (%s) is not defined as a part of %s (%s)", typ, narrowCode, n.Expression, wideCode, w.Expression)
			}
		}
	}
	// And every type whose patient is part of its subject shares them.
	for _, typ := range reg.Types() {
		w, okW := reg.Lookup(typ, "subject")
		n, okN := reg.Lookup(typ, "patient")
		if okW && okN && subsetExpression(typ, w, n) && sharedParams[typ]["subject"] != "patient" {
			t.Errorf("%s: patient (%s) is part of subject (%s), but they do not share entries", typ, n.Expression, w.Expression)
		}
	}
}

// subsetExpression reports whether n selects part of what w selects: the
// same expression, w's expression is n's and more ("a | b" over "a"), or
// n's is w's restricted to Patient references; a composite pairs the same
// components, each the same parameter or a narrower one of the other's.
func subsetExpression(typ string, w, n *search.Param) bool {
	if n.Expression != w.Expression && n.Expression != w.Expression+".where(resolve() is Patient)" &&
		!strings.HasPrefix(w.Expression, n.Expression+" | ") {
		return false
	}
	if len(w.Components) != len(n.Components) {
		return false
	}
	for i, wc := range w.Components {
		nc := n.Components[i]
		if wc.Expression != nc.Expression || wc.Code != nc.Code && sharedParams[typ][wc.Code] != nc.Code {
			return false
		}
	}
	return true
}

// sharedObservation is a vital sign with a component, about subject.
func sharedObservation(t *testing.T, x *search.Extractor, id, subject, code string, value, component float64) store.Write {
	t.Helper()
	body := fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final",`+
		`"code":{"coding":[{"system":"http://loinc.org","code":%q}]},"subject":{"reference":%q},`+
		`"valueQuantity":{"value":%g,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"},`+
		`"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},`+
		`"valueQuantity":{"value":%g,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
		id, code, subject, value, component)
	index, err := x.Extract("Observation", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return store.Write{Type: "Observation", ID: id, Version: 1, LastUpdated: time.Now(), Method: "PUT", Body: []byte(body), Index: index}
}

// TestSharedEntries checks that a wider parameter whose entries a narrower
// one repeats keeps no rows for them, and is searched, counted, sorted,
// chained and updated as if it had them.
func TestSharedEntries(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	x := search.NewExtractor(search.DefaultRegistry())
	patient := store.Write{Type: "Patient", ID: "p1", Version: 1, LastUpdated: time.Now(), Method: "PUT",
		Body: []byte(`{"resourceType":"Patient","id":"p1"}`)}
	a := sharedObservation(t, x, "a", "Patient/p1", "8480-6", 120, 80)
	b := sharedObservation(t, x, "b", "Group/g1", "8867-4", 72, 60)
	if err := s.Commit(ctx, []store.Write{patient, a, b}); err != nil {
		t.Fatal(err)
	}

	// Rows: the subject of a is the patient's row, b's (a Group) is its own.
	var subjectRows, comboRows int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM idx_text WHERE param = 'subject'`).Scan(&subjectRows); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM idx_range WHERE param = 'combo-code-value-quantity'`).Scan(&comboRows); err != nil {
		t.Fatal(err)
	}
	if subjectRows != 2 { // "Group/g1" and "g1"
		t.Errorf("%d subject rows, want 2 (b's alone)", subjectRows)
	}
	if comboRows == 0 {
		t.Error("no combo-code-value-quantity rows: the components' pairs have no narrower parameter")
	}

	find := func(name string, q store.Query, want string) {
		t.Helper()
		if q.Types == nil {
			q.Types = []string{"Observation"}
		}
		q.Count, q.Total = 10, true
		res, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ids []string
		for _, r := range res.Resources {
			ids = append(ids, r.ID)
		}
		if got := strings.Join(ids, " "); got != want || res.Total != len(ids) {
			t.Errorf("%s: %q (total %d), want %q", name, got, res.Total, want)
		}
	}
	one := func(c store.Condition) store.Query {
		return store.Query{Clauses: []store.Clause{{Any: []store.Condition{c}}}}
	}
	exact := func(param, text string) store.Query {
		return one(store.Condition{Param: param, Op: store.OpExact, Text: text})
	}
	check := func() {
		find("subject=Patient/p1", exact("subject", "Patient/p1"), "a")
		find("subject=p1", exact("subject", "p1"), "a")
		find("subject=Group/g1", exact("subject", "Group/g1"), "b")
		find("patient=Patient/p1", exact("patient", "Patient/p1"), "a")
		find("combo-code=8480-6", exact("combo-code", "8480-6"), "a")
		find("combo-code=8462-4", exact("combo-code", "8462-4"), "a b")
		find("code=8462-4", exact("code", "8462-4"), "")
		find("combo-code:not=8480-6", one(store.Condition{Param: "combo-code", Op: store.OpExact, Text: "8480-6", Not: true}), "b")
		find("subject:missing=false", one(store.Condition{Param: "subject", Op: store.OpMissing, Text: "false"}), "a b")
		find("subject:missing=true", one(store.Condition{Param: "subject", Op: store.OpMissing, Text: "true"}), "")
		find("combo-value-quantity=ge100", one(store.Condition{Param: "combo-value-quantity", Op: store.OpGe, Low: 100, High: 100}), "a")
		find("combo-value-quantity=le70", one(store.Condition{Param: "combo-value-quantity", Op: store.OpLe, Low: 70, High: 70}), "b")
		find("combo-code-value-quantity=8480-6$ge100", one(store.Condition{Param: "combo-code-value-quantity", Op: store.OpGe,
			Low: 100, High: 100, Text: "http://loinc.org|8480-6$mm[Hg]"}), "a")
		find("subject=…&combo-code=…", store.Query{Clauses: []store.Clause{
			{Any: []store.Condition{{Param: "subject", Op: store.OpExact, Text: "Patient/p1"}, {Param: "subject", Op: store.OpExact, Text: "g1"}}},
			{Any: []store.Condition{{Param: "combo-code", Op: store.OpExact, Text: "8462-4"}}},
		}}, "a b")
		// Sorted on subject: "Group/g1" < "Patient/p1" ascending, "p1" > "g1" descending.
		find("_sort=subject", store.Query{Sort: []store.SortKey{{Param: "subject"}}}, "b a")
		find("_sort=-subject", store.Query{Sort: []store.SortKey{{Param: "subject", Descending: true}}}, "a b")
		// Across types, the patient's rows stand in only where they are the subject's.
		find("system subject=Patient/p1", store.Query{Types: []string{}, Clauses: exact("subject", "Patient/p1").Clauses}, "a")
		find("Observation,Group subject=Patient/p1", store.Query{Types: []string{"Group", "Observation"}, Clauses: exact("subject", "Patient/p1").Clauses}, "a")
		chain := store.Query{Types: []string{"Patient"}, Clauses: exact(store.ParamID, "p1").Clauses}
		find("subject:Patient._id=p1", one(store.Condition{Param: "subject", Chain: &chain}), "a")
		has := store.Reverse{Param: "subject", Query: store.Query{Types: []string{"Observation"}, Clauses: exact("combo-code", "8480-6").Clauses}}
		find("Patient?_has:Observation:subject:combo-code=8480-6", store.Query{Types: []string{"Patient"},
			Clauses: []store.Clause{{Any: []store.Condition{{Has: &has}}}}}, "p1")
	}
	check()

	// An update deletes its rows and none of the shared ones.
	a2 := sharedObservation(t, x, "a", "Patient/p2", "8480-6", 125, 85)
	a2.Version = 2
	if err := s.Commit(ctx, []store.Write{a2}); err != nil {
		t.Fatal(err)
	}
	find("after the update, subject=Patient/p1", exact("subject", "Patient/p1"), "")
	find("after the update, subject=Patient/p2", exact("subject", "Patient/p2"), "a")
	find("after the update, combo-code=8462-4", exact("combo-code", "8462-4"), "a b")
	find("after the update, subject:missing=false", one(store.Condition{Param: "subject", Op: store.OpMissing, Text: "false"}), "a b")
}

// TestOpenVersion3 checks that a version 3 file, which has a row for every
// entry, opens as version 4 and is searched and updated correctly: the
// rows of both parameters find a resource once, and an update deletes them.
func TestOpenVersion3(t *testing.T) {
	ctx := context.Background()
	s, path := openClosable(t)
	x := search.NewExtractor(search.DefaultRegistry())
	if err := s.Commit(ctx, []store.Write{sharedObservation(t, x, "a", "Patient/p1", "8480-6", 120, 80)}); err != nil {
		t.Fatal(err)
	}
	// What version 3 wrote: a row for each shared entry, listed as any other.
	var blob []byte
	if err := s.writer.QueryRowContext(ctx, `SELECT entries FROM idx_entries`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	var v3 []byte
	var rows int
	var execErr error
	err := eachEntry(blob, func(e entry) bool {
		switch e.kind {
		case entryTextShared:
			e.kind = entryText
			_, execErr = s.writer.ExecContext(ctx, `INSERT INTO idx_text VALUES (?, ?, 'Observation', 1)`, e.param, e.text)
			rows++
		case entryRangeShared:
			e.kind = entryRange
			_, execErr = s.writer.ExecContext(ctx, `INSERT INTO idx_range VALUES (?, 'Observation', ?, ?, ?, 1)`, e.param, e.low, e.high, e.text)
			rows++
		}
		v3 = appendEntry(v3, e.kind, e.param, e.text, e.low, e.high)
		return execErr == nil
	})
	if err = errors.Join(err, execErr); err != nil || rows == 0 {
		t.Fatalf("%d shared entries: %v", rows, err)
	}
	if _, err := s.writer.ExecContext(ctx, `UPDATE idx_entries SET entries = ?`, v3); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path, `PRAGMA user_version = 3`)
	var version int
	if err := s.writer.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil || version != schemaVersion {
		t.Errorf("user_version %d (%v), want %d", version, err, schemaVersion)
	}
	total := func(param, text string) int {
		t.Helper()
		res, err := s.Search(ctx, store.Query{Types: []string{"Observation"}, Count: 10, Total: true,
			Clauses: []store.Clause{{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: text}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resources) != res.Total {
			t.Errorf("%s=%s: %d resources, total %d", param, text, len(res.Resources), res.Total)
		}
		return res.Total
	}
	if n := total("subject", "Patient/p1"); n != 1 {
		t.Errorf("subject=Patient/p1 in a version 3 file: %d matches, want 1", n)
	}
	update := sharedObservation(t, x, "a", "Patient/p2", "8480-6", 125, 85)
	update.Version = 2
	if err := s.Commit(ctx, []store.Write{update}); err != nil {
		t.Fatal(err)
	}
	if n := total("subject", "Patient/p1"); n != 0 {
		t.Errorf("subject=Patient/p1 after the update: %d matches, want 0", n)
	}
	if n := total("subject", "Patient/p2"); n != 1 {
		t.Errorf("subject=Patient/p2 after the update: %d matches, want 1", n)
	}
}
