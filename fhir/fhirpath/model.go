package fhirpath

//go:generate go run ./internal/gen -in ../../../shared/fhir-r4/definitions/structure-definitions.json.gz -out model.txt

import (
	_ "embed"
	"strings"
	"sync"
)

//go:embed model.txt
var modelText string

// elementDef describes one element of a FHIR type.
type elementDef struct {
	name   string
	choice bool     // a value[x] element: the JSON key carries the type
	many   bool     // max cardinality above one
	types  []string // FHIR type names, or backbone paths such as "Patient.contact"
	keys   []string // for choices, the JSON key of each type (valueQuantity)
}

// typeDef describes one FHIR type (or backbone element) of the model.
type typeDef struct {
	name, base, kind string // kind: primitive, complex, resource or backbone
	elements         map[string]*elementDef
}

// model is the read-only FHIR R4 type table, built once from model.txt.
type model struct {
	types        map[string]*typeDef
	elementNames map[string]bool // every element name of every type
}

var fhirModel = sync.OnceValue(func() *model { return parseModel(modelText) })

func parseModel(text string) *model {
	m := &model{types: make(map[string]*typeDef, 700), elementNames: map[string]bool{}}
	var cur *typeDef
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "#" {
			continue
		}
		switch f[0] {
		case "T":
			cur = &typeDef{name: f[1], elements: map[string]*elementDef{}}
			if len(f) == 4 {
				cur.base, cur.kind = f[2], f[3]
			} else {
				cur.kind = f[len(f)-1]
			}
			m.types[cur.name] = cur
		case "E", "C":
			m.elementNames[f[1]] = true
			el := &elementDef{name: f[1], choice: f[0] == "C", many: f[2] != "1" && f[2] != "0",
				types: strings.Split(f[3], ",")}
			if el.choice {
				for _, t := range el.types {
					el.keys = append(el.keys, el.name+strings.ToUpper(t[:1])+t[1:])
				}
			}
			cur.elements[f[1]] = el
		}
	}
	// Copy inherited elements into every type: one map lookup per step.
	for _, t := range m.types {
		for b := m.types[t.base]; b != nil; b = m.types[b.base] {
			for name, e := range b.elements {
				if _, ok := t.elements[name]; !ok {
					t.elements[name] = e
				}
			}
		}
	}
	return m
}

// element finds an element of a type, inherited ones included.
func (m *model) element(typeName, name string) *elementDef {
	if t := m.types[typeName]; t != nil {
		return t.elements[name]
	}
	return nil
}

// isA reports whether typeName is base or derives from it.
func (m *model) isA(typeName, base string) bool {
	for t := typeName; t != ""; {
		if t == base {
			return true
		}
		d := m.types[t]
		if d == nil {
			return false
		}
		t = d.base
	}
	return false
}

func (m *model) isPrimitive(typeName string) bool {
	d := m.types[typeName]
	return d != nil && d.kind == "primitive"
}

func (m *model) isResource(typeName string) bool {
	d := m.types[typeName]
	return d != nil && d.kind == "resource"
}

func (m *model) known(typeName string) bool { return m.types[typeName] != nil }
