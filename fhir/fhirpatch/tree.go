package fhirpatch

import (
	"reflect"
	"strings"
)

// occurrence is one occurrence of an element in FHIR JSON: its value and,
// for a primitive, its "_field" object (id and extensions).
type occurrence struct {
	value any
	ext   map[string]any
}

// readList reads the occurrences of a member of a JSON object, whether it
// is written as an array or as a single value.
func readList(m map[string]any, key string) (list []occurrence, isArray bool) {
	values, valuesArray := m[key].([]any)
	exts, extsArray := m["_"+key].([]any)
	if !valuesArray && !extsArray {
		occ := occurrence{value: m[key]}
		occ.ext, _ = m["_"+key].(map[string]any)
		if occ.value == nil && occ.ext == nil {
			return nil, false
		}
		return []occurrence{occ}, false
	}
	n := max(len(values), len(exts))
	list = make([]occurrence, n)
	for i := range list {
		if i < len(values) {
			list[i].value = values[i]
		}
		if i < len(exts) {
			list[i].ext, _ = exts[i].(map[string]any)
		}
	}
	return list, true
}

// writeList writes the occurrences of a member back, as an array when the
// element repeats; no occurrence removes the member.
func writeList(m map[string]any, key string, list []occurrence, many bool) {
	delete(m, key)
	delete(m, "_"+key)
	if len(list) == 0 {
		return
	}
	if !many {
		if list[0].value != nil {
			m[key] = list[0].value
		}
		if list[0].ext != nil {
			m["_"+key] = list[0].ext
		}
		return
	}
	values := make([]any, len(list))
	exts := make([]any, len(list))
	hasValue, hasExt := false, false
	for i, occ := range list {
		values[i] = occ.value
		hasValue = hasValue || occ.value != nil
		if occ.ext != nil {
			exts[i] = occ.ext
			hasExt = true
		}
	}
	if hasValue {
		m[key] = values
	}
	if hasExt {
		m["_"+key] = exts
	}
}

// forEachMember calls f with each element name of a JSON object: its keys
// without the "_" of primitive extensions, resourceType excluded. The names
// are collected first, so f may rewrite its member.
func forEachMember(m map[string]any, f func(name string)) {
	names := make([]string, 0, len(m))
	for k := range m {
		name := k
		if strings.HasPrefix(k, "_") {
			name = k[1:]
			if _, ok := m[name]; ok {
				continue // listed with its value
			}
		}
		if name != "resourceType" && name != "" {
			names = append(names, name)
		}
	}
	for _, name := range names {
		f(name)
	}
}

// annotate gives every primitive value an extension object, empty when it
// had none: FHIRPath results carry that object, and its identity tells
// where in the resource a selected primitive lives. clean removes the
// empty ones again.
func annotate(m map[string]any) {
	forEachMember(m, func(name string) {
		list, isArray := readList(m, name)
		changed := false
		for i := range list {
			if sub, ok := list[i].value.(map[string]any); ok {
				annotate(sub)
				continue
			}
			if list[i].ext == nil {
				list[i].ext = map[string]any{}
				changed = true
			} else {
				annotate(list[i].ext)
			}
		}
		if changed {
			writeList(m, name, list, isArray)
		}
	})
}

// annotateOccurrence annotates a value about to enter the resource.
func annotateOccurrence(occ *occurrence) {
	if m, ok := occ.value.(map[string]any); ok {
		annotate(m)
	} else if occ.ext == nil {
		occ.ext = map[string]any{}
	} else {
		annotate(occ.ext)
	}
}

// clean removes what annotate added and what operations left empty: empty
// extension objects, empty objects and occurrences holding nothing.
func clean(m map[string]any) {
	forEachMember(m, func(name string) {
		list, isArray := readList(m, name)
		kept := list[:0]
		for _, occ := range list {
			if sub, ok := occ.value.(map[string]any); ok {
				clean(sub)
				if len(sub) == 0 {
					occ.value = nil
				}
			}
			if occ.ext != nil {
				clean(occ.ext)
				if len(occ.ext) == 0 {
					occ.ext = nil
				}
			}
			if occ.value != nil || occ.ext != nil {
				kept = append(kept, occ)
			}
		}
		writeList(m, name, kept, isArray)
	})
}

// location is where an element occurrence lives: the object holding it,
// the object's FHIR type, its JSON key, and its position in the array
// (-1 for a single value).
type location struct {
	parent     map[string]any
	parentType string
	key        string
	index      int
}

// objectID identifies a JSON object by its map, which a FHIRPath result
// shares with the resource it was evaluated on.
func objectID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

// indexLocations records the location of every object and every primitive
// (through its extension object) of an annotated resource.
func (p *patcher) indexLocations(m map[string]any, typeName string, into map[uintptr]location) {
	for k, v := range m {
		name, isExt := strings.CutPrefix(k, "_")
		if name == "resourceType" || name == "" {
			continue
		}
		childType := "Element" // the type of a primitive's extension object
		if !isExt {
			childType = p.childType(typeName, name)
		}
		switch v := v.(type) {
		case map[string]any:
			p.indexObject(v, location{parent: m, parentType: typeName, key: name, index: -1}, childType, into)
		case []any:
			for i, x := range v {
				if sub, ok := x.(map[string]any); ok {
					p.indexObject(sub, location{parent: m, parentType: typeName, key: name, index: i}, childType, into)
				}
			}
		}
	}
}

func (p *patcher) indexObject(m map[string]any, loc location, typeName string, into map[uintptr]location) {
	into[objectID(m)] = loc
	if rt, ok := m["resourceType"].(string); ok {
		typeName = rt
	}
	p.indexLocations(m, typeName, into)
}

// childType is the type of the values of a JSON member, "" when unknown.
func (p *patcher) childType(typeName, name string) string {
	key := [2]string{typeName, name}
	if t, ok := p.childTypes[key]; ok {
		return t
	}
	t := ""
	if info, err := p.element(typeName, name); err == nil {
		t = info.typeOf()
	}
	p.childTypes[key] = t
	return t
}
