package model

import (
	"bytes"
	"encoding/json"
	"fmt"

	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Parse parses and validates one R4 resource (JSON). Errors a client caused
// are *Error. The resource keeps a compacted copy of body, the source of its
// canonical form (Marshal).
func Parse(body []byte) (*Resource, error) {
	// Compacting also checks the syntax, and every later pass reads fewer
	// bytes.
	var compact bytes.Buffer
	compact.Grow(len(body))
	if err := json.Compact(&compact, body); err != nil {
		return nil, syntaxError(body)
	}
	compacted := compact.Bytes()
	nulls, err := checkEnvelope(compacted)
	if err != nil {
		return nil, err
	}
	c := mustCodec()
	msg, err := c.unmarshaller.Unmarshal(withoutArrayNulls(compacted, nulls))
	if err != nil {
		return nil, convertError(err)
	}
	cr, ok := msg.(*rpb.ContainedResource)
	if !ok {
		return nil, fmt.Errorf("model: parse: unexpected message %T", msg)
	}
	return newResource(cr, compacted)
}

// checkEnvelope rejects what the library reports poorly or lets through:
// a body that is not an object, a missing or unknown resourceType, and the
// FHIR JSON rules checkStrict enforces. The body is valid JSON: Parse
// compacted it, which checks the syntax.
// It returns the offsets of the nulls in primitive arrays.
func checkEnvelope(body []byte) ([]int, error) {
	found, strictErr := checkStrict(body)
	if strictErr != nil && strictErr.Syntax {
		return nil, strictErr
	}
	rawType := found.resourceType
	if strictErr != nil && rawType == nil {
		// The scan stopped before reaching resourceType: look it up so that
		// a missing or unknown type is reported first.
		var top struct {
			ResourceType json.RawMessage `json:"resourceType"`
		}
		_ = json.Unmarshal(body, &top)
		rawType = top.ResourceType
	}
	name, err := resourceTypeName(rawType)
	if err != nil {
		return nil, err
	}
	if strictErr != nil {
		return nil, newError(name+strictErr.Path, strictErr.Message, false)
	}
	return found.nulls, nil
}

func resourceTypeName(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", newError("", "the resource has no resourceType", false)
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return "", newError("resourceType", "resourceType must be a string", false)
	}
	if !IsResourceType(name) {
		return "", newError("resourceType", fmt.Sprintf("unknown resource type %q", name), false)
	}
	return name, nil
}

// Marshal returns the canonical compact JSON the store keeps and reads
// serve: the parsed body with resourceType, id and meta first, and the id
// and meta SetID and SetMeta gave.
func (r *Resource) Marshal() ([]byte, error) {
	return r.canonical(), nil
}
