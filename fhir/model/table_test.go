package model

import (
	"slices"
	"testing"
)

// TestElementTable spot-checks the generated table against the R4
// definitions it comes from.
func TestElementTable(t *testing.T) {
	t.Parallel()
	idx := mustElementIndex()
	tests := []struct {
		path string
		want elementInfo
	}{
		{"Observation.status", elementInfo{summary: true, required: true}},
		{"Observation.code", elementInfo{summary: true, required: true, datatype: "CodeableConcept"}},
		{"Observation.component", elementInfo{summary: true, backbone: true}},
		{"Observation.referenceRange", elementInfo{backbone: true}},
		{"Observation.component.referenceRange", elementInfo{ref: "Observation.referenceRange"}},
		{"Questionnaire.item.item", elementInfo{ref: "Questionnaire.item"}},
		{"Patient.name", elementInfo{summary: true, datatype: "HumanName"}},
		{"Patient.link.other", elementInfo{summary: true, required: true, datatype: "Reference"}},
		{"Identifier.assigner", elementInfo{summary: true, datatype: "Reference"}},
		{"Attachment.contentType", elementInfo{summary: true}},
	}
	for _, tt := range tests {
		if got := idx.elements[tt.path]; got != tt.want {
			t.Errorf("%s = %+v, want %+v", tt.path, got, tt.want)
		}
	}
	for _, absent := range []string{"Patient.contact", "Patient.text", "Attachment.data", "Observation.note"} {
		if info, ok := idx.elements[absent]; ok && (info.summary || info.required) {
			t.Errorf("%s is marked %+v; it is neither summary nor mandatory", absent, info)
		}
	}
	if got := idx.required["Observation"]; !slices.Equal(got, []string{"code", "status"}) {
		t.Errorf("mandatory Observation elements = %v, want [code status]", got)
	}
	if got := idx.required["Patient"]; len(got) != 0 {
		t.Errorf("mandatory Patient elements = %v, want none", got)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	idx := mustElementIndex()
	tests := []struct{ parent, key, name string }{
		{"Observation", "valueQuantity", "value[x]"},
		{"Observation", "_valueString", "value[x]"},
		{"Observation", "effectiveDateTime", "effective[x]"},
		{"Patient", "_birthDate", "birthDate"},
		{"Observation.component", "valueCodeableConcept", "value[x]"},
	}
	for _, tt := range tests {
		name, _, ok := idx.lookup(tt.parent, tt.key)
		if !ok || name != tt.name {
			t.Errorf("lookup(%s, %s) = %q, %v; want %q", tt.parent, tt.key, name, ok, tt.name)
		}
	}
	if _, _, ok := idx.lookup("Patient", "nonsense"); ok {
		t.Error("lookup found an element Patient does not have")
	}
}
