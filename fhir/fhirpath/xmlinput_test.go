package fhirpath

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
)

// xmlNode is a FHIR XML element: FHIR keeps values in attributes.
type xmlNode struct {
	name     string
	attrs    map[string]string
	children []*xmlNode
	inner    string // raw content, kept for xhtml
}

func parseXMLTree(data []byte) (*xmlNode, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xmlNode
	var root *xmlNode
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
			n := &xmlNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if n.name == "div" && tok.Name.Space == "http://www.w3.org/1999/xhtml" {
				var raw struct {
					Inner string `xml:",innerxml"`
				}
				if err := dec.DecodeElement(&raw, &tok); err != nil {
					return nil, err
				}
				n.inner = `<div xmlns="http://www.w3.org/1999/xhtml">` + raw.Inner + `</div>`
				stack[len(stack)-1].children = append(stack[len(stack)-1].children, n)
				continue
			}
			if len(stack) > 0 {
				stack[len(stack)-1].children = append(stack[len(stack)-1].children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// xmlToJSON converts a FHIR XML resource into its JSON form, using the
// model for cardinalities, choice types and primitive types.
func xmlToJSON(m *model, root *xmlNode) map[string]any {
	out := convertComplex(m, root, root.name)
	out["resourceType"] = root.name
	return out
}

func convertComplex(m *model, n *xmlNode, typ string) map[string]any {
	out := map[string]any{}
	for k, v := range n.attrs {
		if k == "url" || k == "id" {
			out[k] = v
		}
	}
	for _, c := range n.children {
		key, childType, many := resolveXMLElement(m, typ, c.name)
		if childType == "" {
			continue
		}
		var value, ext any
		switch {
		case childType == "Resource" || m.isResource(childType) && len(c.children) == 1 && m.isResource(c.children[0].name):
			value = xmlToJSON(m, c.children[0])
		case childType == "xhtml":
			value = c.inner
		case m.isPrimitive(childType):
			if v, ok := c.attrs["value"]; ok {
				value = primitiveJSON(childType, v)
			}
			if len(c.children) > 0 || c.attrs["id"] != "" {
				e := convertComplex(m, c, "Element")
				delete(e, "url")
				ext = e
			}
		default:
			value = convertComplex(m, c, childType)
		}
		if many {
			arr, _ := out[key].([]any)
			exts, _ := out["_"+key].([]any)
			for len(exts) < len(arr) {
				exts = append(exts, nil)
			}
			out[key] = append(arr, value)
			if ext != nil || len(exts) > 0 && hasNonNil(exts) {
				out["_"+key] = append(exts, ext)
			}
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

func hasNonNil(a []any) bool {
	for _, x := range a {
		if x != nil {
			return true
		}
	}
	return false
}

// resolveXMLElement finds an element's JSON key, type and cardinality.
func resolveXMLElement(m *model, typ, name string) (key, childType string, many bool) {
	if el := m.element(typ, name); el != nil && !el.choice {
		return name, el.types[0], el.many
	}
	for i := len(name) - 1; i > 0; i-- {
		el := m.element(typ, name[:i])
		if el == nil || !el.choice {
			continue
		}
		for _, t := range el.types {
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
