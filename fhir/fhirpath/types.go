package fhirpath

import (
	"slices"
	"strings"
)

// matchesType reports whether an item is of the given type or derives from
// it (is). Casts (as, ofType) take FHIR primitives only as their own type:
// a code is a string, but code.as(string) is empty, as the suite says.
func (ev *evaluator) matchesType(it Item, ts typeSpec, cast bool) bool {
	t := it.Type
	if name, ok := strings.CutPrefix(t, "System."); ok {
		return (ts.namespace == "" || ts.namespace == "System") && name == ts.name
	}
	if ts.namespace != "" && ts.namespace != "FHIR" {
		return false
	}
	if !ev.model.known(t) || cast && ev.model.isPrimitive(t) {
		return t == ts.name
	}
	return ev.model.isA(t, ts.name)
}

func (ev *evaluator) ofType(c Collection, ts typeSpec) Collection {
	if ts.name == "Any" && ts.namespace != "FHIR" {
		return c
	}
	for i, it := range c {
		if !ev.matchesType(it, ts, true) {
			// Copy only when something is filtered out.
			out := slices.Clone(c[:i])
			for _, it := range c[i+1:] {
				if ev.matchesType(it, ts, true) {
					out = append(out, it)
				}
			}
			return out
		}
	}
	return c
}

// checkType rejects type names that are neither FHIR nor System types.
func (ev *evaluator) checkType(ts typeSpec) error {
	switch ts.namespace {
	case "System":
		// An unknown System type matches nothing.
	case "FHIR":
		if !ev.model.known(ts.name) {
			return errorf("unknown type FHIR.%s", ts.name)
		}
	case "":
		if !systemTypes[ts.name] && !ev.model.known(ts.name) {
			return errorf("unknown type %s", ts.name)
		}
	default:
		return errorf("unknown type namespace %s", ts.namespace)
	}
	return nil
}

var systemTypes = map[string]bool{
	"Boolean": true, "String": true, "Integer": true, "Decimal": true, "Date": true, "DateTime": true,
	"Time": true, "Quantity": true, "Any": true,
}

// typeOp implements the is and as operators.
func (ev *evaluator) typeOp(op string, c Collection, ts typeSpec) (Collection, error) {
	if err := ev.checkType(ts); err != nil {
		return nil, err
	}
	if len(c) == 0 {
		return nil, nil
	}
	if op == "is" {
		if len(c) > 1 {
			return nil, errNotSingleton
		}
		return boolean(ev.matchesType(c[0], ts, false)), nil
	}
	return ev.ofType(c, ts), nil
}

// typeArg reads a type name passed as a function argument (ofType(Patient)).
func typeArg(n node) (typeSpec, bool) {
	switch n := n.(type) {
	case *identNode:
		return typeSpec{name: n.name}, true
	case *childNode:
		if id, ok := n.target.(*identNode); ok {
			return typeSpec{namespace: id.name, name: n.name}, true
		}
	}
	return typeSpec{}, false
}

// typeInfo returns the reflection value of type(): a namespace and a name.
func typeInfo(it Item) Item {
	ns, name := "FHIR", it.Type
	if n, ok := strings.CutPrefix(it.Type, "System."); ok {
		ns, name = "System", n
	}
	return Item{Value: map[string]any{"namespace": ns, "name": name}, Type: "System.SimpleTypeInfo"}
}
