package search

import (
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestRegistryLookup(t *testing.T) {
	t.Parallel()
	r := DefaultRegistry()
	tests := []struct {
		typ, code  string
		kind       store.Kind
		expression string
		target     string // one expected target, for references
		components int
	}{
		{"Patient", "name", store.KindString, "Patient.name", "", 0},
		{"Patient", "birthdate", store.KindDate, "Patient.birthDate", "", 0},
		{"Patient", "identifier", store.KindToken, "Patient.identifier", "", 0},
		{"Patient", "_id", store.KindToken, "Patient.id", "", 0},
		{"Patient", "_lastUpdated", store.KindDate, "Patient.meta.lastUpdated", "", 0},
		{"Patient", "_tag", store.KindToken, "Patient.meta.tag", "", 0},
		{"Patient", "_profile", store.KindURI, "Patient.meta.profile", "", 0},
		{"Patient", "_security", store.KindToken, "Patient.meta.security", "", 0},
		{"Patient", "_source", store.KindURI, "Patient.meta.source", "", 0},
		{"Patient", "general-practitioner", store.KindReference, "Patient.generalPractitioner", "Practitioner", 0},
		{"Observation", "value-quantity", store.KindQuantity, "(Observation.value as Quantity) | (Observation.value as SampledData)", "", 0},
		{"Observation", "code-value-quantity", store.KindComposite, "Observation", "", 2},
		{"Observation", "patient", store.KindReference, "Observation.subject.where(resolve() is Patient)", "Patient", 0},
		{"RiskAssessment", "probability", store.KindNumber, "RiskAssessment.prediction.probability", "", 0},
		{"Location", "near", store.KindSpecial, "Location.position", "", 0},
		{"ValueSet", "url", store.KindURI, "ValueSet.url", "", 0},
		// A shared definition keeps only its own type's alternatives.
		{"MedicationRequest", "code", store.KindToken, "(MedicationRequest.medication as CodeableConcept)", "", 0},
		{"Medication", "code", store.KindToken, "Medication.code", "", 0},
		// A type with no parameters of its own still has the common ones.
		{"Binary", "_id", store.KindToken, "Binary.id", "", 0},
		{"", "_lastUpdated", store.KindDate, "Resource.meta.lastUpdated", "", 0},
	}
	for _, tt := range tests {
		p, ok := r.Lookup(tt.typ, tt.code)
		if !ok {
			t.Errorf("Lookup(%q, %q): not found", tt.typ, tt.code)
			continue
		}
		if p.Kind != tt.kind || p.Expression != tt.expression || p.Code != tt.code {
			t.Errorf("Lookup(%q, %q) = %s %q, want %s %q", tt.typ, tt.code, p.Kind, p.Expression, tt.kind, tt.expression)
		}
		if tt.target != "" && !slices.Contains(p.Targets, tt.target) {
			t.Errorf("Lookup(%q, %q).Targets = %v, want %s among them", tt.typ, tt.code, p.Targets, tt.target)
		}
		if len(p.Components) != tt.components {
			t.Errorf("Lookup(%q, %q).Components = %v, want %d", tt.typ, tt.code, p.Components, tt.components)
		}
	}
	for _, miss := range [][2]string{{"Patient", "nope"}, {"Patient", "value-quantity"}, {"", "name"}} {
		if p, ok := r.Lookup(miss[0], miss[1]); ok {
			t.Errorf("Lookup(%q, %q) = %+v, want not found", miss[0], miss[1], p)
		}
	}
}

func TestRegistryCoversTheSpecification(t *testing.T) {
	t.Parallel()
	r := DefaultRegistry()
	types := r.Types()
	if len(types) < 130 {
		t.Fatalf("Types() has %d types, want the 133 R4 resource types with parameters of their own", len(types))
	}
	total, kinds := 0, map[store.Kind]int{}
	for _, typ := range types {
		params := r.Params(typ)
		if !slices.IsSortedFunc(params, func(a, b *Param) int { return strings.Compare(a.Code, b.Code) }) {
			t.Errorf("Params(%s) not sorted by code", typ)
		}
		for _, p := range params {
			total++
			kinds[p.Kind]++
			if p.Type != typ {
				t.Errorf("Params(%s): %s has Type %s", typ, p.Code, p.Type)
			}
			if p.URL == "" || p.Kind == "" {
				t.Errorf("Params(%s): %s lacks url or kind: %+v", typ, p.Code, p)
			}
		}
	}
	for _, k := range []store.Kind{store.KindNumber, store.KindDate, store.KindString, store.KindToken,
		store.KindReference, store.KindComposite, store.KindQuantity, store.KindURI, store.KindSpecial} {
		if kinds[k] == 0 {
			t.Errorf("no %s parameter in the registry", k)
		}
	}
	if common := r.Params(""); len(common) < 9 {
		t.Errorf("Params(\"\") = %d common parameters, want at least 9", len(common))
	}
	t.Logf("%d types, %d (type, parameter) pairs", len(types), total)
}

func TestParamSupported(t *testing.T) {
	t.Parallel()
	r := DefaultRegistry()
	tests := []struct {
		typ, code string
		want      bool
	}{
		{"Patient", "name", true}, {"Patient", "_id", true}, {"Patient", "_lastUpdated", true},
		{"Patient", "_tag", true}, {"Patient", "phonetic", false}, {"Patient", "_text", false},
		{"Patient", "_content", false}, {"Location", "near", false}, {"Observation", "code-value-quantity", false},
		{"Patient", "age", false}, // an extension parameter without expression
	}
	for _, tt := range tests {
		p, ok := r.Lookup(tt.typ, tt.code)
		if !ok {
			t.Errorf("Lookup(%q, %q): not found", tt.typ, tt.code)
			continue
		}
		if got := p.Supported(); got != tt.want {
			t.Errorf("%s.%s Supported() = %v, want %v", tt.typ, tt.code, got, tt.want)
		}
	}
}
