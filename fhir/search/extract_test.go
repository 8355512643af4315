package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
	"github.com/telehub/telehub/store"
)

// examplesDir is the specification's examples folder.
func examplesDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(specdata.Dir(tb), "fhir-r4", "examples")
}

func readExample(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := os.ReadFile(filepath.Join(examplesDir(tb), name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// entryKey renders an entry for comparison: "param=text" for text kinds,
// "param=[low,high)" (dates as RFC 3339 days) otherwise.
type wantEntry struct {
	param string
	text  string
	low   string // a date (DateRange's low) or ""
	high  string // a date (DateRange's low) or ""
}

func TestExtractExamples(t *testing.T) {
	t.Parallel()
	x := NewExtractor(DefaultRegistry(), WithBaseURL("http://hl7.org/fhir"))
	tests := []struct {
		file, typ string
		want      []wantEntry
		absent    []string // params with no entry
	}{
		{"Patient-example", "Patient", []wantEntry{
			{param: "name", text: "peter"},
			{param: "name", text: "chalmers"},
			{param: "name:exact", text: "Peter"},
			{param: "family", text: "windsor"},
			{param: "given", text: "jim"},
			{param: "identifier", text: "urn:oid:1.2.36.146.595.217.0.1|12345"},
			{param: "identifier", text: "12345"},
			{param: "birthdate", low: "1974-12-25", high: "1974-12-26"},
			{param: "gender", text: "male"},
			{param: "active", text: "true"},
			{param: "phone", text: "phone|(03) 5555 6473"},
			{param: "telecom", text: "(03) 3410 5613"},
			{param: "address-city", text: "pleasantville"},
			{param: "address-use", text: "home"},
			{param: "organization", text: "Organization/1"},
			{param: "deceased", text: "false"},
		}, []string{"_id", "_lastUpdated", "email", "death-date", "general-practitioner", "phonetic"}},
		{"Observation-example", "Observation", []wantEntry{
			{param: "code", text: "http://loinc.org|29463-7"},
			{param: "code", text: "29463-7"},
			{param: "code:text", text: "body weight"},
			{param: "status", text: "final"},
			{param: "subject", text: "Patient/example"},
			{param: "patient", text: "Patient/example"},
			{param: "date", low: "2016-03-28", high: "2016-03-29"},
		}, []string{"performer", "value-concept", "component-code"}},
		{"Observation-blood-pressure", "Observation", []wantEntry{
			{param: "component-code", text: "http://loinc.org|8480-6"},
			{param: "combo-code", text: "http://loinc.org|8462-4"},
			{param: "_profile", text: "http://hl7.org/fhir/StructureDefinition/vitalsigns"},
			{param: "based-on:identifier", text: "https://acme.org/identifiers|1234"},
			{param: "performer", text: "Practitioner/example"},
		}, []string{"value-quantity", "value-concept"}},
		{"Encounter-example", "Encounter", []wantEntry{
			{param: "status", text: "in-progress"},
			{param: "class", text: "http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP"},
			{param: "subject", text: "Patient/example"},
			{param: "patient", text: "Patient/example"},
		}, nil},
		{"Condition-example", "Condition", []wantEntry{
			{param: "clinical-status", text: "http://terminology.hl7.org/CodeSystem/condition-clinical|active"},
			{param: "code:text", text: "burnt ear"},
			{param: "code:text", text: "burn of ear"},
			{param: "body-site", text: "49521004"},
			{param: "onset-date", low: "2012-05-24", high: "2012-05-25"},
			{param: "patient", text: "Patient/example"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			entries, err := x.Extract(tt.typ, readExample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(entries, func(e store.IndexEntry) bool { return matches(t, e, w) }) {
					t.Errorf("no entry %+v among %d entries", w, len(entries))
				}
			}
			for _, param := range tt.absent {
				if i := slices.IndexFunc(entries, func(e store.IndexEntry) bool { return e.Param == param }); i >= 0 {
					t.Errorf("unexpected entry %+v", entries[i])
				}
			}
		})
	}
}

func matches(t *testing.T, e store.IndexEntry, w wantEntry) bool {
	if e.Param != w.param {
		return false
	}
	if w.low == "" {
		return e.Text == w.text
	}
	low, _, err := DateRange(w.low)
	if err != nil {
		t.Fatal(err)
	}
	high, _, err := DateRange(w.high)
	if err != nil {
		t.Fatal(err)
	}
	return e.Low == low && e.High == high
}

// TestExtractKeepsIdentifier: the entries of identifier are those the first
// version produced, for a type with and one without an identifier parameter.
func TestExtractKeepsIdentifier(t *testing.T) {
	t.Parallel()
	body := []byte(`{"resourceType":"Binary","id":"b","identifier":[{"system":"urn:s","value":"v"}],"contentType":"text/plain",
		"meta":{"tag":[{"system":"urn:t","code":"x"}]}}`)
	patient := []byte(`{"resourceType":"Patient","identifier":[{"system":"urn:s","value":"v"},{"value":"w"}]}`)
	for _, tc := range []struct {
		typ  string
		body []byte
		want []string
	}{
		{"Binary", body, []string{"urn:s|v", "v"}}, // Binary has no identifier element in R4: kept all the same
		{"Patient", patient, []string{"urn:s|v", "v", "|w", "w"}},
	} {
		entries, err := Extract(tc.typ, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			if e.Param == "identifier" {
				if e.Kind != store.KindToken {
					t.Errorf("identifier entry of kind %s", e.Kind)
				}
				got = append(got, e.Text)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s identifier entries = %q, want %q", tc.typ, got, tc.want)
		}
	}
}

// TestExtractAllExamples runs extraction over every example resource of the
// specification: none may fail, and every parameter expression compiles.
func TestExtractAllExamples(t *testing.T) {
	t.Parallel()
	x := NewExtractor(DefaultRegistry())
	if skipped := x.Skipped(); len(skipped) > 0 {
		t.Errorf("expressions that do not compile: %v", skipped)
	}
	files, err := filepath.Glob(filepath.Join(examplesDir(t), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		typ, _, _ := strings.Cut(filepath.Base(f), "-")
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var resource map[string]any
		if err := dec.Decode(&resource); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		entries := x.extract(typ, resource, func(err error) {
			t.Errorf("%s: %v", filepath.Base(f), err)
		})
		total += len(entries)
		for _, e := range entries {
			if e.Kind == store.KindDate && !(e.Low < e.High) {
				t.Errorf("%s: empty date range %+v", filepath.Base(f), e)
			}
		}
	}
	t.Logf("%d examples, %d index entries", len(files), total)
}

// BenchmarkExtract measures extraction with everything indexed (the
// default), without _text/_content, and without composites either (what
// was indexed before composites and full text were on by default).
func BenchmarkExtract(b *testing.B) {
	configs := []struct {
		name string
		opts []ExtractorOption
	}{
		{"default", nil},
		{"no-fulltext", []ExtractorOption{WithoutFullText()}},
		{"no-fulltext-no-composites", []ExtractorOption{WithoutFullText(), WithoutComposites()}},
	}
	for _, cfg := range configs {
		x := NewExtractor(DefaultRegistry(), cfg.opts...)
		for _, bc := range []struct{ file, typ string }{
			{"Patient-example", "Patient"},
			{"Observation-example", "Observation"},
			{"Observation-blood-pressure", "Observation"},
			{"Observation-f001", "Observation"}, // a quantity with a canonical form
			{"Location-1", "Location"},          // a position, for near
		} {
			body := readExample(b, bc.file)
			b.Run(cfg.name+"/"+bc.file, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := x.Extract(bc.typ, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestExtractTypeWithoutParameters: a type with no parameters of its own
// gets the common ones.
func TestExtractTypeWithoutParameters(t *testing.T) {
	t.Parallel()
	body := []byte(`{"resourceType":"Binary","id":"b","contentType":"text/plain",
		"meta":{"tag":[{"system":"urn:t","code":"x"}],"profile":["http://p"],"source":"urn:src"}}`)
	entries, err := Extract("Binary", body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []store.IndexEntry{
		{Param: "_tag", Kind: store.KindToken, Text: "urn:t|x"},
		{Param: "_profile", Kind: store.KindURI, Text: "http://p"},
		{Param: "_source", Kind: store.KindURI, Text: "urn:src"},
	} {
		if !slices.Contains(entries, want) {
			t.Errorf("no entry %+v in %+v", want, entries)
		}
	}
}

// TestExtractConcurrently: one Extractor serves concurrent writes (run with
// -race to check it shares nothing mutable).
func TestExtractConcurrently(t *testing.T) {
	t.Parallel()
	x := NewExtractor(DefaultRegistry())
	body := readExample(t, "Observation-blood-pressure")
	want, err := x.Extract("Observation", body)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := x.Extract("Observation", body)
			if err == nil && !slices.Equal(got, want) {
				err = errors.New("different entries from a concurrent extraction")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
