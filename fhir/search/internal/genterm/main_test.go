package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestTableIsUpToDate regenerates the table from the specification's
// definitions and compares it with the committed one.
func TestTableIsUpToDate(t *testing.T) {
	defs := filepath.Join("..", "..", "..", "..", "..", "shared", "fhir-r4", "definitions")
	if _, err := os.Stat(filepath.Join(defs, "terminology.json.gz")); err != nil {
		t.Skipf("FHIR R4 definitions not found at %s: %v", defs, err)
	}
	table, err := build(defs, filepath.Join("..", "..", "registry.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "terminology.json.gz")
	if err := write(out, table); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gunzip(t, out), gunzip(t, filepath.Join("..", "..", "terminology.json.gz"))) {
		t.Error("terminology.json.gz is stale: run go generate ./fhir/search")
	}
	for _, tt := range []struct {
		what string
		got  any
		want any
	}{
		{"Patient gender binding", table.Bindings["Patient"]["gender"], "http://hl7.org/fhir/administrative-gender"},
		{"administrative-gender codes", table.ValueSets["http://hl7.org/fhir/ValueSet/administrative-gender"],
			map[string][]string{"http://hl7.org/fhir/administrative-gender": {"female", "male", "other", "unknown"}}},
		{"ACUTE's parent", table.Hierarchies["http://terminology.hl7.org/CodeSystem/v3-ActCode"]["ACUTE"], []string{"IMP"}},
		{"Observation in the Patient compartment", table.Compartments["Patient"]["Observation"], []string{"subject", "performer"}},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExpand(t *testing.T) {
	systems := map[string]codeSystem{
		"urn:small": {URL: "urn:small", Content: "complete", Concept: []concept{{Code: "a", Concept: []concept{{Code: "b"}}}}},
		"urn:frag":  {URL: "urn:frag", Content: "fragment", Concept: []concept{{Code: "x"}}},
	}
	vs := func(url string, incs ...include) valueSet {
		v := valueSet{URL: url}
		v.Compose = &struct {
			Include []include         `json:"include"`
			Exclude []json.RawMessage `json:"exclude"`
		}{Include: incs}
		return v
	}
	listed := include{System: "urn:other"}
	listed.Concept = append(listed.Concept, struct {
		Code string `json:"code"`
	}{Code: "z"})
	valueSets := map[string]valueSet{
		"urn:vs:whole":    vs("urn:vs:whole", include{System: "urn:small"}),
		"urn:vs:listed":   vs("urn:vs:listed", listed),
		"urn:vs:import":   vs("urn:vs:import", include{ValueSet: []string{"urn:vs:whole|1.0"}}, listed),
		"urn:vs:fragment": vs("urn:vs:fragment", include{System: "urn:frag"}),
		"urn:vs:filter":   vs("urn:vs:filter", include{System: "urn:small", Filter: []json.RawMessage{[]byte(`{}`)}}),
	}
	tests := []struct {
		url  string
		want map[string][]string
	}{
		{"urn:vs:whole", map[string][]string{"urn:small": {"a", "b"}}},
		{"urn:vs:listed", map[string][]string{"urn:other": {"z"}}},
		{"urn:vs:import", map[string][]string{"urn:small": {"a", "b"}, "urn:other": {"z"}}},
		{"urn:vs:fragment", nil},
		{"urn:vs:filter", nil},
		{"urn:vs:unknown", nil},
	}
	for _, tt := range tests {
		got, _ := expand(tt.url, valueSets, systems, 0)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("expand(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
	if got := singleSystem("urn:vs:import", valueSets); got != "" {
		t.Errorf("singleSystem of a value set with an import = %q, want none", got)
	}
	if got := singleSystem("urn:vs:whole|4.0.1", valueSets); got != "urn:small" {
		t.Errorf("singleSystem(urn:vs:whole) = %q, want urn:small", got)
	}
}
