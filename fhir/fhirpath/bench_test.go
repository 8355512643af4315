package fhirpath

import "testing"

// BenchmarkEvaluate measures typical search-parameter expressions over
// already decoded resources (the work done per parameter on every write).
func BenchmarkEvaluate(b *testing.B) {
	pat := mustDecode(b, patientJSON)
	obs := mustDecode(b, observationJSON)
	cases := []struct {
		name     string
		resource any
		expr     string
	}{
		{"Patient.name", pat, "Patient.name"},
		{"Patient.name.given", pat, "Patient.name.given"},
		{"Observation.code", obs, "Observation.code"},
		{"ValueAsQuantity", obs, "(Observation.value as Quantity)"},
		{"SubjectWhereResolveIsPatient", obs, "Observation.subject.where(resolve() is Patient)"},
		{"UnionOfPaths", pat, "Patient.name.family | Patient.name.given"},
		{"Extension", pat, "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime')"},
		{"WhereEquals", pat, "Patient.name.where(use = 'official').family"},
	}
	for _, c := range cases {
		expr := MustCompile(c.expr)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := expr.Evaluate(c.resource); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile measures a cache hit, the cost paid per call by callers
// that do not keep the *Expression.
func BenchmarkCompile(b *testing.B) {
	MustCompile("Observation.subject.where(resolve() is Patient)")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("Observation.subject.where(resolve() is Patient)"); err != nil {
			b.Fatal(err)
		}
	}
}
