package fhirpath

import "testing"

func TestModel(t *testing.T) {
	m := fhirModel()
	tests := []struct {
		typ, elem string
		many      bool
		types     string
	}{
		{"Patient", "name", true, "HumanName"},
		{"Patient", "birthDate", false, "date"},
		{"Patient", "contact", true, "Patient.contact"},
		{"Patient.contact", "name", false, "HumanName"},
		{"Patient.contact", "id", false, "string"}, // inherited from Element
		{"Observation", "subject", false, "Reference"},
		{"Questionnaire.item", "item", true, "Questionnaire.item"}, // content reference
		{"Age", "value", false, "decimal"},                         // inherited from Quantity
	}
	for _, tt := range tests {
		el := m.element(tt.typ, tt.elem)
		if el == nil {
			t.Errorf("%s.%s missing", tt.typ, tt.elem)
			continue
		}
		if el.many != tt.many || el.types[0] != tt.types {
			t.Errorf("%s.%s = many %v types %v, want %v %s", tt.typ, tt.elem, el.many, el.types, tt.many, tt.types)
		}
	}
	value := m.element("Observation", "value")
	if value == nil || !value.choice || len(value.types) != 11 {
		t.Errorf("Observation.value[x] = %+v, want a choice of 11 types", value)
	}
	for _, c := range []struct {
		typ, base string
		want      bool
	}{
		{"Age", "Quantity", true}, {"Patient", "DomainResource", true}, {"Patient", "Resource", true},
		{"Patient.contact", "BackboneElement", true}, {"code", "string", true}, {"HumanName", "Quantity", false},
	} {
		if got := m.isA(c.typ, c.base); got != c.want {
			t.Errorf("isA(%s, %s) = %v", c.typ, c.base, got)
		}
	}
}

func TestTypeOperators(t *testing.T) {
	pat := mustDecode(t, patientJSON)
	obs := mustDecode(t, observationJSON)
	tests := []struct {
		resource any
		expr     string
		want     string
	}{
		{pat, "Patient is DomainResource", "true"},
		{pat, "Patient is FHIR.Patient", "true"},
		{pat, "Patient is System.String", "false"},
		{pat, "Patient.gender is code", "true"},
		{pat, "Patient.gender is string", "true"},
		{pat, "Patient.gender.as(string).exists()", "false"},
		{pat, "Patient.contact.first() is BackboneElement", "true"},
		{pat, "Patient.name.first().is(HumanName)", "true"},
		{pat, "'x' is String", "true"},
		{pat, "1 is Integer", "true"},
		{pat, "1.0 is System.Decimal", "true"},
		{pat, "@2014 is Date", "true"},
		{pat, "Patient.birthDate is Date", "false"},
		{pat, "Patient.birthDate is date", "true"},
		{pat, "Patient.name.first().type().name", "HumanName"},
		{pat, "Patient.active.type().namespace", "FHIR"},
		{pat, "true.type().name", "Boolean"},
		{obs, "Observation.value is Age", "false"},
		{obs, "Observation.contained.first() is Organization", "true"},
		{obs, "Observation.children().count()", "11"},
	}
	for _, tt := range tests {
		got := eval(t, tt.resource, tt.expr)
		if len(got) != 1 || formatForSuite(got[0]) != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, describe(got), tt.want)
		}
	}
}
