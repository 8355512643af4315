package model

//go:generate go run ./internal/gen -o elements.txt.gz

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
)

// elementsTable is generated from the R4 StructureDefinitions of resources
// and complex datatypes: one "path flags ref datatype" line ("-" for empty)
// per element that is summary (s), mandatory (r), a backbone element (b),
// or defined by reference to another element (ref).
//
//go:embed elements.txt.gz
var elementsTable []byte

type elementInfo struct {
	summary  bool
	required bool
	backbone bool
	ref      string // path whose children this element reuses
	datatype string // complex datatype of a single-typed element
}

// elementIndex is the decoded table, plus the mandatory top-level elements
// of each type.
type elementIndex struct {
	elements map[string]elementInfo
	required map[string][]string // resource type -> mandatory top-level element names
	types    map[string]bool     // complex datatypes the table describes
}

var sharedElementIndex = sync.OnceValues(loadElementIndex)

func loadElementIndex() (*elementIndex, error) {
	zr, err := gzip.NewReader(bytes.NewReader(elementsTable))
	if err != nil {
		return nil, fmt.Errorf("model: element table: %w", err)
	}
	idx := &elementIndex{elements: map[string]elementInfo{}, required: map[string][]string{}, types: map[string]bool{}}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			return nil, fmt.Errorf("model: element table: bad line %q", sc.Text())
		}
		for i, f := range fields {
			if f == "-" {
				fields[i] = ""
			}
		}
		path, flags := fields[0], fields[1]
		info := elementInfo{
			summary:  strings.Contains(flags, "s"),
			required: strings.Contains(flags, "r"),
			backbone: strings.Contains(flags, "b"),
			ref:      fields[2],
			datatype: fields[3],
		}
		idx.elements[path] = info
		if typ, _, _ := strings.Cut(path, "."); !IsResourceType(typ) {
			idx.types[typ] = true
		}
		if typ, name, _ := strings.Cut(path, "."); info.required && !strings.Contains(name, ".") && IsResourceType(typ) {
			idx.required[typ] = append(idx.required[typ], name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("model: element table: %w", err)
	}
	return idx, nil
}

func mustElementIndex() *elementIndex {
	idx, err := sharedElementIndex()
	if err != nil {
		// The table is compiled in: a decoding failure is a build defect.
		panic(err)
	}
	return idx
}

// lookup finds the element a JSON key of an object at parent denotes,
// resolving primitive extensions ("_birthDate") and choice types
// ("valueQuantity" → "value[x]"). It returns the element name as the
// definitions spell it.
func (idx *elementIndex) lookup(parent, key string) (string, elementInfo, bool) {
	key = strings.TrimPrefix(key, "_")
	if info, ok := idx.elements[parent+"."+key]; ok {
		return key, info, true
	}
	for i, c := range key {
		if i > 0 && unicode.IsUpper(c) {
			name := key[:i] + "[x]"
			if info, ok := idx.elements[parent+"."+name]; ok {
				return name, info, true
			}
		}
	}
	return key, elementInfo{}, false
}

// childPath returns the path under which the children of the element a
// key denotes are defined: the element's own path for a backbone element,
// the referenced one for a content reference, the datatype's name for a
// complex datatype (for a choice, the type the key names: valueQuantity is
// a Quantity). It returns "" when the value is kept whole.
func (idx *elementIndex) childPath(parent, key, name string, info elementInfo) string {
	switch {
	case info.ref != "":
		return info.ref
	case info.backbone:
		return parent + "." + name
	case info.datatype != "":
		return info.datatype
	case strings.HasSuffix(name, "[x]"):
		typ := strings.TrimPrefix(key, strings.TrimSuffix(name, "[x]"))
		if _, ok := idx.types[typ]; ok {
			return typ
		}
	}
	return ""
}
