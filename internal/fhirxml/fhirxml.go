// Package fhirxml converts FHIR R4 resources from the XML format to the JSON
// format, driven by a FHIR type model: arrays where an element repeats,
// choice elements under their typed name (valueQuantity), primitives typed
// (booleans, exact numbers) with their id and extensions under "_field",
// and the narrative's xhtml div kept as a string.
//
// It exists for tests that read the official test suites, which are written
// in XML; it converts what those suites use and is not a validating parser.
// Elements the model does not know are dropped.
package fhirxml

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Model is the FHIR type model the conversion needs; the FHIRPath engine's
// fhirpath.Types() satisfies it.
type Model interface {
	// Element describes an element of a type (inherited ones included):
	// its types, whether it is a choice (value[x]) and whether it repeats.
	Element(typeName, name string) (types []string, choice, many, ok bool)
	// Kind returns "primitive", "complex", "resource", "backbone" or "".
	Kind(typeName string) string
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

// node is a FHIR XML element: FHIR keeps values in attributes.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	inner    string // the whole xhtml div, serialised
}

// ToJSON converts one FHIR XML resource into FHIR JSON.
func ToJSON(data []byte, m Model) ([]byte, error) {
	v, err := ToMap(data, m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("fhirxml: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ToMap converts one FHIR XML resource into the value encoding/json with
// UseNumber decodes its JSON form into (numbers are json.Number).
func ToMap(data []byte, m Model) (map[string]any, error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, fmt.Errorf("fhirxml: %w", err)
	}
	if root == nil {
		return nil, errors.New("fhirxml: no element")
	}
	if m.Kind(root.name) != "resource" {
		return nil, fmt.Errorf("fhirxml: root element %s is not a resource", root.name)
	}
	return resourceJSON(m, root), nil
}

func parseTree(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if n.name == "div" && tok.Name.Space == xhtmlNS && len(stack) > 0 {
				inner, err := serializeXHTML(dec)
				if err != nil {
					return nil, err
				}
				n.inner = `<div xmlns="` + xhtmlNS + `"` + attributes(tok.Attr) + inner
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
				continue
			}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

func resourceJSON(m Model, root *node) map[string]any {
	out := complexJSON(m, root, root.name)
	out["resourceType"] = root.name
	return out
}

func complexJSON(m Model, n *node, typ string) map[string]any {
	out := map[string]any{}
	for k, v := range n.attrs {
		if k == "url" || k == "id" {
			out[k] = v
		}
	}
	for _, c := range n.children {
		key, childType, many := resolveElement(m, typ, c.name)
		if childType == "" {
			continue
		}
		value, ext := elementJSON(m, c, childType)
		if many {
			appendMany(out, key, value, ext)
			continue
		}
		if value != nil {
			out[key] = value
		}
		if ext != nil {
			out["_"+key] = ext
		}
	}
	return out
}

// elementJSON converts one child element: its JSON value and, for a
// primitive with an id or extensions, its "_field" object.
func elementJSON(m Model, c *node, childType string) (value any, ext map[string]any) {
	switch {
	case childType == "xhtml":
		return c.inner, nil
	case (childType == "Resource" || m.Kind(childType) == "resource") && len(c.children) == 1 && m.Kind(c.children[0].name) == "resource":
		return resourceJSON(m, c.children[0]), nil
	case m.Kind(childType) == "primitive":
		if v, ok := c.attrs["value"]; ok {
			value = primitiveJSON(childType, v)
		}
		if len(c.children) > 0 || c.attrs["id"] != "" {
			ext = complexJSON(m, c, "Element")
			delete(ext, "url")
		}
		return value, ext
	}
	return complexJSON(m, c, childType), nil
}

// appendMany appends to a repeating element, keeping "_field" aligned with
// the values when any of them has an extension.
func appendMany(out map[string]any, key string, value any, ext map[string]any) {
	arr, _ := out[key].([]any)
	exts, _ := out["_"+key].([]any)
	for len(exts) < len(arr) {
		exts = append(exts, nil)
	}
	out[key] = append(arr, value)
	if ext != nil || hasNonNil(exts) {
		out["_"+key] = append(exts, toAny(ext))
	}
}

func toAny(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func hasNonNil(a []any) bool {
	for _, x := range a {
		if x != nil {
			return true
		}
	}
	return false
}

// resolveElement finds an element's JSON key, type and cardinality; a choice
// element is written with its type in the name (valueQuantity).
func resolveElement(m Model, typ, name string) (key, childType string, many bool) {
	if types, choice, many, ok := m.Element(typ, name); ok && !choice {
		return name, types[0], many
	}
	for i := len(name) - 1; i > 0; i-- {
		types, choice, _, ok := m.Element(typ, name[:i])
		if !ok || !choice {
			continue
		}
		for _, t := range types {
			if strings.EqualFold(t, name[i:]) {
				return name, t, false
			}
		}
	}
	return "", "", false
}

func primitiveJSON(typ, v string) any {
	switch typ {
	case "boolean":
		return v == "true"
	case "integer", "positiveInt", "unsignedInt", "decimal":
		return json.Number(v)
	}
	return v
}

// serializeXHTML writes the rest of an xhtml element whose start tag was
// read (from the end of that tag on) the way the JSON format carries it: line
// ends normalised, text escaped only where XML requires it, empty elements
// closed with "/>" and the xhtml namespace declared once, on the div.
func serializeXHTML(dec *xml.Decoder) (string, error) {
	var b strings.Builder
	depth := 0
	open := true // the last start tag is not closed yet: it may be empty
	closeTag := func() {
		if open {
			b.WriteString(">")
			open = false
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("xhtml: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			closeTag()
			b.WriteString("<" + tok.Name.Local)
			if tok.Name.Space != "" && tok.Name.Space != xhtmlNS {
				b.WriteString(` xmlns="` + escapeAttr(tok.Name.Space) + `"`)
			}
			b.WriteString(attributes(tok.Attr))
			open = true
			depth++
		case xml.EndElement:
			if open {
				b.WriteString("/>")
				open = false
			} else {
				b.WriteString("</" + tok.Name.Local + ">")
			}
			if depth == 0 {
				return b.String(), nil
			}
			depth--
		case xml.CharData:
			closeTag()
			b.WriteString(escapeText(string(tok)))
		case xml.Comment:
			closeTag()
			b.WriteString("<!--" + string(tok) + "-->")
		}
	}
}

// attributes writes the attributes of an xhtml element; namespace
// declarations are left out (the div declares the xhtml namespace).
func attributes(attrs []xml.Attr) string {
	var b strings.Builder
	for _, a := range attrs {
		name := a.Name.Local
		switch {
		case a.Name.Space == "xmlns" || a.Name.Space == "" && name == "xmlns":
			continue
		case a.Name.Space == "http://www.w3.org/XML/1998/namespace" || a.Name.Space == "xml":
			name = "xml:" + name
		}
		b.WriteString(" " + name + `="` + escapeAttr(a.Value) + `"`)
	}
	return b.String()
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;")
)

func escapeText(s string) string { return textEscaper.Replace(s) }
func escapeAttr(s string) string { return attrEscaper.Replace(s) }
