package fhirpatch

import (
	"errors"
	"testing"
)

// FuzzApply checks that Apply never panics, that every failure is an
// *Error, and that a result is a JSON object.
func FuzzApply(f *testing.F) {
	const resource = `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null,{"id":"x"}]}],"identifier":[{"value":"1"},{"value":"2"}]}`
	f.Add([]byte(resource), patch(op("delete", "Patient.name.given[0]"), op("move", "Patient.identifier", intPart("source", 1), intPart("destination", 0))))
	f.Add([]byte(resource), patch(op("add", "Patient", name("contact"), value(`"part":[{"name":"name","valueHumanName":{"text":"t"}}]`))))
	f.Add([]byte(resource), patch(op("replace", "Patient.identifier[1].value", value(`"valueString":"3"`)), op("insert", "Patient.name.given", intPart("index", 2), value(`"valueString":"c"`))))
	f.Add([]byte(`{"resourceType":"Observation","valueQuantity":{"value":1.0}}`), patch(op("replace", "Observation.value", value(`"valueInteger":2`))))
	f.Fuzz(func(t *testing.T, resource, params []byte) {
		out, err := Apply(resource, params)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		if _, err := decodeObject(out); err != nil {
			t.Fatalf("result %s is not a JSON object: %v", out, err)
		}
	})
}
