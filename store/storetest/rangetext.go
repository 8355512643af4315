package storetest

import (
	"testing"

	"github.com/telehub/telehub/store"
)

const (
	mg = "http://unitsofmeasure.org|mg"
	g  = "http://unitsofmeasure.org|g"
	kg = "http://unitsofmeasure.org|kg"

	// Composite texts: the first component, "$", the second's unit.
	systolic  = "http://loinc.org|8480-6$http://unitsofmeasure.org|mm[Hg]"
	diastolic = "http://loinc.org|8462-4$http://unitsofmeasure.org|mm[Hg]"
)

// quantity returns a quantity entry: a value range and its "system|code" unit.
func quantity(param, unit string, low, high float64) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindQuantity, Text: unit, Low: low, High: high}
}

// composite returns the entry of a composite parameter as package
// fhir/search makes it: the kind of its second component (here a
// quantity), its range, and a Text naming both components.
func composite(param, text string, low, high float64) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindQuantity, Text: text, Low: low, High: high}
}

// unitCond is a range condition that also requires the entry's Text.
func unitCond(param string, op store.Op, text string, low, high float64) store.Condition {
	return store.Condition{Param: param, Op: op, Text: text, Low: low, High: high}
}

// prefixCond is a range condition whose Text need only begin the entry's.
func prefixCond(param string, op store.Op, text string, low, high float64) store.Condition {
	c := unitCond(param, op, text, low, high)
	c.TextPrefix = true
	return c
}

// testSearchRangeText checks that a range condition with a Text matches an
// entry only when the same entry has that Text: q3 holds 10 kg and 5 mg, so
// it must not match "10 mg" although it has a 10 and an mg.
func testSearchRangeText(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	for _, w := range []store.Write{
		newWrite("Observation", "q1", 1, at(0), "POST", quantity("value-quantity", mg, 10, 11)),
		newWrite("Observation", "q2", 1, at(1000), "POST", quantity("value-quantity", g, 10, 11)),
		newWrite("Observation", "q3", 1, at(2000), "POST",
			quantity("value-quantity", kg, 10, 11), quantity("value-quantity", mg, 5, 6)),
		newWrite("Observation", "q4", 1, at(3000), "POST", quantity("value-quantity", "", 10, 11)),
		newWrite("Observation", "c1", 1, at(4000), "POST",
			composite("component-code-value-quantity", systolic, 120, 121),
			composite("component-code-value-quantity", diastolic, 80, 81)),
		newWrite("Observation", "c2", 1, at(5000), "POST",
			composite("component-code-value-quantity", systolic, 90, 91)),
		newWrite("Observation", "d1", 1, at(5500), "POST",
			store.IndexEntry{Param: "code-value-date", Kind: store.KindDate, Text: "http://loinc.org|21112-8$", Low: 1000, High: 2000},
			store.IndexEntry{Param: "code-value-date", Kind: store.KindDate, Text: "http://loinc.org|11778-8$", Low: 5000, High: 6000}),
		newWrite("Observation", "gone", 1, at(6000), "POST", quantity("value-quantity", mg, 10, 11)),
		deletion("Observation", "gone", 2, at(7000)),
	} {
		commit(t, s, w)
	}
	const bp = "component-code-value-quantity"
	for _, tc := range []struct {
		name string
		cond store.Condition
		want []string
	}{
		{"any unit", rangeCond("value-quantity", store.OpEq, 10, 11),
			[]string{"Observation/q1", "Observation/q2", "Observation/q3", "Observation/q4"}},
		{"mg", unitCond("value-quantity", store.OpEq, mg, 10, 11), []string{"Observation/q1"}},
		{"g", unitCond("value-quantity", store.OpEq, g, 10, 11), []string{"Observation/q2"}},
		{"kg", unitCond("value-quantity", store.OpEq, kg, 10, 11), []string{"Observation/q3"}},
		{"unit of the other entry", unitCond("value-quantity", store.OpEq, mg, 5, 6), []string{"Observation/q3"}},
		{"unit never stored", unitCond("value-quantity", store.OpEq, "http://unitsofmeasure.org|[lb_av]", 10, 11), nil},
		{"gt with unit", unitCond("value-quantity", store.OpGt, mg, 7, 8), []string{"Observation/q1"}},
		{"lt with unit", unitCond("value-quantity", store.OpLt, mg, 7, 8), []string{"Observation/q3"}},
		{"ge with unit", unitCond("value-quantity", store.OpGe, kg, 0, 1), []string{"Observation/q3"}},
		{"ne with unit", unitCond("value-quantity", store.OpNe, mg, 10, 11), []string{"Observation/q3"}},
		{"overlap with unit", unitCond("value-quantity", store.OpOverlap, g, 9, 12), []string{"Observation/q2"}},
		{"not with unit", not(unitCond("value-quantity", store.OpEq, mg, 10, 11)),
			[]string{"Observation/q2", "Observation/q3", "Observation/q4", "Observation/c1", "Observation/c2", "Observation/d1"}},
		{"composite first component", unitCond(bp, store.OpGe, systolic, 100, 101), []string{"Observation/c1"}},
		{"composite other component", unitCond(bp, store.OpGe, diastolic, 100, 101), nil},
		{"composite lt", unitCond(bp, store.OpLt, diastolic, 100, 101), []string{"Observation/c1"}},
		{"composite lt first", unitCond(bp, store.OpLt, systolic, 100, 101), []string{"Observation/c2"}},
		{"composite without text", rangeCond(bp, store.OpLt, 100, 101), []string{"Observation/c1", "Observation/c2"}},
		// The value with any unit: the entries whose Text begins with the
		// first component and "$".
		{"composite any unit", prefixCond(bp, store.OpGe, "http://loinc.org|8480-6$", 100, 101), []string{"Observation/c1"}},
		{"composite any unit lt", prefixCond(bp, store.OpLt, "http://loinc.org|8480-6$", 100, 101), []string{"Observation/c2"}},
		{"composite any unit other code", prefixCond(bp, store.OpGe, "http://loinc.org|8462-4$", 50, 51), []string{"Observation/c1"}},
		{"composite any unit unknown code", prefixCond(bp, store.OpGe, "http://loinc.org|8480$", 0, 1), nil},
		{"composite any unit, no unit stored", prefixCond("code-value-date", store.OpGe, "http://loinc.org|11778-8$", 4000, 4001),
			[]string{"Observation/d1"}},
		{"not composite any unit", not(prefixCond(bp, store.OpLt, "http://loinc.org|8480-6$", 100, 101)),
			[]string{"Observation/q1", "Observation/q2", "Observation/q3", "Observation/q4", "Observation/c1", "Observation/d1"}},
		{"date with text", unitCond("code-value-date", store.OpGe, "http://loinc.org|21112-8$", 4000, 4001), nil},
		{"date with other text", unitCond("code-value-date", store.OpGe, "http://loinc.org|11778-8$", 4000, 4001), []string{"Observation/d1"}},
		{"date without text", rangeCond("code-value-date", store.OpLt, 1500, 1501), []string{"Observation/d1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkSearch(t, s, store.Query{Types: obs, Count: 100, Clauses: []store.Clause{clause(tc.cond)}}, tc.want)
		})
	}
	t.Run("or of units", func(t *testing.T) {
		q := store.Query{Types: obs, Count: 100, Clauses: []store.Clause{clause(
			unitCond("value-quantity", store.OpEq, g, 10, 11), unitCond("value-quantity", store.OpEq, mg, 5, 6))}}
		checkSearch(t, s, q, []string{"Observation/q2", "Observation/q3"})
	})
	t.Run("and of units", func(t *testing.T) {
		q := store.Query{Types: obs, Count: 100, Clauses: []store.Clause{
			clause(unitCond("value-quantity", store.OpEq, kg, 10, 11)), clause(unitCond("value-quantity", store.OpEq, mg, 5, 6))}}
		checkSearch(t, s, q, []string{"Observation/q3"})
	})
}
