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
	}
	var writes []store.Write
	for ref, file := range examples {
		typ, id, _ := strings.Cut(ref, "/")
		body := readExample(t, file)
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
		{"Patient", "gender:not=male", []string{"pat2"}},
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
		{"Observation", "date=2016-03-28", []string{"example"}},
		{"Observation", "based-on:identifier=https://acme.org/identifiers|1234", []string{"blood-pressure"}},
		{"Observation", "_profile=http://hl7.org/fhir/StructureDefinition/vitalsigns", []string{"blood-pressure"}},
		{"Condition", "code:text=burnt", []string{"example"}},
		{"Condition", "onset-date=ge2012-05-24", []string{"example"}},
		{"Encounter", "class=IMP", []string{"example"}},
		{"MedicationRequest", "code=http://www.nlm.nih.gov/research/umls/rxnorm|1049640", nil},
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
}
