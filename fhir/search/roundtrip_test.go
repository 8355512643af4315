package search

import (
	"context"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// TestSearchRoundTrip indexes example resources into the embedded store and
// runs parsed searches against it: extraction and parsing must agree on
// every normalisation.
func TestSearchRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "search.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	x := NewExtractor(DefaultRegistry(), WithBaseURL("http://hl7.org/fhir"))
	examples := map[string]string{
		"Patient/example":             "Patient-example",
		"Patient/f001":                "Patient-f001",
		"Patient/pat2":                "Patient-pat2",
		"Observation/example":         "Observation-example",
		"Observation/blood-pressure":  "Observation-blood-pressure",
		"Observation/f001":            "Observation-f001",
		"Condition/example":           "Condition-example",
		"Encounter/example":           "Encounter-example",
		"MedicationRequest/medrx0302": "MedicationRequest-medrx0302",
		"Organization/1":              "Organization-1",
		"Organization/f001":           "Organization-f001",
		"Location/1":                  "Location-1",
	}
	// Resources the examples lack: one with no gender and a short narrative,
	// one pointing to an Observation (for nested _has).
	inline := map[string]string{
		"Patient/anon": `{"resourceType":"Patient","id":"anon","text":{"status":"generated",` +
			`"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Chest pain &amp; fever</p></div>"}}`,
		"Provenance/p1": `{"resourceType":"Provenance","id":"p1","target":[{"reference":"Observation/blood-pressure"}],` +
			`"recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/1"}}]}`,
		// Quantities in a UCUM unit that is not the base unit, and one in
		// a unit that is not UCUM.
		"Observation/length": `{"resourceType":"Observation","id":"length",` +
			`"code":{"coding":[{"system":"http://loinc.org","code":"8306-3"}]},` +
			`"valueQuantity":{"value":25,"unit":"cm","system":"http://unitsofmeasure.org","code":"cm"}}`,
		"Observation/duration": `{"resourceType":"Observation","id":"duration",` +
			`"code":{"text":"duration"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"x"}]},` +
			`"valueQuantity":{"value":140,"unit":"min","system":"http://unitsofmeasure.org","code":"min"}}]}`,
		"Observation/snomed": `{"resourceType":"Observation","id":"snomed","code":{"text":"s"},` +
			`"valueQuantity":{"value":0.5,"system":"http://snomed.info/sct","code":"258684004"}}`,
		// Paris, far from Location/1 (Ann Arbor, 42.25475478, -83.6945691).
		"Location/paris": `{"resourceType":"Location","id":"paris","position":{"latitude":48.8566,"longitude":2.3522}}`,
		// Next to the antimeridian (Fiji).
		"Location/fiji": `{"resourceType":"Location","id":"fiji","position":{"latitude":-17.8,"longitude":179.99}}`,
	}
	for ref := range inline {
		examples[ref] = ""
	}
	var writes []store.Write
	for ref, file := range examples {
		typ, id, _ := strings.Cut(ref, "/")
		body := []byte(inline[ref])
		if file != "" {
			body = readExample(t, file)
		}
		entries, err := x.Extract(typ, body)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		writes = append(writes, store.Write{Type: typ, ID: id, Version: 1, LastUpdated: time.Now().UTC(),
			Method: "PUT", Body: body, Index: entries})
	}
	for _, w := range writes {
		if err := st.Commit(ctx, []store.Write{w}); err != nil {
			t.Fatalf("commit %s/%s: %v", w.Type, w.ID, err)
		}
	}
	tests := []struct {
		typ, query string
		want       []string
	}{
		{"Patient", "name=peter", []string{"example"}},
		{"Patient", "name=PET", []string{"example"}},
		{"Patient", "name:exact=Peter", []string{"example"}},
		{"Patient", "name:exact=peter", nil},
		{"Patient", "name:contains=alm", []string{"example"}},
		{"Patient", "family=chalmers,donald", []string{"example", "pat2"}},
		{"Patient", "family=chalmers&family=donald", nil},
		{"Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|12345", []string{"example"}},
		{"Patient", "identifier=12345", []string{"example"}},
		{"Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345", []string{"example"}},
		{"Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|999", nil},
		{"Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|", []string{"example"}},
		{"Patient", "birthdate=1974-12-25", []string{"example"}},
		{"Patient", "birthdate=1974", []string{"example"}},
		{"Patient", "birthdate=lt1975&birthdate=gt1974-11", []string{"example"}},
		{"Patient", "birthdate=gt1974-12", nil},
		{"Patient", "birthdate=1975", nil},
		{"Patient", "gender=male&name=peter", []string{"example"}},
		{"Patient", "gender:not=male", []string{"anon", "pat2"}},
		{"Patient", "address-city=pleasant", []string{"example"}},
		{"Patient", "organization=Organization/1", []string{"example", "pat2"}},
		{"Patient", "organization:Organization=1", []string{"example", "pat2"}},
		{"Patient", "organization=Organization/2", nil},
		{"Patient", "email:missing=false", []string{"f001"}},
		{"Observation", "code=http://loinc.org|29463-7", []string{"example"}},
		{"Observation", "code:text=body weight", []string{"example"}},
		{"Observation", "subject=Patient/example", []string{"blood-pressure", "example"}},
		{"Observation", "patient=example", []string{"blood-pressure", "example"}},
		{"Observation", "subject:Patient=example", []string{"blood-pressure", "example"}},
		{"Observation", "value-quantity=185|http://unitsofmeasure.org|[lb_av]", []string{"example"}},
		{"Observation", "value-quantity=gt180", []string{"example"}},
		{"Observation", "value-quantity=185", []string{"example"}},
		{"Observation", "component-code=http://loinc.org|8462-4", []string{"blood-pressure"}},
		// Quantities: without a unit, the values as written (f001 is 6.3
		// mmol/L, length 25 cm); with a UCUM unit, canonical values.
		{"Observation", "value-quantity=6.3", []string{"f001"}},
		{"Observation", "value-quantity=6", []string{"f001"}},
		{"Observation", "value-quantity=25", []string{"length"}},
		{"Observation", "value-quantity=lt1", []string{"snomed"}},
		{"Observation", "value-quantity=gt100", []string{"example"}},
		{"Observation", "value-quantity=lt10|http://unitsofmeasure.org|mmol/L", []string{"f001"}},
		{"Observation", "value-quantity=6.3||mmol/L", []string{"f001"}},
		{"Observation", "value-quantity=0.0063|http://unitsofmeasure.org|mol/L", []string{"f001"}},
		{"Observation", "value-quantity=250|http://unitsofmeasure.org|mm", []string{"length"}},
		{"Observation", "value-quantity=0.25|http://unitsofmeasure.org|m", []string{"length"}},
		{"Observation", "value-quantity=25|http://unitsofmeasure.org|cm", []string{"length"}},
		{"Observation", "value-quantity=25|http://unitsofmeasure.org|mm", nil},
		{"Observation", "value-quantity=25|http://unitsofmeasure.org|g", nil},
		{"Observation", "value-quantity=0.5|http://snomed.info/sct|258684004", []string{"snomed"}},
		{"Observation", "value-quantity=0.5||258684004", []string{"snomed"}},
		{"Observation", "component-value-quantity=140", []string{"duration"}},
		{"Observation", "component-value-quantity=2.33|http://unitsofmeasure.org|h", []string{"duration"}},
		{"Observation", "component-code-value-quantity=http://loinc.org|x$140", []string{"duration"}},
		{"Observation", "component-code-value-quantity=http://loinc.org|x$8400|http://unitsofmeasure.org|s", []string{"duration"}},
		{"Observation", "component-code-value-quantity=x$ge2||h", []string{"duration"}},
		{"Observation", "component-code-value-quantity=x$gt3||h", nil},
		// near: a bounding box around the point.
		{"Location", "near=42.25475478|-83.6945691|1|km", []string{"1"}},
		{"Location", "near=42.26|-83.69|5|km", []string{"1"}},
		{"Location", "near=42.26|-83.69|800|m", []string{"1"}},
		{"Location", "near=42.26|-83.69|100|m", nil},
		{"Location", "near=42.26|-83.69|1|[mi_i]", []string{"1"}},
		{"Location", "near=42.26|-83.69", []string{"1"}},
		{"Location", "near=48.8566|2.3522|10|km", []string{"paris"}},
		{"Location", "near=0|0|10|km", nil},
		{"Location", "near=-17.8|-179.99|10|km", []string{"fiji"}},
		{"Location", "near=89.99|0|100|km", nil},
		{"Observation", "date=2016-03-28", []string{"example"}},
		{"Observation", "based-on:identifier=https://acme.org/identifiers|1234", []string{"blood-pressure"}},
		{"Observation", "_profile=http://hl7.org/fhir/StructureDefinition/vitalsigns", []string{"blood-pressure"}},
		{"Condition", "code:text=burnt", []string{"example"}},
		{"Condition", "onset-date=ge2012-05-24", []string{"example"}},
		{"Encounter", "class=IMP", []string{"example"}},
		{"MedicationRequest", "code=http://www.nlm.nih.gov/research/umls/rxnorm|1049640", nil},
		// Chains, one and two links, with and without a :Type modifier.
		{"Observation", "subject:Patient.name=peter", []string{"blood-pressure", "example"}},
		{"Observation", "subject.name=peter", []string{"blood-pressure", "example"}},
		{"Observation", "subject:Patient.name=pieter", []string{"f001"}},
		{"Observation", "subject:Patient.name=nobody", nil},
		{"Observation", "subject:Patient.organization.name=gastro", []string{"blood-pressure", "example"}},
		{"Observation", "patient.organization.name=burgers", []string{"f001"}},
		{"Observation", "patient.organization.name=burgers,gastro", []string{"blood-pressure", "example", "f001"}},
		{"Observation", "patient.organization.name=nowhere", nil},
		{"Observation", "patient.organization:Organization.name=gastro&code=http://loinc.org|29463-7", []string{"example"}},
		// _has, simple and nested.
		{"Patient", "_has:Observation:patient:code=http://loinc.org|29463-7", []string{"example"}},
		{"Patient", "_has:Observation:patient:code=15074-8", []string{"f001"}},
		{"Patient", "_has:Observation:patient:code=0000-0", nil},
		{"Patient", "_has:Observation:subject:_has:Provenance:target:agent=Practitioner/1", []string{"example"}},
		{"Patient", "_has:Observation:subject:_has:Provenance:target:agent=Practitioner/2", nil},
		{"Organization", "_has:Patient:organization:_has:Observation:patient:code=15074-8", []string{"f001"}},
		// Composites: a code and a value of the same component.
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt100", []string{"blood-pressure"}},
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$lt100", nil},
		{"Observation", "component-code-value-quantity=http://loinc.org|8462-4$lt100", []string{"blood-pressure"}},
		{"Observation", "component-code-value-quantity=8480-6$107|http://unitsofmeasure.org|mm[Hg]", []string{"blood-pressure"}},
		{"Observation", "component-code-value-quantity=8480-6$107||mm[Hg]", []string{"blood-pressure"}},
		{"Observation", "component-code-value-quantity=8480-6$107|http://unitsofmeasure.org|kg", nil},
		{"Observation", "component-code-value-quantity=8480-6$60", nil},
		{"Observation", "code-value-quantity=http://loinc.org|29463-7$185|http://unitsofmeasure.org|[lb_av]", []string{"example"}},
		// Quantities with a unit: system and code, code only, canonical UCUM.
		{"Observation", "value-quantity=185||[lb_av]", []string{"example"}},
		{"Observation", "value-quantity=185||kg", nil},
		{"Observation", "value-quantity=6.3|http://unitsofmeasure.org|mmol/L", []string{"f001"}},
		{"Observation", "value-quantity=ge6000|http://unitsofmeasure.org|umol/L", []string{"f001"}},
		{"Observation", "value-quantity=ge7000|http://unitsofmeasure.org|umol/L", nil},
		{"Observation", "value-quantity=6.3|http://unitsofmeasure.org|mg", nil},
		// Codes of bound code elements, with their system.
		{"Patient", "gender=http://hl7.org/fhir/administrative-gender|male", []string{"example", "f001"}},
		{"Patient", "gender=http://hl7.org/fhir/administrative-gender|", []string{"example", "f001", "pat2"}},
		{"Patient", "gender=http://example.org/other|male", nil},
		{"Observation", "status=http://hl7.org/fhir/observation-status|final", []string{"blood-pressure", "example", "f001"}},
		// :in, :not-in on a required value set; :below, :above on a hierarchy.
		{"Patient", "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", []string{"example", "f001", "pat2"}},
		{"Patient", "gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender", []string{"anon"}},
		{"Encounter", "status:in=http://hl7.org/fhir/ValueSet/encounter-status", []string{"example"}},
		{"Encounter", "class:below=http://terminology.hl7.org/CodeSystem/v3-ActCode|_ActEncounterCode", []string{"example"}},
		{"Encounter", "class:below=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP", []string{"example"}},
		{"Encounter", "class:below=http://terminology.hl7.org/CodeSystem/v3-ActCode|ACUTE", nil},
		{"Encounter", "class:above=http://terminology.hl7.org/CodeSystem/v3-ActCode|ACUTE", []string{"example"}},
		{"Encounter", "class:above=http://terminology.hl7.org/CodeSystem/v3-ActCode|_ActEncounterCode", nil},
		// _text (narrative words) and _content (every string's words).
		{"Patient", "_text=chest", []string{"anon"}},
		{"Patient", "_text=FEV chest", []string{"anon"}},
		{"Patient", "_text=chest,heuvel", []string{"anon", "f001"}},
		{"Patient", "_text=chest heuvel", nil},
		{"Patient", "_text=amp", nil},
		{"Patient", "_content=getrouwd", []string{"f001"}},
		{"Patient", "_content=pieter", []string{"f001"}},
		{"Patient", "_content=chest", nil},
		{"Observation", "_content=systolic", []string{"blood-pressure"}},
		{"Observation", "subject:Patient._content=pieter", []string{"f001"}},
	}
	for _, tt := range tests {
		params, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		plan := Parse(tt.typ, params)
		if len(plan.Ignored) > 0 {
			t.Errorf("%s?%s: ignored %+v", tt.typ, tt.query, plan.Ignored)
			continue
		}
		q := plan.Query
		q.Count = 100
		res, err := st.Search(ctx, q)
		if err != nil {
			t.Errorf("%s?%s: %v", tt.typ, tt.query, err)
			continue
		}
		var got []string
		for _, r := range res.Resources {
			got = append(got, r.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s?%s = %v, want %v", tt.typ, tt.query, got, tt.want)
		}
	}
	// _list, once the caller has read the List, and an empty one.
	for _, refs := range [][]string{{"Patient/pat2", "Patient/f001", "Observation/f001"}, nil} {
		plan := Parse("Patient", url.Values{"_list": {"l1"}, "gender": {"male"}})
		plan.ApplyList(refs)
		if got, want := ids(ctx, t, st, plan.Query), []string{"Patient/f001"}; refs == nil && got != nil || refs != nil && !slices.Equal(got, want) {
			t.Errorf("_list of %v = %v", refs, got)
		}
	}
	t.Run("compartment", func(t *testing.T) { roundTripCompartment(ctx, t, st) })
	t.Run("include", func(t *testing.T) { roundTripInclude(ctx, t, st) })
}

// ids runs q and returns the sorted "Type/id" of its matches.
func ids(ctx context.Context, t *testing.T, st store.Store, q store.Query) []string {
	t.Helper()
	q.Count = 100
	res, err := st.Search(ctx, q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	var got []string
	for _, r := range res.Resources {
		got = append(got, r.Type+"/"+r.ID)
	}
	slices.Sort(got)
	return got
}

func roundTripCompartment(ctx context.Context, t *testing.T, st store.Store) {
	tests := []struct {
		compartment, id, typ string
		want                 []string
	}{
		{"Patient", "example", "Observation", []string{"Observation/blood-pressure", "Observation/example"}},
		{"Patient", "f001", "Observation", []string{"Observation/f001"}},
		{"Patient", "example", "Encounter", []string{"Encounter/example"}},
		{"Patient", "pat2", "Observation", nil},
		{"Practitioner", "1", "Provenance", []string{"Provenance/p1"}},
	}
	for _, tt := range tests {
		clause, ok := CompartmentClause(tt.compartment, tt.id, tt.typ)
		if !ok {
			t.Errorf("%s/%s/%s: no compartment clause", tt.compartment, tt.id, tt.typ)
			continue
		}
		q := store.Query{Types: []string{tt.typ}, Clauses: []store.Clause{clause}}
		if got := ids(ctx, t, st, q); !slices.Equal(got, tt.want) {
			t.Errorf("%s/%s/%s = %v, want %v", tt.compartment, tt.id, tt.typ, got, tt.want)
		}
	}
}

func roundTripInclude(ctx context.Context, t *testing.T, st store.Store) {
	r := DefaultRegistry()
	res, err := st.Search(ctx, store.Query{Types: []string{"Observation"}, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ, name, value string
		want             []string
	}{
		{"Observation", "_include", "Observation:subject", []string{"Patient/example", "Patient/f001"}},
		{"Observation", "_include", "Observation:patient:Patient", []string{"Patient/example", "Patient/f001"}},
		{"Observation", "_include", "Observation:subject:Group", nil},
		{"Observation", "_include", "Observation:based-on", nil},
		{"Observation", "_include", "Observation:*", []string{"Encounter/example", "Patient/example", "Patient/f001",
			"Practitioner/example", "Practitioner/f005"}},
		{"Observation", "_include", "*", []string{"Encounter/example", "Patient/example", "Patient/f001",
			"Practitioner/example", "Practitioner/f005"}},
		{"Observation", "_include", "Observation:performer:Practitioner", []string{"Practitioner/example", "Practitioner/f005"}},
		{"Observation", "_include:iterate", "Patient:organization", nil},
	}
	for _, tt := range tests {
		inc, err := r.ParseInclude(tt.typ, tt.name, tt.value)
		if err != nil {
			t.Fatalf("%s=%s: %v", tt.name, tt.value, err)
		}
		got, err := r.IncludeTargets(inc, res.Resources)
		if err != nil {
			t.Fatalf("%s=%s: %v", tt.name, tt.value, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s=%s: targets %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
	// :iterate: the patients included, then their organizations.
	patients := ids(ctx, t, st, store.Query{Types: []string{"Patient"}, Clauses: []store.Clause{{Any: []store.Condition{
		{Param: store.ParamID, Op: store.OpExact, Text: "example"}, {Param: store.ParamID, Op: store.OpExact, Text: "f001"}}}}})
	var pats []store.Resource
	for _, ref := range patients {
		typ, id, _ := strings.Cut(ref, "/")
		p, err := st.Read(ctx, typ, id)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, *p)
	}
	inc, _ := r.ParseInclude("Observation", "_include:iterate", "Patient:organization")
	orgs, err := r.IncludeTargets(inc, pats)
	if slices.Sort(orgs); err != nil || !slices.Equal(orgs, []string{"Organization/1", "Organization/f001"}) {
		t.Errorf("iterated organizations = %v, %v", orgs, err)
	}

	revTests := []struct {
		typ, value string
		refs       []string
		want       []string
	}{
		{"Patient", "Observation:subject", []string{"Patient/example"}, []string{"Observation/blood-pressure", "Observation/example"}},
		{"Patient", "Observation:patient", []string{"Patient/example", "Patient/f001"},
			[]string{"Observation/blood-pressure", "Observation/example", "Observation/f001"}},
		{"Patient", "Observation:*", []string{"Patient/f001"}, []string{"Observation/f001"}},
		{"Patient", "Observation:subject:Group", []string{"Patient/example"}, nil},
		{"Patient", "Encounter:subject", []string{"Patient/pat2"}, nil},
		{"Observation", "Provenance:target", []string{"Observation/blood-pressure"}, []string{"Provenance/p1"}},
	}
	for _, tt := range revTests {
		inc, err := r.ParseInclude(tt.typ, "_revinclude", tt.value)
		if err != nil {
			t.Fatalf("_revinclude=%s: %v", tt.value, err)
		}
		if got := ids(ctx, t, st, r.RevIncludeQuery(inc, tt.refs)); !slices.Equal(got, tt.want) {
			t.Errorf("_revinclude=%s of %v = %v, want %v", tt.value, tt.refs, got, tt.want)
		}
	}
}
