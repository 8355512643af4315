package fhirpatch

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/telehub/telehub/fhir/fhirpath"
)

// operation is one "operation" parameter of a patch.
type operation struct {
	kind                       string // add, insert, delete, replace or move
	path                       string
	name                       string
	value                      map[string]any // the "value" part: value[x], resource or nested parts
	index, source, destination *int
}

// parseParameters reads the operations of a Parameters resource.
func parseParameters(data []byte) ([]operation, error) {
	params, err := decodeObject(data)
	if err != nil {
		return nil, wholeError("parameters: %v", err)
	}
	if rt, _ := params["resourceType"].(string); rt != "Parameters" {
		return nil, wholeError("parameters: resourceType is %q, not Parameters", rt)
	}
	list, err := objects(params["parameter"])
	if err != nil {
		return nil, wholeError("parameters: parameter: %v", err)
	}
	ops := make([]operation, 0, len(list))
	for i, param := range list {
		op, err := parseOperation(param)
		if err != nil {
			return nil, &Error{Operation: i, Message: err.Error()}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func parseOperation(param map[string]any) (operation, error) {
	var op operation
	if name, _ := param["name"].(string); name != "operation" {
		return op, fmt.Errorf("parameter %q is not an operation", name)
	}
	parts, err := objects(param["part"])
	if err != nil {
		return op, fmt.Errorf("part: %v", err)
	}
	for _, part := range parts {
		name, _ := part["name"].(string)
		var err error
		switch name {
		case "type":
			op.kind, err = stringValue(part)
		case "path":
			op.path, err = stringValue(part)
		case "name":
			op.name, err = stringValue(part)
		case "value":
			op.value = part
		case "index":
			op.index, err = intValue(part)
		case "source":
			op.source, err = intValue(part)
		case "destination":
			op.destination, err = intValue(part)
		default:
			err = fmt.Errorf("unknown part %q", name)
		}
		if err != nil {
			return op, fmt.Errorf("part %s: %w", name, err)
		}
	}
	return op, op.check()
}

// check verifies that the operation has the parts its type needs.
func (op operation) check() error {
	need := map[string][]string{
		"add":     {"path", "name", "value"},
		"insert":  {"path", "index", "value"},
		"delete":  {"path"},
		"replace": {"path", "value"},
		"move":    {"path", "source", "destination"},
	}[op.kind]
	if need == nil {
		return fmt.Errorf("unknown operation type %q", op.kind)
	}
	present := map[string]bool{
		"path": op.path != "", "name": op.name != "", "value": op.value != nil,
		"index": op.index != nil, "source": op.source != nil, "destination": op.destination != nil,
	}
	for _, n := range need {
		if !present[n] {
			return fmt.Errorf("%s operation needs a %s part", op.kind, n)
		}
	}
	return nil
}

// objects reads a JSON array of objects (absent is empty).
func objects(v any) ([]map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	out := make([]map[string]any, len(arr))
	for i, x := range arr {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d is not an object", i)
		}
		out[i] = m
	}
	return out, nil
}

// typedValue finds the value[x] member of a part: its JSON key and FHIR type.
func typedValue(part map[string]any) (key, typ string, ok bool) {
	for k := range part {
		suffix, found := strings.CutPrefix(k, "value")
		if !found || suffix == "" || !unicode.IsUpper(rune(suffix[0])) {
			continue
		}
		key = k
		typ = suffix
		if types := primitiveSpelling(suffix); types != "" {
			typ = types
		}
		return key, typ, true
	}
	return "", "", false
}

// primitiveSpelling maps the suffix of a value[x] key to the primitive type
// it names (String → string), or "" for a complex type.
func primitiveSpelling(suffix string) string {
	lower := strings.ToLower(suffix[:1]) + suffix[1:]
	if fhirpath.Types().Kind(lower) == "primitive" {
		return lower
	}
	return ""
}

func stringValue(part map[string]any) (string, error) {
	key, _, ok := typedValue(part)
	if !ok {
		return "", fmt.Errorf("no value")
	}
	s, ok := part[key].(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", key)
	}
	return s, nil
}

func intValue(part map[string]any) (*int, error) {
	key, _, ok := typedValue(part)
	if !ok {
		return nil, fmt.Errorf("no value")
	}
	n, err := strconv.Atoi(fmt.Sprint(part[key]))
	if err != nil {
		return nil, fmt.Errorf("%s is not an integer", key)
	}
	return &n, nil
}
