package fhirpath

import "github.com/telehub/telehub/internal/fhirxml"

// xmlToJSON converts a FHIR XML input of the official suite into the value
// its JSON form decodes to, through the engine's own type model.
func xmlToJSON(data []byte) (map[string]any, error) {
	return fhirxml.ToMap(data, Types())
}
