package search

import (
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestCompositeEntries(t *testing.T) {
	t.Parallel()
	x := NewExtractor(DefaultRegistry(), WithComposites())
	entries, err := x.Extract("Observation", readExample(t, "Observation-blood-pressure"))
	if err != nil {
		t.Fatal(err)
	}
	systolic, _, _ := NumberRange("107")
	diastolic, _, _ := NumberRange("60")
	has := func(param, text string, low float64) bool {
		return slices.ContainsFunc(entries, func(e store.IndexEntry) bool {
			return e.Param == param && e.Text == text && e.Low == low
		})
	}
	tests := []struct {
		param, text string
		low         float64
		want        bool
	}{
		{"component-code-value-quantity", "http://loinc.org|8480-6$http://unitsofmeasure.org|mm[Hg]", systolic, true},
		{"component-code-value-quantity", "8480-6$mm[Hg]", systolic, true},
		{"component-code-value-quantity", "http://loinc.org|8462-4$http://unitsofmeasure.org|mm[Hg]", diastolic, true},
		{"combo-code-value-quantity", "http://loinc.org|8462-4$mm[Hg]", diastolic, true},
		// The value with any unit has no entry of its own: a search without
		// a unit matches the entries beginning with "code$" (TextPrefix).
		{"component-code-value-quantity", "http://loinc.org|8480-6$", systolic, false},
		// A code is never paired with another component's value.
		{"component-code-value-quantity", "http://loinc.org|8480-6$http://unitsofmeasure.org|mm[Hg]", diastolic, false},
		{"component-code-value-quantity", "http://loinc.org|8462-4$http://unitsofmeasure.org|mm[Hg]", systolic, false},
	}
	for _, tt := range tests {
		if got := has(tt.param, tt.text, tt.low); got != tt.want {
			t.Errorf("entry %s %q low %v present = %v, want %v", tt.param, tt.text, tt.low, got, tt.want)
		}
	}
	plain, err := NewExtractor(DefaultRegistry(), WithoutComposites()).Extract("Observation", readExample(t, "Observation-blood-pressure"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(plain, func(e store.IndexEntry) bool { return e.Param == "component-code-value-quantity" }) {
		t.Error("composites indexed with WithoutComposites")
	}
}

func TestCompositeClause(t *testing.T) {
	t.Parallel()
	r := DefaultRegistry()
	low, high, _ := NumberRange("100")
	d1, d2, _ := DateRange("2020")
	tests := []struct {
		typ, query string
		want       []store.Condition
	}{
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt100", []store.Condition{
			{Param: "component-code-value-quantity", Op: store.OpGt, Text: "http://loinc.org|8480-6$", TextPrefix: true, Low: 100, High: 100}}},
		{"Observation", "code-value-quantity=8480-6$100|http://unitsofmeasure.org|mm[Hg],x$lt100", []store.Condition{
			{Param: "code-value-quantity", Op: store.OpEq, Text: "8480-6$http://unitsofmeasure.org|mm[Hg]", Low: low, High: high},
			{Param: "code-value-quantity", Op: store.OpLt, Text: "x$", TextPrefix: true, Low: 100, High: 100}}},
		// A UCUM unit that canonicalises: the canonical pairs.
		{"Observation", "code-value-quantity=8480-6$100|http://unitsofmeasure.org|mm", []store.Condition{
			{Param: "code-value-quantity:canonical", Op: store.OpEq, Text: "8480-6$http://unitsofmeasure.org|m", Low: 0.0995, High: 0.1005}}},
		{"Observation", "code-value-concept=http://loinc.org|x$http://snomed.info/sct|y", []store.Condition{
			{Param: "code-value-concept", Op: store.OpExact, Text: "http://loinc.org|x$http://snomed.info/sct|y"}}},
		{"Observation", "code-value-string=x$Hél", []store.Condition{
			{Param: "code-value-string", Op: store.OpPrefix, Text: "x$hel"}}},
		{"Observation", "code-value-date=x$ge2020", []store.Condition{
			{Param: "code-value-date", Op: store.OpGe, Text: "x$", Low: d1, High: d2}}},
	}
	for _, tt := range tests {
		params, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		plan := r.Parse(tt.typ, params)
		if len(plan.Ignored) != 0 || len(plan.Query.Clauses) != 1 {
			t.Fatalf("%s: Ignored = %+v, clauses %+v", tt.query, plan.Ignored, plan.Query.Clauses)
		}
		if clause := plan.Query.Clauses[0]; !reflect.DeepEqual(clause.Any, tt.want) {
			t.Errorf("%s: clause = %+v\nwant %+v", tt.query, clause.Any, tt.want)
		}
	}
}
