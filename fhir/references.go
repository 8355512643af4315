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
// resolve maps it to. A resource without references to rewrite is
// returned as is.
//
// It scans the JSON instead of decoding it: most entries of a transaction
// refer to stored resources, whose references stay as they are, and a
// decode into maps and a re-encode cost as much as a tenth of a Bundle
// entry's validation. A rewritten reference is spliced in place, so the
// rest of the resource keeps its bytes and its member order.
func rewriteReferences(body []byte, resolve func(string) (string, error)) ([]byte, error) {
	if !bytes.Contains(body, referenceKey) {
		return body, nil
	}
	var out []byte
	copied := 0 // body[:copied] is in out
	for _, ref := range referenceValues(body) {
		old, ok := jsonString(body[ref.start:ref.end])
		if !ok {
			return body, nil // left for model.Parse to report
		}
		target, err := resolve(old)
		if err != nil {
			return nil, err
		}
		if target == old {
			continue
		}
		quoted, err := json.Marshal(target)
		if err != nil {
			return nil, fmt.Errorf("fhir: rewrite references: %w", err)
		}
		out = append(append(out, body[copied:ref.start]...), quoted...)
		copied = ref.end
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[copied:]...), nil
}

// jsonString decodes a JSON string (quotes included): in place when it has
// no escape, as references seldom do.
func jsonString(quoted []byte) (string, bool) {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1]), true
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return s, err == nil
}

// span is the byte range of a JSON string, quotes included.
type span struct{ start, end int }

// referenceValues returns the string values of every "reference" member of
// a JSON document, at any depth. Malformed JSON yields what was found
// before the fault: model.Parse reports the fault itself.
func referenceValues(body []byte) []span {
	var found []span
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		end := stringEnd(body, i)
		if end < 0 {
			return found
		}
		key := body[i:end]
		i = end - 1
		colon := skipSpace(body, end)
		if colon >= len(body) || body[colon] != ':' || !bytes.Equal(key, referenceKey) {
			continue // a value, or another member
		}
		value := skipSpace(body, colon+1)
		if value >= len(body) || body[value] != '"' {
			continue // not a string: model.Parse refuses it
		}
		valueEnd := stringEnd(body, value)
		if valueEnd < 0 {
			return found
		}
		found = append(found, span{value, valueEnd})
		i = valueEnd - 1
	}
	return found
}

// stringEnd returns the offset just past the JSON string that starts at
// body[start] (a quote), or -1 when it is not terminated. It searches for
// each quote rather than stepping by byte (strings are most of a
// resource's bytes, and the audit of every read scans one), and takes the
// first one not escaped: preceded by an even number of backslashes.
func stringEnd(body []byte, start int) int {
	for i := start + 1; ; {
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			return -1
		}
		quote := i + j
		backslashes := 0
		for k := quote - 1; k > start && body[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return quote + 1
		}
		i = quote + 1
	}
}

// skipSpace returns the offset of the first non-whitespace byte from i.
func skipSpace(body []byte, i int) int {
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	return i
}
