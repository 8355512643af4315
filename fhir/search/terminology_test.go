package search

import (
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

const (
	actCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	genderSystem  = "http://hl7.org/fhir/administrative-gender"
	genderValues  = "http://hl7.org/fhir/ValueSet/administrative-gender"
	obsStatus     = "http://hl7.org/fhir/observation-status"
	obsStatusVals = "http://hl7.org/fhir/ValueSet/observation-status"
)

func TestBoundSystem(t *testing.T) {
	t.Parallel()
	tests := []struct{ typ, code, want string }{
		{"Patient", "gender", genderSystem},
		{"Observation", "status", obsStatus},
		{"Observation", "code", ""}, // a CodeableConcept
		{"Patient", "language", ""}, // a CodeableConcept
		{"Patient", "nope", ""},     // no such parameter
		{"Resource", "_tag", ""},    // a Coding
		{"Encounter", "status", "http://hl7.org/fhir/encounter-status"},
	}
	for _, tt := range tests {
		if got := BoundSystem(tt.typ, tt.code); got != tt.want {
			t.Errorf("BoundSystem(%s, %s) = %q, want %q", tt.typ, tt.code, got, tt.want)
		}
	}
}

func TestExtractBoundCode(t *testing.T) {
	t.Parallel()
	entries, err := Extract("Patient", readExample(t, "Patient-example"))
	if err != nil {
		t.Fatal(err)
	}
	var gender []string
	for _, e := range entries {
		if e.Param == "gender" {
			gender = append(gender, e.Text)
		}
	}
	slices.Sort(gender)
	want := []string{genderSystem + "|male", "male"}
	if !slices.Equal(gender, want) {
		t.Errorf("gender entries = %v, want %v", gender, want)
	}
}

func TestValueSetCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want map[string][]string
	}{
		{genderValues, map[string][]string{genderSystem: {"female", "male", "other", "unknown"}}},
		{genderValues + "|4.0.1", map[string][]string{genderSystem: {"female", "male", "other", "unknown"}}},
		{"http://example.org/unknown", nil},
		// SNOMED CT is not in the specification: not enumerable.
		{"http://hl7.org/fhir/ValueSet/clinical-findings", nil},
	}
	for _, tt := range tests {
		got, ok := ValueSetCodes(tt.url)
		if ok != (tt.want != nil) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ValueSetCodes(%s) = %v, %v; want %v", tt.url, got, ok, tt.want)
		}
	}
}

func TestSubsumed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		system, code string
		below        bool
		want         []string // a subset of the result
		absent       []string
		known        bool
	}{
		{actCode, "IMP", true, []string{"IMP", "ACUTE", "NONAC"}, []string{"AMB", "_ActEncounterCode"}, true},
		{actCode, "ACUTE", false, []string{"ACUTE", "IMP", "_ActEncounterCode"}, []string{"NONAC"}, true},
		{obsStatus, "amended", true, []string{"amended", "corrected"}, []string{"final"}, true},
		{obsStatus, "final", true, []string{"final"}, []string{"amended"}, true},
		{"http://loinc.org", "1234-5", true, nil, nil, false},
	}
	for _, tt := range tests {
		got, known := Subsumed(tt.system, tt.code, tt.below)
		if known != tt.known {
			t.Errorf("Subsumed(%s, %s): known %v, want %v", tt.system, tt.code, known, tt.known)
			continue
		}
		if len(got) > 0 && got[0] != tt.code {
			t.Errorf("Subsumed(%s, %s) = %v: does not start with the code", tt.system, tt.code, got)
		}
		for _, c := range tt.want {
			if !slices.Contains(got, c) {
				t.Errorf("Subsumed(%s, %s, below %v) = %v, want %s in it", tt.system, tt.code, tt.below, got, c)
			}
		}
		for _, c := range tt.absent {
			if slices.Contains(got, c) {
				t.Errorf("Subsumed(%s, %s, below %v) = %v, want no %s", tt.system, tt.code, tt.below, got, c)
			}
		}
	}
}

func TestParseTokenModifiers(t *testing.T) {
	t.Parallel()
	exact := func(texts ...string) []store.Condition {
		var out []store.Condition
		for _, text := range texts {
			out = append(out, store.Condition{Param: "gender", Op: store.OpExact, Text: text})
		}
		return out
	}
	plan := Parse("Patient", url.Values{"gender:in": {genderValues}})
	want := exact(genderSystem+"|female", genderSystem+"|male", genderSystem+"|other", genderSystem+"|unknown")
	if len(plan.Ignored) > 0 || len(plan.Query.Clauses) != 1 || !reflect.DeepEqual(plan.Query.Clauses[0].Any, want) {
		t.Errorf(":in = %+v (ignored %+v), want one clause %+v", plan.Query.Clauses, plan.Ignored, want)
	}
	plan = Parse("Patient", url.Values{"gender:not-in": {genderValues}})
	if len(plan.Ignored) > 0 || len(plan.Query.Clauses) != 4 {
		t.Fatalf(":not-in = %+v (ignored %+v), want 4 clauses", plan.Query.Clauses, plan.Ignored)
	}
	for i, c := range plan.Query.Clauses {
		w := want[i]
		w.Not = true
		if !reflect.DeepEqual(c.Any, []store.Condition{w}) {
			t.Errorf(":not-in clause %d = %+v, want %+v", i, c.Any, w)
		}
	}
	plan = Parse("Observation", url.Values{"status:below": {obsStatus + "|amended"}})
	got := plan.Query.Clauses[0].Any
	if len(got) < 2 || got[0].Text != obsStatus+"|amended" || !slices.ContainsFunc(got, func(c store.Condition) bool {
		return c.Text == obsStatus+"|corrected"
	}) {
		t.Errorf(":below = %+v", got)
	}
}

func TestCompartments(t *testing.T) {
	t.Parallel()
	if got := CompartmentParams("Patient", "Observation"); !reflect.DeepEqual(got, []string{"subject", "performer"}) {
		t.Errorf("CompartmentParams(Patient, Observation) = %v", got)
	}
	if got := CompartmentParams("Patient", "Organization"); len(got) != 0 {
		t.Errorf("CompartmentParams(Patient, Organization) = %v, want none", got)
	}
	types := CompartmentTypes("Patient")
	if !slices.Contains(types, "Observation") || !slices.Contains(types, "Encounter") || slices.Contains(types, "Organization") ||
		!slices.IsSorted(types) {
		t.Errorf("CompartmentTypes(Patient) = %v", types)
	}
	for _, c := range []string{"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"} {
		if len(CompartmentTypes(c)) == 0 {
			t.Errorf("compartment %s has no types", c)
		}
		// Every compartment parameter is a reference parameter of its type.
		for _, typ := range CompartmentTypes(c) {
			for _, code := range CompartmentParams(c, typ) {
				if p, ok := DefaultRegistry().Lookup(typ, code); !ok || (p.Kind != store.KindReference && p.Kind != store.KindSpecial) {
					t.Errorf("compartment %s: %s.%s is not a reference parameter", c, typ, code)
				}
			}
		}
	}
	clause, ok := CompartmentClause("Patient", "123", "Observation")
	want := []store.Condition{
		{Param: "subject", Op: store.OpExact, Text: "Patient/123"},
		{Param: "performer", Op: store.OpExact, Text: "Patient/123"},
	}
	if !ok || !reflect.DeepEqual(clause.Any, want) {
		t.Errorf("CompartmentClause = %+v, %v; want %+v", clause, ok, want)
	}
	if _, ok := CompartmentClause("Patient", "123", "Organization"); ok {
		t.Error("CompartmentClause(Patient, Organization) reported a clause")
	}
}

// BenchmarkDecodeTerminology measures the one-time cost of the embedded
// terminology table (the first search or extraction pays it).
func BenchmarkDecodeTerminology(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(terminologyTable)))
	for b.Loop() {
		if _, err := decodeTerminology(terminologyTable); err != nil {
			b.Fatal(err)
		}
	}
}
