package fhirpatch

import (
	"fmt"
	"slices"
	"strings"
)

// elementInfo is an element of a FHIR type as the type model describes it.
type elementInfo struct {
	name   string   // the element name; for a choice, without type (value)
	types  []string // its types; several for a choice
	choice bool
	many   bool
	typed  string // the type a typed choice name (valueString) fixes
}

// element resolves a name of a FHIR type: an element name, or a choice
// element spelled with its type (valueString).
func (p *patcher) element(typeName, name string) (elementInfo, error) {
	if types, choice, many, ok := p.types.Element(typeName, name); ok {
		return elementInfo{name: name, types: types, choice: choice, many: many}, nil
	}
	for i := len(name) - 1; i > 0; i-- {
		types, choice, many, ok := p.types.Element(typeName, name[:i])
		if !ok || !choice {
			continue
		}
		for _, t := range types {
			if upperFirst(t) == name[i:] {
				return elementInfo{name: name[:i], types: types, choice: true, many: many, typed: t}, nil
			}
		}
	}
	if typeName == "" {
		return elementInfo{}, fmt.Errorf("the type holding %s is unknown", name)
	}
	return elementInfo{}, fmt.Errorf("%s has no element %s", typeName, name)
}

// typeOf is the type of the element's values, "" for an untyped choice.
func (e elementInfo) typeOf() string {
	switch {
	case e.typed != "":
		return e.typed
	case e.choice:
		return ""
	}
	return e.types[0]
}

// key is the JSON key of a value of the given type.
func (e elementInfo) key(valueType string) string {
	if e.choice {
		return e.name + upperFirst(valueType)
	}
	return e.name
}

func (e elementInfo) choiceKeys() []string {
	keys := make([]string, len(e.types))
	for i, t := range e.types {
		keys[i] = e.name + upperFirst(t)
	}
	return keys
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// buildValue makes the occurrence the "value" part of an operation holds,
// for the element it goes into, and returns its FHIR type.
func (p *patcher) buildValue(part map[string]any, info elementInfo) (occurrence, string, error) {
	if key, valueType, ok := typedValue(part); ok {
		if err := p.fits(info, valueType, part[key]); err != nil {
			return occurrence{}, "", err
		}
		occ := occurrence{value: part[key]}
		occ.ext, _ = part["_"+key].(map[string]any)
		return occ, valueType, nil
	}
	if res, ok := part["resource"].(map[string]any); ok {
		resourceType, _ := res["resourceType"].(string)
		if !slices.Contains(info.types, "Resource") && !slices.Contains(info.types, resourceType) {
			return occurrence{}, "", fmt.Errorf("%s cannot hold a resource", info.name)
		}
		return occurrence{value: res}, resourceType, nil
	}
	if parts, ok := part["part"]; ok {
		typeName := info.typeOf()
		if typeName == "" {
			return occurrence{}, "", fmt.Errorf("choice element %s needs a typed value, not parts", info.name)
		}
		if p.types.Kind(typeName) == "primitive" {
			return occurrence{}, "", fmt.Errorf("%s is a %s: it needs a value, not parts", info.name, typeName)
		}
		list, err := objects(parts)
		if err != nil {
			return occurrence{}, "", fmt.Errorf("value parts: %w", err)
		}
		m, err := p.buildObject(list, typeName)
		if err != nil {
			return occurrence{}, "", err
		}
		return occurrence{value: m}, typeName, nil
	}
	return occurrence{}, "", fmt.Errorf("the value of %s is missing", info.name)
}

// buildObject makes an object of a FHIR type from parts naming its elements.
func (p *patcher) buildObject(parts []map[string]any, typeName string) (map[string]any, error) {
	m := map[string]any{}
	for _, part := range parts {
		name, _ := part["name"].(string)
		info, err := p.element(typeName, name)
		if err != nil {
			return nil, err
		}
		occ, valueType, err := p.buildValue(part, info)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := addOccurrence(m, info.key(valueType), info, occ); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// quantityTypes are the profiles of Quantity R4 defines as types.
var quantityTypes = []string{"Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity"}

// fits checks that a value of valueType may go into the element: the same
// type, a Quantity profile for a Quantity, or a primitive of the JSON kind
// the element's primitive type is written with.
func (p *patcher) fits(info elementInfo, valueType string, value any) error {
	if info.typed != "" && info.typed != valueType {
		return fmt.Errorf("%s needs a %s value, not %s", info.key(info.typed), info.typed, valueType)
	}
	if slices.Contains(info.types, valueType) {
		return nil
	}
	if slices.Contains(info.types, "Quantity") && slices.Contains(quantityTypes, valueType) {
		return nil
	}
	if info.choice {
		return fmt.Errorf("%s cannot be a %s", info.name, valueType)
	}
	want := info.types[0]
	if p.types.Kind(want) == "primitive" && p.types.Kind(valueType) == "primitive" && jsonKind(want) == jsonKind(valueType) {
		if _, isObject := value.(map[string]any); !isObject {
			return nil
		}
	}
	return fmt.Errorf("%s is a %s: a %s value does not fit", info.name, want, valueType)
}

// jsonKind is how FHIR JSON writes a primitive type.
func jsonKind(primitive string) string {
	switch primitive {
	case "boolean":
		return "boolean"
	case "integer", "positiveInt", "unsignedInt", "decimal":
		return "number"
	}
	return "string"
}
