package searchclient

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// resource is one generated resource, decoded for the expectations.
type resource struct {
	typ, id string
	doc     map[string]any
}

// ref is the "Type/id" a resource is known by in search results.
func (r *resource) ref() string { return r.typ + "/" + r.id }

// model is a set of resources the expectations are computed over: the
// generated population, or the population with what the writer added.
type model struct {
	byRef  map[string]*resource
	byType map[string][]*resource
}

func newModel() *model {
	return &model{byRef: map[string]*resource{}, byType: map[string][]*resource{}}
}

// add decodes one resource's JSON into the model.
func (m *model) add(typ, id string, body []byte) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return fmt.Errorf("decode %s/%s: %w", typ, id, err)
	}
	r := &resource{typ: typ, id: id, doc: doc}
	if _, dup := m.byRef[r.ref()]; dup {
		return fmt.Errorf("%s added twice", r.ref())
	}
	m.byRef[r.ref()] = r
	m.byType[typ] = append(m.byType[typ], r)
	return nil
}

// clone returns a model holding the same resources, to add more to.
func (m *model) clone() *model {
	c := newModel()
	for k, v := range m.byRef {
		c.byRef[k] = v
	}
	for k, v := range m.byType {
		c.byType[k] = slices.Clone(v)
	}
	return c
}

// where returns the resources of typ for which keep holds.
func (m *model) where(typ string, keep func(*resource) bool) []*resource {
	var out []*resource
	for _, r := range m.byType[typ] {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// refSet returns the "Type/id" of resources.
func refSet(rs []*resource) map[string]bool {
	out := make(map[string]bool, len(rs))
	for _, r := range rs {
		out[r.ref()] = true
	}
	return out
}

// values walks a dotted path through objects and arrays, as FHIRPath does
// for plain element paths: every array on the way is flattened.
func values(v any, path string) []any {
	cur := []any{v}
	for _, step := range strings.Split(path, ".") {
		var next []any
		for _, c := range cur {
			o, ok := c.(map[string]any)
			if !ok {
				continue
			}
			switch x := o[step].(type) {
			case nil:
			case []any:
				next = append(next, x...)
			default:
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

// strs returns the string values at path.
func (r *resource) strs(path string) []string {
	var out []string
	for _, v := range values(r.doc, path) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// refs returns the references at path (a Reference element's path).
func (r *resource) refs(path string) []string { return r.strs(path + ".reference") }

// refersTo reports whether the Reference at path points to target ("Type/id").
func (r *resource) refersTo(path, target string) bool {
	return slices.Contains(r.refs(path), target)
}

// hasCoding reports whether a CodeableConcept (or Coding, with codingPath
// "") at path has a coding with system and code; an empty system matches any.
func (r *resource) hasCoding(path, system, code string) bool {
	for _, c := range values(r.doc, path) {
		o, _ := c.(map[string]any)
		codings := values(o, "coding")
		if _, direct := o["code"]; direct {
			codings = append(codings, o)
		}
		for _, cd := range codings {
			co, _ := cd.(map[string]any)
			if co["code"] == code && (system == "" || co["system"] == system) {
				return true
			}
		}
	}
	return false
}

// instants returns the start instants of the dateTime or Period values at path.
func (r *resource) instants(path string) []time.Time {
	var out []time.Time
	for _, v := range values(r.doc, path) {
		s, ok := v.(string)
		if o, isObj := v.(map[string]any); isObj {
			s, ok = o["start"].(string)
		}
		if !ok {
			continue
		}
		out = append(out, parseInstant(s))
	}
	return out
}

// parseInstant reads a FHIR date or dateTime as generated: a date is
// midnight UTC, a dateTime carries its offset.
func parseInstant(s string) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t
	}
	panic(fmt.Sprintf("searchclient: unparsable date %q in generated data", s))
}

// quantities returns the numeric values of the Quantity elements at path.
func (r *resource) quantities(path string) []float64 {
	var out []float64
	for _, v := range values(r.doc, path+".value") {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err == nil {
			out = append(out, f)
		}
	}
	return out
}

// nameParts returns every string of the HumanNames at path that a FHIR
// "name" search looks at: family, given, prefix, suffix and text.
func (r *resource) nameParts(path string) []string {
	var out []string
	for _, part := range []string{"family", "given", "prefix", "suffix", "text"} {
		out = append(out, r.strs(path+"."+part)...)
	}
	return out
}

// fold lower-cases s and removes its accents, as FHIR string search
// compares ("Hélène" matches "helene"). It decomposes with Unicode NFD and
// drops the combining marks: written here, apart from the server's own
// folding, so that the expectations do not share its mistakes.
func fold(s string) string {
	var b strings.Builder
	for _, c := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, c) {
			continue
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// anyPrefix reports whether a folded string of ss starts with fold(prefix).
func anyPrefix(ss []string, prefix string) bool {
	p := fold(prefix)
	return slices.ContainsFunc(ss, func(s string) bool { return strings.HasPrefix(fold(s), p) })
}

// sortKey is one _sort key over the model: the values a resource has for
// the parameter (strings folded, or instants, or numbers), and the direction.
type sortKey struct {
	values func(*resource) []any
	desc   bool
}

// byKey orders resources as the server documents for _sort: on each key
// ascending by the smallest value and descending by the largest, resources
// without a value last either way; then by type and id, ascending, so that
// the order is total.
func byKey(keys ...sortKey) func(a, b *resource) int {
	return func(a, b *resource) int {
		for _, k := range keys {
			va, oka := pickValue(k.values(a), k.desc)
			vb, okb := pickValue(k.values(b), k.desc)
			switch {
			case !oka && !okb:
				continue
			case !oka:
				return 1
			case !okb:
				return -1
			}
			c := compareValues(va, vb)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.id, b.id))
	}
}

// pickValue returns the smallest value (or the largest when desc).
func pickValue(vs []any, desc bool) (any, bool) {
	if len(vs) == 0 {
		return nil, false
	}
	best := vs[0]
	for _, v := range vs[1:] {
		c := compareValues(v, best)
		if (desc && c > 0) || (!desc && c < 0) {
			best = v
		}
	}
	return best, true
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		return cmp.Compare(x, b.(string))
	case time.Time:
		return x.Compare(b.(time.Time))
	case float64:
		return cmp.Compare(x, b.(float64))
	}
	panic(fmt.Sprintf("searchclient: cannot compare %T", a))
}

// foldedStrings is a sort key's values: the folded strings at path.
func foldedStrings(path string) func(*resource) []any {
	return func(r *resource) []any {
		var out []any
		for _, s := range r.strs(path) {
			out = append(out, fold(s))
		}
		return out
	}
}

// instantsAt is a sort key's values: the instants at path.
func instantsAt(path string) func(*resource) []any {
	return func(r *resource) []any {
		var out []any
		for _, t := range r.instants(path) {
			out = append(out, t)
		}
		return out
	}
}

// periodBounds is a sort key's values for Periods at path: the start and the
// end, so that an ascending sort takes the start and a descending one the
// end, as the server sorts on a date range's low and high bounds.
func periodBounds(path string) func(*resource) []any {
	return func(r *resource) []any {
		var out []any
		for _, v := range values(r.doc, path) {
			o, _ := v.(map[string]any)
			for _, k := range []string{"start", "end"} {
				if s, ok := o[k].(string); ok {
					out = append(out, parseInstant(s))
				}
			}
		}
		return out
	}
}

// idKey is the _id sort key's value.
func idKey(r *resource) []any { return []any{r.id} }

// ordered sorts rs by keys and returns their "Type/id".
func ordered(rs []*resource, keys ...sortKey) []string {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, byKey(keys...))
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ref()
	}
	return out
}

// number reads a JSON number decoded with UseNumber.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}
