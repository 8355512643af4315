// Package fhirpatch applies FHIRPath Patch documents (FHIR R4 fhirpatch.html):
// a Parameters resource whose "operation" parameters add, insert, delete,
// replace or move elements that FHIRPath expressions select, as the FHIR
// patch interaction needs for application/fhir+json patches.
//
// A patch is applied atomically: every operation succeeds and the patched
// resource is returned, or the first failing operation is reported as *Error.
// Values keep their exact JSON form (numbers stay json.Number, so 1.50 stays
// 1.50), and elements are written in FHIR's canonical JSON shape: arrays for
// repeating elements, choice elements under their typed name (valueString),
// a primitive's id and extensions under "_field".
//
// Paths follow the specification: replace needs a path selecting exactly one
// element, delete zero or one (deleting nothing is not an error), add one
// object to which the element "name" is added (appended when it repeats).
// insert and move work on a list named by the path's last step
// (Patient.identifier): the part before it must select exactly one object,
// and the list may be empty or absent for insert. A value is a value[x], a
// resource, or parts naming the elements of a complex value; it must fit the
// element's type (any primitive of the same JSON kind fits a primitive
// element, so a string may replace the narrative's xhtml).
package fhirpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/telehub/telehub/fhir/fhirpath"
)

// Error is a patch that cannot be applied. Operation is the index of the
// failing operation among the patch's parameters, or -1 when the resource or
// the patch as a whole is unusable.
type Error struct {
	Operation int
	Message   string
}

func (e *Error) Error() string {
	if e.Operation < 0 {
		return "fhirpatch: " + e.Message
	}
	return fmt.Sprintf("fhirpatch: operation %d: %s", e.Operation, e.Message)
}

func wholeError(format string, args ...any) *Error {
	return &Error{Operation: -1, Message: fmt.Sprintf(format, args...)}
}

// Apply applies a FHIRPath Patch (a Parameters resource, JSON) to a resource
// (JSON) and returns the patched resource JSON. The input is never modified.
// Errors are *Error.
func Apply(resource, parameters []byte) ([]byte, error) {
	doc, err := decodeObject(resource)
	if err != nil {
		return nil, wholeError("resource: %v", err)
	}
	resourceType, _ := doc["resourceType"].(string)
	types := fhirpath.Types()
	if types.Kind(resourceType) != "resource" {
		return nil, wholeError("resource: unknown resourceType %q", resourceType)
	}
	ops, err := parseParameters(parameters)
	if err != nil {
		return nil, err
	}
	p := newPatcher(doc)
	for i, op := range ops {
		if err := p.apply(op); err != nil {
			return nil, &Error{Operation: i, Message: err.Error()}
		}
	}
	clean(doc)
	return encodeResource(doc)
}

// decodeObject decodes one JSON object, numbers as json.Number.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: data after the object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// encodeResource writes the resource with resourceType first, then the
// other members in key order; HTML characters (the narrative) stay as they are.
func encodeResource(doc map[string]any) ([]byte, error) {
	resourceType := doc["resourceType"]
	delete(doc, "resourceType")
	var head, rest bytes.Buffer
	for _, part := range []struct {
		buf *bytes.Buffer
		v   any
	}{{&head, resourceType}, {&rest, doc}} {
		enc := json.NewEncoder(part.buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(part.v); err != nil {
			return nil, wholeError("encode result: %v", err)
		}
	}
	out := []byte(`{"resourceType":`)
	out = append(out, bytes.TrimSpace(head.Bytes())...)
	body := bytes.TrimSpace(rest.Bytes())
	if len(body) > 2 {
		out = append(out, ',')
		out = append(out, body[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}
