package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/smart"
)

// referenceResolver maps the references of a transaction's resources to
// their targets: the fullUrl of another entry (urn:uuid:, urn:oid: or an
// absolute URL) becomes the Type/id assigned to it, and a conditional
// reference ("Patient?identifier=sys|123") the one resource it matches.
type referenceResolver struct {
	s          *Server
	ctx        context.Context
	identities map[string]string // fullUrl → Type/id
	cache      map[string]string // conditional reference → Type/id
}

func (r *referenceResolver) resolve(ref string) (string, error) {
	if target, ok := r.identities[ref]; ok {
		return target, nil
	}
	typ, query, ok := strings.Cut(ref, "?")
	if !ok || !model.IsResourceType(typ) {
		return ref, nil
	}
	if target, ok := r.cache[ref]; ok {
		return target, nil
	}
	criteria, err := parseCriteria(query)
	if err != nil {
		return "", err
	}
	matches, err := r.s.match(r.ctx, smart.Search, typ, criteria, 1)
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		what := "no"
		if len(matches) > 1 {
			what = "more than one"
		}
		return "", newError(http.StatusPreconditionFailed, codeNotFound, "conditional reference %q matches %s resource", ref, what)
	}
	target := typ + "/" + matches[0].ID
	r.cache[ref] = target
	return target, nil
}

var referenceKey = []byte(`"reference"`)

// rewriteReferences replaces every "reference" string of a resource (in
// nested elements, extensions and contained resources alike) by what
// resolve maps it to. A resource without references is returned as is.
func rewriteReferences(body []byte, resolve func(string) (string, error)) ([]byte, error) {
	if !bytes.Contains(body, referenceKey) {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep decimals exactly as written
	var doc any
	if err := dec.Decode(&doc); err != nil {
		// Left for model.Parse to report with its position.
		return body, nil
	}
	changed, err := rewriteValue(doc, resolve)
	if err != nil || !changed {
		return body, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("fhir: rewrite references: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func rewriteValue(v any, resolve func(string) (string, error)) (bool, error) {
	changed := false
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if ref, ok := child.(string); ok && k == "reference" {
				target, err := resolve(ref)
				if err != nil {
					return false, err
				}
				if target != ref {
					v[k], changed = target, true
				}
				continue
			}
			c, err := rewriteValue(child, resolve)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	case []any:
		for _, child := range v {
			c, err := rewriteValue(child, resolve)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	}
	return changed, nil
}
