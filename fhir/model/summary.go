package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// SubsettedSystem and SubsettedCode form the meta.tag a server adds to a
// resource it returns incomplete (_summary, _elements).
const (
	SubsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	SubsettedCode   = "SUBSETTED"
)

// Summary returns body reduced per FHIR _summary mode: "true" (elements
// marked isSummary, plus mandatory ones, recursively through backbone
// elements and complex datatypes: Attachment.data and the extensions of
// datatypes go), "text" (text, id, meta and mandatory top-level elements),
// "data" (all but text), "false" (unchanged). "count" is handled by search,
// not here. Extensions, primitive extensions (_birthDate) and resources
// inside a kept element (Bundle.entry.resource) are kept whole. Every
// reduced result carries the SUBSETTED tag.
func Summary(body []byte, mode string) ([]byte, error) {
	if mode == "false" {
		return body, nil
	}
	obj, typ, err := decodeResource(body)
	if err != nil {
		return nil, err
	}
	idx := mustElementIndex()
	switch mode {
	case "true":
		if _, err := keepSummary(idx, typ, obj); err != nil {
			return nil, err
		}
	case "text":
		keepTopLevel(idx, typ, obj, map[string]bool{"text": true})
	case "data":
		delete(obj, "text")
		delete(obj, "_text")
	default:
		return nil, newError("_summary", fmt.Sprintf("unsupported _summary mode %q (want true, text, data or false)", mode), false)
	}
	return encodeSubsetted(obj)
}

// Elements keeps only the listed top-level elements (plus id, meta,
// resourceType and mandatory elements), per the _elements rules. Names are
// element names ("name", "value" for value[x]), optionally prefixed with the
// resource type ("Patient.name"); names the type does not have are ignored.
// An empty list leaves body unchanged.
func Elements(body []byte, elements []string) ([]byte, error) {
	if len(elements) == 0 {
		return body, nil
	}
	obj, typ, err := decodeResource(body)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, e := range elements {
		wanted[strings.TrimPrefix(strings.TrimSpace(e), typ+".")] = true
	}
	keepTopLevel(mustElementIndex(), typ, obj, wanted)
	return encodeSubsetted(obj)
}

func decodeResource(body []byte) (map[string]json.RawMessage, string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, "", fmt.Errorf("model: subset: %w", err)
	}
	var typ string
	if err := json.Unmarshal(obj["resourceType"], &typ); err != nil || typ == "" {
		return nil, "", fmt.Errorf("model: subset: body has no resourceType")
	}
	return obj, typ, nil
}

// keepTopLevel removes every top-level element but resourceType, id, meta,
// the mandatory elements and those named in wanted.
func keepTopLevel(idx *elementIndex, typ string, obj map[string]json.RawMessage, wanted map[string]bool) {
	for key := range obj {
		name, info, _ := idx.lookup(typ, key)
		base := strings.TrimPrefix(key, "_")
		switch {
		case key == "resourceType", base == "id", base == "meta", info.required:
		case wanted[base], wanted[name], wanted[strings.TrimSuffix(name, "[x]")]:
		default:
			delete(obj, key)
		}
	}
}

// keepSummary removes from the object at path (an element path, or a
// datatype name) every element that is neither summary nor mandatory, and
// filters kept backbone elements and complex datatypes the same way. It
// reports whether anything changed.
func keepSummary(idx *elementIndex, path string, obj map[string]json.RawMessage) (bool, error) {
	changed := false
	for key, value := range obj {
		if key == "resourceType" {
			continue
		}
		name, info, ok := idx.lookup(path, key)
		if !ok || !(info.summary || info.required) {
			delete(obj, key)
			changed = true
			continue
		}
		if strings.HasPrefix(key, "_") {
			continue
		}
		child := idx.childPath(path, key, name, info)
		if child == "" {
			continue
		}
		filtered, childChanged, err := summariseValue(idx, child, value)
		if err != nil {
			return false, fmt.Errorf("model: summary of %s.%s: %w", path, key, err)
		}
		switch {
		case filtered == nil:
			// Nothing of the element is left, and FHIR forbids empty ones.
			delete(obj, key)
			changed = true
		case childChanged:
			obj[key] = filtered
			changed = true
		}
	}
	return changed, nil
}

// summariseValue applies keepSummary to a backbone element's or datatype's
// value, an object or an array of objects. It returns nil when nothing is
// left (the objects that become empty are dropped), and value itself, not
// re-encoded, when nothing changed.
func summariseValue(idx *elementIndex, path string, value json.RawMessage) (json.RawMessage, bool, error) {
	value = bytes.TrimSpace(value)
	if len(value) > 0 && value[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(value, &items); err != nil {
			return nil, false, err
		}
		kept, changed := items[:0], false
		for _, item := range items {
			filtered, itemChanged, err := summariseValue(idx, path, item)
			if err != nil {
				return nil, false, err
			}
			if filtered != nil {
				kept = append(kept, filtered)
			}
			changed = changed || itemChanged || filtered == nil
		}
		if len(kept) == 0 {
			return nil, true, nil
		}
		if !changed {
			return value, false, nil
		}
		out, err := marshalCompact(kept)
		return out, true, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return nil, false, err
	}
	changed, err := keepSummary(idx, path, obj)
	if err != nil {
		return nil, false, err
	}
	if len(obj) == 0 {
		return nil, true, nil
	}
	if !changed {
		return value, false, nil
	}
	out, err := marshalCompact(obj)
	return out, true, err
}

// encodeSubsetted adds the SUBSETTED tag to meta and encodes the resource.
func encodeSubsetted(obj map[string]json.RawMessage) ([]byte, error) {
	meta := map[string]json.RawMessage{}
	if raw, ok := obj["meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("model: subset: meta: %w", err)
		}
	}
	var tags []json.RawMessage
	if raw, ok := meta["tag"]; ok {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, fmt.Errorf("model: subset: meta.tag: %w", err)
		}
	}
	if !hasSubsettedTag(tags) {
		tag, err := marshalCompact(map[string]string{"system": SubsettedSystem, "code": SubsettedCode, "display": "subsetted"})
		if err != nil {
			return nil, err
		}
		tags = append(tags, tag)
	}
	var err error
	if meta["tag"], err = marshalCompact(tags); err != nil {
		return nil, err
	}
	if obj["meta"], err = marshalCompact(meta); err != nil {
		return nil, err
	}
	return marshalCompact(obj)
}

func hasSubsettedTag(tags []json.RawMessage) bool {
	for _, raw := range tags {
		var c struct{ System, Code string }
		if json.Unmarshal(raw, &c) == nil && c.System == SubsettedSystem && c.Code == SubsettedCode {
			return true
		}
	}
	return false
}

// marshalCompact encodes v like the canonical form: compact, keys sorted,
// and without escaping <, > and & (narratives are XHTML).
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("model: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
