package fhirpath

import "slices"

// TypeModel is a read-only view of the FHIR R4 type table the engine uses,
// for packages that build or convert FHIR JSON (FHIRPath Patch, the XML
// converter of the tests) and need element types and cardinalities.
type TypeModel struct{ m *model }

// Types returns the FHIR R4 type model.
func Types() TypeModel { return TypeModel{m: fhirModel()} }

// Element describes the element name of a FHIR type (inherited elements
// included; backbone types are named by path, "Patient.contact"): its
// types (several for a choice element such as value[x]), whether it is a
// choice and whether it repeats. ok is false when the type has no such element.
func (t TypeModel) Element(typeName, name string) (types []string, choice, many, ok bool) {
	el := t.m.element(typeName, name)
	if el == nil {
		return nil, false, false, false
	}
	return slices.Clone(el.types), el.choice, el.many, true
}

// Kind returns "primitive", "complex", "resource" or "backbone", or "" for
// a type the model does not know.
func (t TypeModel) Kind(typeName string) string {
	if d := t.m.types[typeName]; d != nil {
		return d.kind
	}
	return ""
}

// Extension returns the extension object of a primitive item (its JSON
// "_field" object holding id and extension), or nil. The map is the one of
// the evaluated resource, so it also identifies where the item came from.
func (it Item) Extension() map[string]any { return it.ext }
