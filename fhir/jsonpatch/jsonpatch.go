// Package jsonpatch applies JSON Patch documents (RFC 6902) to JSON
// documents, as the FHIR patch interaction with application/json-patch+json
// needs.
//
// A patch is applied atomically: either every operation succeeds and the new
// document is returned, or the first failing operation is reported as *Error
// and nothing is returned. Numbers keep their exact text (json.Number), so a
// patch never changes 1.50 into 1.5.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Error is a patch that cannot be applied. Index is the position of the
// failing operation in the patch (-1 when the patch or the document as a
// whole is unusable), Op its operation name. Malformed tells a patch that is
// not a valid JSON Patch document (bad JSON, unknown op, missing member, bad
// pointer syntax; HTTP 400) from a valid one that does not apply to this
// document (missing target, failed test; HTTP 422 or 409).
type Error struct {
	Index     int
	Op        string
	Message   string
	Malformed bool
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return "json patch: " + e.Message
	}
	if e.Op == "" {
		return fmt.Sprintf("json patch: operation %d: %s", e.Index, e.Message)
	}
	return fmt.Sprintf("json patch: operation %d (%s): %s", e.Index, e.Op, e.Message)
}

// operation is one validated element of a patch document.
type operation struct {
	Op    string
	Path  pointer
	From  pointer // move and copy
	Value any     // add, replace and test
}

// Apply applies a JSON Patch document (RFC 6902) to doc and returns the new
// document. Errors are *Error.
func Apply(doc, patch []byte) ([]byte, error) {
	ops, err := parsePatch(patch)
	if err != nil {
		return nil, err
	}
	root, err := decode(doc)
	if err != nil {
		return nil, &Error{Index: -1, Message: "the document is not JSON: " + err.Error()}
	}
	for i, op := range ops {
		root, err = apply(root, op)
		if err != nil {
			return nil, &Error{Index: i, Op: op.Op, Message: err.Error()}
		}
	}
	return encode(root)
}

// parsePatch decodes the patch document. An operation that repeats a member
// ("op" twice, RFC 6902 A.13) is rejected: JSON does not say which copy wins.
func parsePatch(patch []byte) ([]operation, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(patch, &raws); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &Error{Index: -1, Message: "the patch is not JSON: " + se.Error(), Malformed: true}
		}
		return nil, &Error{Index: -1, Message: "the patch must be a JSON array of operation objects", Malformed: true}
	}
	ops := make([]operation, len(raws))
	for i, raw := range raws {
		op, err := parseOperation(raw)
		if err != nil {
			return nil, &Error{Index: i, Op: op.Op, Message: err.Error(), Malformed: true}
		}
		ops[i] = op
	}
	return ops, nil
}

// parseOperation checks one operation completely, so that a malformed
// patch is refused before anything is applied.
func parseOperation(raw json.RawMessage) (operation, error) {
	var op operation
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return op, fmt.Errorf("an operation must be a JSON object")
	}
	if err := stringMember(members, "op", &op.Op); err != nil {
		return op, err
	}
	if name, dup := duplicateMember(raw); dup {
		return op, fmt.Errorf("member %q appears more than once", name)
	}
	switch op.Op {
	case "add", "remove", "replace", "move", "copy", "test":
	case "":
		return op, fmt.Errorf("missing op")
	default:
		return op, fmt.Errorf("unknown operation %q", op.Op)
	}
	var err error
	if op.Path, err = pointerMember(members, "path"); err != nil {
		return op, err
	}
	switch op.Op {
	case "move", "copy":
		if op.From, err = pointerMember(members, "from"); err != nil {
			return op, err
		}
	case "add", "replace", "test":
		raw, ok := members["value"]
		if !ok {
			return op, fmt.Errorf("missing value")
		}
		if op.Value, err = decode(raw); err != nil {
			return op, fmt.Errorf("value: %w", err)
		}
	}
	return op, nil
}

// pointerMember reads a required JSON Pointer member.
func pointerMember(members map[string]json.RawMessage, name string) (pointer, error) {
	if _, ok := members[name]; !ok {
		return nil, fmt.Errorf("missing %s", name)
	}
	var s string
	if err := stringMember(members, name, &s); err != nil {
		return nil, err
	}
	p, err := parsePointer(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func stringMember(members map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := members[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%q must be a string", name)
	}
	return nil
}

// duplicateMember reports a member name that appears twice at the top level
// of the JSON object raw.
func duplicateMember(raw []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := tok.(string)
		if seen[name] {
			return name, true
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func apply(root any, op operation) (any, error) {
	switch op.Op {
	case "add":
		return add(root, op.Path, op.Value)
	case "remove":
		root, _, err := remove(root, op.Path)
		return root, err
	case "replace":
		return replace(root, op.Path, op.Value)
	case "move":
		return move(root, op.From, op.Path)
	case "copy":
		return copyValue(root, op.From, op.Path)
	case "test":
		return root, test(root, op.Path, op.Value)
	}
	return nil, fmt.Errorf("unknown operation %q", op.Op)
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("json patch: encode result: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
