package search

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

func dayRange(t *testing.T, date string) (float64, float64) {
	t.Helper()
	low, high, err := DateRange(date)
	if err != nil {
		t.Fatal(err)
	}
	return low, high
}

func TestDateRange(t *testing.T) {
	t.Parallel()
	ms := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.UnixMilli())
	}
	tests := []struct{ in, low, high string }{
		{"2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-12-31", "2020-12-31T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-06-01T10:00Z", "2020-06-01T10:00:00Z", "2020-06-01T10:01:00Z"},
		{"2020-06-01T10:00:30+02:00", "2020-06-01T08:00:30Z", "2020-06-01T08:00:31Z"},
		{"2020-06-01T10:00:30.5Z", "2020-06-01T10:00:30.5Z", "2020-06-01T10:00:30.501Z"},
		{"2020-06-01T10:00", "2020-06-01T10:00:00Z", "2020-06-01T10:01:00Z"},
		{"2020-06-01T10:00:30", "2020-06-01T10:00:30Z", "2020-06-01T10:00:31Z"},
	}
	for _, tt := range tests {
		low, high, err := DateRange(tt.in)
		if err != nil || low != ms(tt.low) || high != ms(tt.high) {
			t.Errorf("DateRange(%q) = %v, %v, %v; want %s, %s", tt.in, low, high, err, tt.low, tt.high)
		}
	}
	for _, bad := range []string{"", "20", "2020-13", "2020-02-30", "yesterday", "2020-01-01T25:00Z"} {
		if _, _, err := DateRange(bad); err == nil {
			t.Errorf("DateRange(%q) accepted", bad)
		}
	}
}

func TestParseConditions(t *testing.T) {
	t.Parallel()
	d1974, d1974end := dayRange(t, "1974-12-25")
	y2020, y2020end := dayRange(t, "2020")
	type C = store.Condition
	n54low, n54high, _ := NumberRange("5.4")
	g54low, g54high, _ := scaledRange("5.4", 1e-3)
	tests := []struct {
		typ, query string
		want       []store.Clause // in parameter-name order
	}{
		// Kept exactly as the first version did: conditional interactions rely on them.
		{"Patient", "_id=abc", []store.Clause{{Any: []C{{Param: "_id", Op: store.OpExact, Text: "abc"}}}}},
		{"Patient", "identifier=urn:oid:1.2|12345", []store.Clause{{Any: []C{{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1.2|12345"}}}}},
		{"Basic", "identifier=x", []store.Clause{{Any: []C{{Param: "identifier", Op: store.OpExact, Text: "x"}}}}},
		{"Bundle", "identifier=x", []store.Clause{{Any: []C{{Param: "identifier", Op: store.OpExact, Text: "x"}}}}},
		{"Patient", "_lastUpdated=ge2020", []store.Clause{{Any: []C{{Param: "_lastUpdated", Op: store.OpGe, Low: y2020, High: y2020end}}}}},
		// Tokens.
		{"Observation", "code=http://loinc.org|8480-6,|x,y,http://s|", []store.Clause{{Any: []C{
			{Param: "code", Op: store.OpExact, Text: "http://loinc.org|8480-6"}, {Param: "code", Op: store.OpExact, Text: "|x"},
			{Param: "code", Op: store.OpExact, Text: "y"}, {Param: "code", Op: store.OpPrefix, Text: "http://s|"}}}}},
		{"Observation", "status:not=final", []store.Clause{{Any: []C{{Param: "status", Op: store.OpExact, Text: "final", Not: true}}}}},
		{"Observation", "code:text=Tension Art%C3%A9rielle", []store.Clause{{Any: []C{{Param: "code:text", Op: store.OpPrefix, Text: "tension arterielle"}}}}},
		{"Patient", "active=true", []store.Clause{{Any: []C{{Param: "active", Op: store.OpExact, Text: "true"}}}}},
		{"Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|7", []store.Clause{{Any: []C{
			{Param: "identifier:of-type", Op: store.OpExact, Text: "http://terminology.hl7.org/CodeSystem/v2-0203|MR|7"}}}}},
		{"Patient", "gender:missing=true", []store.Clause{{Any: []C{{Param: "gender", Op: store.OpMissing, Text: "true"}}}}},
		// Strings: prefix on the folded value by default.
		{"Patient", "name=H%C3%A9l%C3%A8ne", []store.Clause{{Any: []C{{Param: "name", Op: store.OpPrefix, Text: "helene"}}}}},
		{"Patient", "family:contains=ALM", []store.Clause{{Any: []C{{Param: "family", Op: store.OpContains, Text: "alm"}}}}},
		{"Patient", "family:exact=Chalmers", []store.Clause{{Any: []C{{Param: "family:exact", Op: store.OpExact, Text: "Chalmers"}}}}},
		{"Patient", `family=a\,b,c`, []store.Clause{{Any: []C{{Param: "family", Op: store.OpPrefix, Text: "a,b"}, {Param: "family", Op: store.OpPrefix, Text: "c"}}}}},
		// AND: repeated parameters give one clause each.
		{"Patient", "given=pe&given=ja", []store.Clause{
			{Any: []C{{Param: "given", Op: store.OpPrefix, Text: "pe"}}}, {Any: []C{{Param: "given", Op: store.OpPrefix, Text: "ja"}}}}},
		// Dates with every prefix.
		{"Patient", "birthdate=1974-12-25", []store.Clause{{Any: []C{{Param: "birthdate", Op: store.OpEq, Low: d1974, High: d1974end}}}}},
		{"Patient", "birthdate=eq1974-12-25&birthdate=ne1974-12-25&birthdate=gt1974-12-25&birthdate=lt1974-12-25&birthdate=ge1974-12-25&birthdate=le1974-12-25&birthdate=sa1974-12-25&birthdate=eb1974-12-25&birthdate=ap1974-12-25",
			[]store.Clause{
				{Any: []C{{Param: "birthdate", Op: store.OpEq, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpNe, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpGt, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpLt, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpGe, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpLe, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpSa, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpEb, Low: d1974, High: d1974end}}},
				{Any: []C{{Param: "birthdate", Op: store.OpOverlap, Low: d1974, High: d1974end}}},
			}},
		{"Patient", "birthdate:missing=false", []store.Clause{{Any: []C{{Param: "birthdate", Op: store.OpMissing, Text: "false"}}}}},
		// Numbers: the precision range; ap widens by 10%.
		// gt and lt compare with the value itself, ge and le with its precision range.
		{"RiskAssessment", "probability=gt0.8", []store.Clause{{Any: []C{{Param: "probability", Op: store.OpGt, Low: 0.8, High: 0.8}}}}},
		{"RiskAssessment", "probability=lt0.8", []store.Clause{{Any: []C{{Param: "probability", Op: store.OpLt, Low: 0.8, High: 0.8}}}}},
		{"RiskAssessment", "probability=ge0.8", []store.Clause{{Any: []C{{Param: "probability", Op: store.OpGe, Low: 0.75, High: 0.85}}}}},
		{"RiskAssessment", "probability=ap100", []store.Clause{{Any: []C{{Param: "probability", Op: store.OpOverlap, Low: 89.5, High: 110.5}}}}},
		// Quantities: unit as system|code; UCUM units that canonicalise
		// compare canonical values, others the values as written.
		{"Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg", []store.Clause{{Any: []C{
			{Param: "value-quantity:canonical", Op: store.OpEq, Text: "http://unitsofmeasure.org|g", Low: g54low, High: g54high}}}}},
		{"Observation", "value-quantity=le5.4||mg", []store.Clause{{Any: []C{{Param: "value-quantity:canonical", Op: store.OpLe, Text: "g", Low: g54low, High: g54high}}}}},
		{"Observation", "value-quantity=5.4|http://unitsofmeasure.org|Cel", []store.Clause{{Any: []C{
			{Param: "value-quantity", Op: store.OpEq, Text: "http://unitsofmeasure.org|Cel", Low: n54low, High: n54high}}}}},
		{"Observation", "value-quantity=5.4||mm[Hg]", []store.Clause{{Any: []C{{Param: "value-quantity", Op: store.OpEq, Text: "mm[Hg]", Low: n54low, High: n54high}}}}},
		{"Observation", "value-quantity=5.4", []store.Clause{{Any: []C{{Param: "value-quantity", Op: store.OpEq, Low: n54low, High: n54high}}}}},
		{"Observation", "value-quantity=5|http://snomed.info/sct|258684004", []store.Clause{{Any: []C{
			{Param: "value-quantity", Op: store.OpEq, Text: "http://snomed.info/sct|258684004", Low: 4.5, High: 5.5}}}}},
		// References.
		{"Observation", "subject=Patient/123", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpExact, Text: "Patient/123"}}}}},
		{"Observation", "subject=123", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpExact, Text: "123"}}}}},
		{"Observation", "subject:Patient=123", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpExact, Text: "Patient/123"}}}}},
		{"Observation", "subject:Patient=Patient/123", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpExact, Text: "Patient/123"}}}}},
		{"Observation", "subject:identifier=urn:ins|1", []store.Clause{{Any: []C{{Param: "subject:identifier", Op: store.OpExact, Text: "urn:ins|1"}}}}},
		{"Observation", "subject=Patient/123/_history/2", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpExact, Text: "Patient/123"}}}}},
		{"Observation", "subject:missing=true", []store.Clause{{Any: []C{{Param: "subject", Op: store.OpMissing, Text: "true"}}}}},
		// URIs.
		{"ValueSet", "url=http://acme.org/fhir/ValueSet/1", []store.Clause{{Any: []C{{Param: "url", Op: store.OpExact, Text: "http://acme.org/fhir/ValueSet/1"}}}}},
		{"ValueSet", "url:below=http://acme.org/fhir", []store.Clause{{Any: []C{{Param: "url", Op: store.OpPrefix, Text: "http://acme.org/fhir"}}}}},
		{"ValueSet", "url:above=http://acme.org/fhir/ValueSet", []store.Clause{{Any: []C{
			{Param: "url", Op: store.OpExact, Text: "http://acme.org/fhir/ValueSet"},
			{Param: "url", Op: store.OpExact, Text: "http://acme.org/fhir"},
			{Param: "url", Op: store.OpExact, Text: "http://acme.org"}}}}},
		// Common parameters.
		{"Patient", "_tag=http://s|x", []store.Clause{{Any: []C{{Param: "_tag", Op: store.OpExact, Text: "http://s|x"}}}}},
		{"", "_profile=http://p", []store.Clause{{Any: []C{{Param: "_profile", Op: store.OpExact, Text: "http://p"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"?"+tt.query, func(t *testing.T) {
			t.Parallel()
			params, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			plan := Parse(tt.typ, params)
			if len(plan.Ignored) > 0 {
				t.Fatalf("Ignored = %+v", plan.Ignored)
			}
			if !reflect.DeepEqual(plan.Query.Clauses, tt.want) {
				t.Errorf("Clauses = %+v\nwant      %+v", plan.Query.Clauses, tt.want)
			}
			for name := range params {
				if _, ok := plan.Applied[name]; !ok {
					t.Errorf("Applied lacks %s: %v", name, plan.Applied)
				}
			}
		})
	}
}

func TestParseIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, query string
		message    string // a part of the issue's message
		deferred   bool
	}{
		{"Patient", "nope=1", `unknown search parameter "nope" for Patient`, false},
		{"", "name=x", `unknown search parameter "name" for a search across all types`, false},
		{"Patient", "birthdate=yesterday", `invalid date "yesterday"`, false},
		{"Patient", "birthdate=ge", `invalid date "ge"`, false},
		{"RiskAssessment", "probability=high", `invalid number "high"`, false},
		{"RiskAssessment", "probability=1e999999999", `invalid number "1e999999999"`, false},
		{"Observation", "value-quantity=5|http://unitsofmeasure.org", `is not number|system|code`, false},
		{"Patient", "gender:missing=maybe", `not true or false`, false},
		{"Patient", "name:below=x", `modifier :below is not supported on string parameters`, false},
		{"Patient", "identifier:of-type=MR|7", `is not system|code|value`, false},
		{"Observation", "subject:Medication=1", `Medication is not a target type`, false},
		{"Observation", "subject:Patient=Group/1", `names another type`, false},
		{"Location", "near=1|2|3|furlong", `unit "furlong" is not km, m or [mi_i]`, false},
		{"Location", "near=91|2|3|km", `invalid latitude or longitude`, false},
		{"Location", "near=1|2|-3|km", `invalid distance`, false},
		{"Location", "near=1|2,3|4", `one point only`, false},
		{"Patient", "phonetic=smith", `search parameter "phonetic" is not supported`, false},
		{"Observation", "subject.nope=1", `unknown search parameter "nope"`, false},
		{"Observation", "code.name=1", `chaining needs a reference parameter`, false},
		{"Patient", "_has:Observation:code:code=1", "code is not a reference parameter", false},
		{"Patient", "_has:observation=1", "want _has:Type:reference:parameter", false},
		{"Observation", "code-value-quantity=http://loinc.org|8480-6", "has 1 parts, want 2", false},
		{"", "_type=Patient,Nope", `unknown resource type "Nope"`, false},
		{"Patient", "gender:in=http://vs", `value set "http://vs" is unknown or cannot be expanded`, false},
		{"Patient", "gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender,http://x", `takes one value set, not 2`, false},
		{"Observation", "code:below=1234", `is not system|code`, false},
		{"Observation", "code:below=http://loinc.org|1234", `no hierarchy is known for code system http://loinc.org`, false},
		{"Patient", "_text:exact=x", `modifier :exact is not supported`, false},
		{"Patient", "_content=peter smith,jones", `each must be one word`, false},
		{"Patient", "_content=---", `no words`, false},
		{"Patient", "_filter=name eq x", `_filter is not supported`, false},
		{"Patient", "_query=current", `_query (named queries) is not supported`, false},
		{"Patient", "_list=42", `the list is read by the caller`, true},
		{"Observation", "subject:Patient.nope=1", `unknown search parameter "nope" for Patient`, false},
		{"Observation", "subject:Medication.code=1", `Medication is not a target type of subject`, false},
		{"Observation", "subject:text.name=1", `modifier :text cannot start a chain`, false},
		{"Observation", "subject.organization.nope=1", `unknown search parameter "nope" for Organization`, false},
		{"Observation", "subject:Patient.birthdate=yesterday", `invalid date "yesterday"`, false},
		{"Patient", "_has:Observation:encounter:code=1", `Observation.encounter cannot point to Patient`, false},
		{"Patient", "_has:Nope:patient:code=1", `unknown resource type "Nope"`, false},
		{"Patient", "_has:Observation:patient:nope=1", `unknown search parameter "nope" for Observation`, false},
		{"Patient", "_has:Observation:patient:_has:Nope:x:y=1", `unknown resource type "Nope"`, false},
		{"Patient", "link.link.link.link.link.name=x", `nest at most 4 deep`, false},
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$high", `invalid quantity "high"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"?"+tt.query, func(t *testing.T) {
			t.Parallel()
			params, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			plan := Parse(tt.typ, params)
			if len(plan.Query.Clauses) != 0 || len(plan.Applied) != 0 {
				t.Errorf("applied %v as %+v, want it ignored", plan.Applied, plan.Query.Clauses)
			}
			if len(plan.Ignored) != 1 || !strings.Contains(plan.Ignored[0].Message, tt.message) {
				t.Fatalf("Ignored = %+v, want one issue containing %q", plan.Ignored, tt.message)
			}
			if got := len(plan.Deferred) == 1; got != tt.deferred {
				t.Errorf("Deferred = %+v, want deferred %v", plan.Deferred, tt.deferred)
			}
		})
	}
}

// TestParseChainsAndHas checks the store conditions of chains and _has.
func TestParseChainsAndHas(t *testing.T) {
	t.Parallel()
	exact := func(param, text string) store.Clause {
		return store.Clause{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: text}}}
	}
	prefix := func(param string, texts ...string) store.Clause {
		var c store.Clause
		for _, text := range texts {
			c.Any = append(c.Any, store.Condition{Param: param, Op: store.OpPrefix, Text: text})
		}
		return c
	}
	chain := func(param string, types []string, clauses ...store.Clause) store.Clause {
		return store.Clause{Any: []store.Condition{{Param: param, Chain: &store.Query{Types: types, Clauses: clauses}}}}
	}
	has := func(typ, ref string, clauses ...store.Clause) store.Clause {
		return store.Clause{Any: []store.Condition{{Has: &store.Reverse{Param: ref, Query: store.Query{Types: []string{typ}, Clauses: clauses}}}}}
	}
	tests := []struct {
		typ, name, value string
		want             []store.Clause
	}{
		{"Observation", "subject:Patient.name", "peter", []store.Clause{
			chain("subject", []string{"Patient"}, prefix("name", "peter"))}},
		{"Observation", "subject:Patient.organization.name", "acme,b\\,c", []store.Clause{
			chain("subject", []string{"Patient"}, chain("organization", []string{"Organization"}, prefix("name", "acme", "b,c")))}},
		// Several targets, no modifier: every target with a "name" string parameter (Group has none).
		{"Observation", "subject.name", "peter", []store.Clause{
			chain("subject", []string{"Location", "Patient"}, prefix("name", "peter"))}},
		{"Observation", "patient.organization.name", "acme", []store.Clause{
			chain("patient", []string{"Patient"}, chain("organization", []string{"Organization"}, prefix("name", "acme")))}},
		{"Encounter", "subject:Patient._has:Observation:patient:code", "1234-5", []store.Clause{
			chain("subject", []string{"Patient"}, has("Observation", "patient", exact("code", "1234-5")))}},
		{"Patient", "_has:Observation:patient:code", "1234-5", []store.Clause{
			has("Observation", "patient", exact("code", "1234-5"))}},
		{"Patient", "_has:Observation:subject:_has:Provenance:target:agent", "Practitioner/1", []store.Clause{
			has("Observation", "subject", has("Provenance", "target", exact("agent", "Practitioner/1")))}},
		{"Patient", "_has:Observation:patient:subject:Patient.name", "x", []store.Clause{
			has("Observation", "patient", chain("subject", []string{"Patient"}, prefix("name", "x")))}},
		{"Observation", "subject:Patient._text", "chest pain", []store.Clause{
			chain("subject", []string{"Patient"}, prefix("_text", "chest"), prefix("_text", "pain"))}},
	}
	for _, tt := range tests {
		plan := Parse(tt.typ, url.Values{tt.name: {tt.value}})
		if len(plan.Ignored) > 0 {
			t.Errorf("%s?%s: ignored %+v", tt.typ, tt.name, plan.Ignored)
			continue
		}
		if !reflect.DeepEqual(plan.Query.Clauses, tt.want) {
			t.Errorf("%s?%s=%s:\n got %s\nwant %s", tt.typ, tt.name, tt.value, dump(plan.Query.Clauses), dump(tt.want))
		}
	}
}

// dump renders clauses with their nested queries.
func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestParseSystemTypes(t *testing.T) {
	t.Parallel()
	plan := Parse("", url.Values{"_type": {"Patient,Observation"}, "_id": {"1"}})
	if !reflect.DeepEqual(plan.Query.Types, []string{"Patient", "Observation"}) || len(plan.Query.Clauses) != 1 {
		t.Errorf("plan = %+v", plan)
	}
	tests := []struct {
		types, param string
		applied      bool
	}{
		{"Patient,Practitioner", "name", true},        // shared, one kind
		{"Organization,Location", "name:exact", true}, // shared, with a modifier
		{"Patient,Observation", "name", false},        // Observation has no name
		{"Patient,Observation", "date", false},        // Patient has no date
		{"", "name", false},                           // no _type: common parameters only
	}
	for _, tt := range tests {
		params := url.Values{tt.param: {"van"}}
		if tt.types != "" {
			params.Set("_type", tt.types)
		}
		plan := Parse("", params)
		_, applied := plan.Applied[tt.param]
		if applied != tt.applied || (applied && len(plan.Query.Clauses) != 1) {
			t.Errorf("Parse(_type=%s, %s) applied=%v clauses=%d ignored=%v; want applied=%v",
				tt.types, tt.param, applied, len(plan.Query.Clauses), plan.Ignored, tt.applied)
		}
	}
}

func TestParseSort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, value string
		keys       []store.SortKey
		issues     int
	}{
		{"Patient", "family,-birthdate", []store.SortKey{{Param: "family", Kind: store.KindString}, {Param: "birthdate", Descending: true, Kind: store.KindDate}}, 0},
		{"Patient", "-_lastUpdated,_id", []store.SortKey{{Param: "_lastUpdated", Descending: true, Kind: store.KindDate}, {Param: "_id", Kind: store.KindToken}}, 0},
		{"Observation", "code-value-quantity,date", []store.SortKey{{Param: "date", Kind: store.KindDate}}, 1},
		{"Patient", "nope,-name", []store.SortKey{{Param: "name", Descending: true, Kind: store.KindString}}, 1},
		{"Patient", "_text", nil, 1},
	}
	for _, tt := range tests {
		keys, issues := ParseSort(tt.typ, tt.value)
		if !reflect.DeepEqual(keys, tt.keys) || len(issues) != tt.issues {
			t.Errorf("ParseSort(%q, %q) = %+v, %+v; want %+v and %d issues", tt.typ, tt.value, keys, issues, tt.keys, tt.issues)
		}
	}
}

// BenchmarkParseChain measures parsing a two-link chain and a nested _has.
func BenchmarkParseChain(b *testing.B) {
	params := url.Values{
		"general-practitioner:Practitioner.name":                {"acme"},
		"_has:Observation:subject:_has:Provenance:target:agent": {"Practitioner/1"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if plan := Parse("Patient", params); len(plan.Query.Clauses) != 2 {
			b.Fatalf("plan %+v", plan)
		}
	}
}
