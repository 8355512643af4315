package fhirpatch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/fhir/fhirpath"
)

// patcher applies operations to one resource.
type patcher struct {
	types      fhirpath.TypeModel
	doc        map[string]any       // annotated (see annotate)
	where      map[uintptr]location // nil when the resource changed since it was built
	childTypes map[[2]string]string // {type, element name} → type of its values
}

func newPatcher(doc map[string]any) *patcher {
	annotate(doc)
	return &patcher{types: fhirpath.Types(), doc: doc, childTypes: map[[2]string]string{}}
}

func (p *patcher) apply(op operation) error {
	if op.kind != "delete" {
		p.where = nil // every other operation changes the resource or fails
	}
	switch op.kind {
	case "add":
		return p.add(op)
	case "insert":
		return p.insert(op)
	case "delete":
		return p.delete(op)
	case "replace":
		return p.replace(op)
	default:
		return p.move(op)
	}
}

func (p *patcher) evaluate(path string) (fhirpath.Collection, error) {
	expr, err := fhirpath.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("invalid path %q: %w", path, err)
	}
	got, err := expr.Evaluate(p.doc)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", path, err)
	}
	return got, nil
}

// single evaluates a path that must select exactly one element.
func (p *patcher) single(path, action string) (fhirpath.Item, error) {
	got, err := p.evaluate(path)
	if err != nil {
		return fhirpath.Item{}, err
	}
	switch len(got) {
	case 0:
		return fhirpath.Item{}, fmt.Errorf("no content found at %s when %s", path, action)
	case 1:
		return got[0], nil
	}
	return fhirpath.Item{}, fmt.Errorf("path %s selects %d elements when %s; it must select one", path, len(got), action)
}

// locate finds where a selected item lives in the resource.
func (p *patcher) locate(it fhirpath.Item, path string) (location, error) {
	if p.where == nil {
		p.where = map[uintptr]location{}
		p.indexLocations(p.doc, p.doc["resourceType"].(string), p.where)
	}
	var loc location
	var ok bool
	if m, isObject := it.Value.(map[string]any); isObject {
		loc, ok = p.where[objectID(m)]
	} else if ext := it.Extension(); ext != nil {
		loc, ok = p.where[objectID(ext)]
	}
	if !ok {
		return loc, fmt.Errorf("path %s does not select an element of the resource", path)
	}
	return loc, nil
}

// parentOf evaluates the object a list path (Patient.identifier) belongs to.
func (p *patcher) parentOf(path, action string) (map[string]any, string, elementInfo, error) {
	parentPath, name, ok := splitLast(path)
	if !ok {
		return nil, "", elementInfo{}, fmt.Errorf("path %s must end with the name of a list element when %s", path, action)
	}
	parent, err := p.single(parentPath, action)
	if err != nil {
		return nil, "", elementInfo{}, err
	}
	m, ok := parent.Value.(map[string]any)
	if !ok {
		return nil, "", elementInfo{}, fmt.Errorf("%s is not an object when %s", parentPath, action)
	}
	info, err := p.element(parent.Type, name)
	if err != nil {
		return nil, "", elementInfo{}, err
	}
	if !info.many {
		return nil, "", elementInfo{}, fmt.Errorf("%s is not a list when %s", path, action)
	}
	return m, name, info, nil
}

func (p *patcher) add(op operation) error {
	target, err := p.single(op.path, "adding")
	if err != nil {
		return err
	}
	m, ok := target.Value.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is a primitive: cannot add %s to it", op.path, op.name)
	}
	info, err := p.element(target.Type, op.name)
	if err != nil {
		return err
	}
	occ, valueType, err := p.buildValue(op.value, info)
	if err != nil {
		return err
	}
	annotateOccurrence(&occ)
	return addOccurrence(m, info.key(valueType), info, occ)
}

// addOccurrence appends to a list, or sets an absent single element.
func addOccurrence(m map[string]any, key string, info elementInfo, occ occurrence) error {
	list, _ := readList(m, key)
	if !info.many && len(list) > 0 {
		return fmt.Errorf("%s already has a value", key)
	}
	if info.choice {
		for _, k := range info.choiceKeys() {
			if v, _ := readList(m, k); len(v) > 0 {
				return fmt.Errorf("%s already has a value (%s)", info.name, k)
			}
		}
	}
	writeList(m, key, append(list, occ), info.many)
	return nil
}

func (p *patcher) insert(op operation) error {
	m, name, info, err := p.parentOf(op.path, "inserting")
	if err != nil {
		return err
	}
	list, _ := readList(m, name)
	if *op.index < 0 || *op.index > len(list) {
		return fmt.Errorf("index %d is outside %s (%d elements)", *op.index, op.path, len(list))
	}
	occ, _, err := p.buildValue(op.value, info)
	if err != nil {
		return err
	}
	annotateOccurrence(&occ)
	writeList(m, name, slices.Insert(list, *op.index, occ), true)
	return nil
}

func (p *patcher) delete(op operation) error {
	got, err := p.evaluate(op.path)
	if err != nil {
		return err
	}
	switch len(got) {
	case 0:
		return nil // deleting nothing is not an error
	case 1:
	default:
		return fmt.Errorf("path %s selects %d elements; delete removes at most one", op.path, len(got))
	}
	loc, err := p.locate(got[0], op.path)
	if err != nil {
		return err
	}
	list, isArray := readList(loc.parent, loc.key)
	if loc.index < 0 {
		list = nil
	} else {
		list = slices.Delete(list, loc.index, loc.index+1)
	}
	writeList(loc.parent, loc.key, list, isArray)
	p.where = nil
	return nil
}

func (p *patcher) replace(op operation) error {
	target, err := p.single(op.path, "replacing")
	if err != nil {
		return err
	}
	loc, err := p.locate(target, op.path)
	if err != nil {
		return err
	}
	info, err := p.element(loc.parentType, loc.key)
	if err != nil {
		// An element the model does not know keeps the type it was found with.
		info = elementInfo{name: loc.key, types: []string{target.Type}}
	}
	info.typed = "" // a choice element may change its type
	occ, valueType, err := p.buildValue(op.value, info)
	if err != nil {
		return err
	}
	annotateOccurrence(&occ)
	list, isArray := readList(loc.parent, loc.key)
	if key := info.key(valueType); key != loc.key {
		// A choice element changing type changes its JSON key.
		writeList(loc.parent, loc.key, nil, false)
		writeList(loc.parent, key, []occurrence{occ}, false)
		return nil
	}
	if loc.index < 0 {
		list = []occurrence{occ}
	} else {
		list[loc.index] = occ
	}
	writeList(loc.parent, loc.key, list, isArray)
	return nil
}

func (p *patcher) move(op operation) error {
	m, name, _, err := p.parentOf(op.path, "moving")
	if err != nil {
		return err
	}
	list, _ := readList(m, name)
	from, to := *op.source, *op.destination
	if from < 0 || from >= len(list) || to < 0 || to >= len(list) {
		return fmt.Errorf("move from %d to %d is outside %s (%d elements)", from, to, op.path, len(list))
	}
	occ := list[from]
	list = slices.Delete(list, from, from+1)
	writeList(m, name, slices.Insert(list, to, occ), true)
	return nil
}

// splitLast splits a path at its last top-level dot: the expression of
// the parent and the name of the element (Patient.identifier → Patient,
// identifier).
func splitLast(path string) (parent, name string, ok bool) {
	depth, last := 0, -1
	var quote byte
	for i := 0; i < len(path); i++ {
		c := path[i]
		if quote != 0 {
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"', '`':
			quote = c
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '.':
			if depth == 0 {
				last = i
			}
		}
	}
	if last < 0 {
		return "", "", false
	}
	name = strings.Trim(strings.TrimSpace(path[last+1:]), "`")
	if !isIdentifier(name) {
		return "", "", false
	}
	return strings.TrimSpace(path[:last]), name, true
}

func isIdentifier(s string) bool {
	for i, c := range s {
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}
