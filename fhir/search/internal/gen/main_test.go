package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTableIsUpToDate regenerates the table from the specification's
// definitions and compares it with the committed one.
func TestTableIsUpToDate(t *testing.T) {
	in := filepath.Join("..", "..", "..", "..", "..", "shared", "fhir-r4", "definitions", "search-parameters.json.gz")
	if _, err := os.Stat(in); err != nil {
		t.Skipf("SearchParameter definitions not found at %s: %v", in, err)
	}
	params, err := load(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 1400 {
		t.Errorf("%d definitions, want the 1,400 of FHIR R4", len(params))
	}
	rows, err := tabulate(params)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "registry.tsv")
	if err := write(out, rows); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "registry.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(committed) {
		t.Error("registry.tsv is stale: run go generate ./fhir/search")
	}
}

func TestExpressionFor(t *testing.T) {
	tests := []struct{ typ, expr, want string }{
		{"Patient", "Patient.name | Person.name", "Patient.name"},
		{"Medication", "Medication.code | (MedicationRequest.medication as CodeableConcept)", "Medication.code"},
		{"MedicationRequest", "Medication.code | (MedicationRequest.medication as CodeableConcept)", "(MedicationRequest.medication as CodeableConcept)"},
		{"Patient", "Patient.telecom.where(system='a|b')", "Patient.telecom.where(system='a|b')"},
		{"Resource", "Resource.meta.tag", "Resource.meta.tag"},
	}
	for _, tt := range tests {
		if got := expressionFor(tt.typ, tt.expr); got != tt.want {
			t.Errorf("expressionFor(%q, %q) = %q, want %q", tt.typ, tt.expr, got, tt.want)
		}
	}
}
