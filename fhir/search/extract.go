package search

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/store"
)

// Extractor computes the search index entries of resources: every parameter
// of the resource's type, each expression compiled once. It is read-only once
// built and safe for concurrent use.
type Extractor struct {
	byType map[string][]compiledParam
	// common holds the common parameters, rooted at Resource, for the types
	// without parameters of their own (Binary, Parameters, ...).
	common   []compiledParam
	registry *Registry
	norm     normaliser
	opts     []fhirpath.Option
	// skipped lists the parameters whose expression did not compile.
	skipped []string
	// composites: index composite parameters (on unless WithoutComposites).
	composites bool
	// fullText: index _text and _content (on unless WithoutFullText).
	fullText bool
}

type compiledParam struct {
	param *Param
	expr  *fhirpath.Expression
	// second is the second component's parameter, for composites.
	second *Param
	// system is the code system of the parameter's plain code values
	// (BoundSystem), indexed with them.
	system string
}

// ExtractorOption configures an Extractor.
type ExtractorOption func(*Extractor)

// WithBaseURL makes absolute references to the server at base index as
// relative ones ("https://hub.example/fhir/Patient/1" → "Patient/1").
func WithBaseURL(base string) ExtractorOption {
	return func(x *Extractor) { x.norm.base = strings.TrimSuffix(base, "/") }
}

// NewExtractor compiles the expressions of every parameter of the registry
// that can be indexed: the Supported ones, except _id and _lastUpdated,
// which the store resolves on the resource itself.
func NewExtractor(r *Registry, opts ...ExtractorOption) *Extractor {
	x := &Extractor{byType: map[string][]compiledParam{}, registry: r, composites: true, fullText: true}
	for _, o := range opts {
		o(x)
	}
	x.opts = []fhirpath.Option{fhirpath.WithResolver(referenceStub)}
	for _, typ := range r.Types() {
		x.byType[typ] = x.compile(r.Params(typ))
	}
	x.common = x.compile(r.Params(""))
	return x
}

func (x *Extractor) compile(params []*Param) []compiledParam {
	var out []compiledParam
	for _, p := range params {
		cp := compiledParam{param: p, system: BoundSystem(p.Type, p.Code)}
		switch {
		case x.composites && p.Kind == store.KindComposite && len(p.Components) == 2 && p.Expression != "":
			cp.second, _ = x.registry.Lookup(p.Type, p.Components[1].Code)
		case isNear(p):
		case !indexable(p):
			continue
		}
		expr, err := fhirpath.Compile(p.Expression)
		if err != nil {
			x.skipped = append(x.skipped, fmt.Sprintf("%s.%s: %v", p.Type, p.Code, err))
			continue
		}
		cp.expr = expr
		out = append(out, cp)
	}
	return out
}

func hasParam(params []compiledParam, code string) bool {
	for _, p := range params {
		if p.param.Code == code {
			return true
		}
	}
	return false
}

func indexable(p *Param) bool {
	return p.Supported() && p.Code != store.ParamID && p.Code != store.ParamLastUpdated
}

// Skipped lists the parameters left out because their expression does not
// compile, as "Type.code: error".
func (x *Extractor) Skipped() []string { return append([]string(nil), x.skipped...) }

// referenceStub resolves "Type/id" references (relative or absolute) to a
// resource of that type, so "where(resolve() is Patient)" can test the type
// of a reference without reading the target.
func referenceStub(ref string) (any, bool) {
	ref = strings.TrimSuffix(ref, "/")
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash <= 0 {
		return nil, false
	}
	typ := ref[:slash]
	if j := strings.LastIndexByte(typ, '/'); j >= 0 {
		typ = typ[j+1:]
	}
	if !isResourceType(typ) {
		return nil, false
	}
	return map[string]any{"resourceType": typ, "id": ref[slash+1:]}, true
}

// Extract returns the index entries of one resource (its canonical JSON).
func (x *Extractor) Extract(resourceType string, body []byte) ([]store.IndexEntry, error) {
	decode := decodeResource // the narrative is only needed for _text
	if x.fullText {
		decode = decodeJSON
	}
	doc, err := decode(body)
	if err != nil {
		return nil, fmt.Errorf("search: extract %s: %w", resourceType, err)
	}
	resource, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("search: extract %s: the body is not a JSON object", resourceType)
	}
	return x.ExtractDecoded(resourceType, resource)
}

// ExtractDecoded is Extract for a resource already decoded by encoding/json
// with UseNumber.
//
// A parameter whose expression fails to evaluate on this resource (a FHIRPath
// function the engine lacks) is left out rather than failing the write: the
// resource is simply not findable by that parameter.
func (x *Extractor) ExtractDecoded(resourceType string, resource map[string]any) ([]store.IndexEntry, error) {
	return x.extract(resourceType, resource, nil), nil
}

// extract evaluates every parameter of resourceType, reporting the parameters
// that fail to onError when it is not nil.
func (x *Extractor) extract(resourceType string, resource map[string]any, onError func(error)) []store.IndexEntry {
	params, ok := x.byType[resourceType]
	if !ok {
		params = x.common
	}
	entries := make([]store.IndexEntry, 0, 64)
	if !hasParam(params, paramIdentifier) {
		// Conditional interactions match on identifier for every type that
		// has the element, with or without a parameter for it.
		for _, id := range list(resource[paramIdentifier]) {
			entries = tokenEntries(paramIdentifier, Value{Data: id, Type: "Identifier"}, entries)
		}
	}
	var composites compositeInputs
	for _, cp := range params {
		items, err := composites.evaluate(cp, resource, x.opts)
		if err != nil {
			if onError != nil {
				onError(fmt.Errorf("search: extract %s %s: %w", resourceType, cp.param.Code, err))
			}
			continue
		}
		start := len(entries)
		for _, it := range items {
			v := Value{Data: it.Value, Type: it.Type}
			if s, isCode := v.Data.(string); isCode && cp.system != "" {
				entries = boundCodeEntries(cp.param.Code, cp.system, s, entries)
				continue
			}
			if cp.second != nil {
				entries = x.norm.compositeEntries(cp.param, cp.second, v, entries)
				continue
			}
			entries = x.norm.entries(cp.param, v, entries)
		}
		entries = append(entries[:start], dedupe(entries[start:])...)
	}
	if x.fullText {
		entries = textEntries(resource, entries)
	}
	return entries
}

// compositeInputs remembers, during one extraction, what the composite
// parameters' expressions selected: most share theirs ("Observation" for the
// five code-value-* of an Observation), and evaluating one is most of a
// composite's cost.
type compositeInputs []struct {
	expr  string
	items fhirpath.Collection
}

// evaluate evaluates cp's expression, once per distinct expression for composites.
func (c *compositeInputs) evaluate(cp compiledParam, resource map[string]any, opts []fhirpath.Option) (fhirpath.Collection, error) {
	if cp.second == nil {
		return cp.expr.Evaluate(resource, opts...)
	}
	for _, in := range *c {
		if in.expr == cp.param.Expression {
			return in.items, nil
		}
	}
	items, err := cp.expr.Evaluate(resource, opts...)
	if err == nil {
		*c = append(*c, struct {
			expr  string
			items fhirpath.Collection
		}{cp.param.Expression, items})
	}
	return items, err
}

// boundCodeEntries indexes a plain code whose element is bound to one code
// system as if it were a Coding of that system: "system|code" and "code"
// (not "|code": it has a system; "system|" is a prefix of the first).
func boundCodeEntries(param, system, code string, out []store.IndexEntry) []store.IndexEntry {
	if code == "" {
		return out
	}
	return append(out,
		store.IndexEntry{Param: param, Kind: store.KindToken, Text: system + "|" + code},
		store.IndexEntry{Param: param, Kind: store.KindToken, Text: code})
}

// WithoutFullText leaves out the _text and _content entries (the words of
// the narrative and of every string), which are a large part of the index.
func WithoutFullText() ExtractorOption {
	return func(x *Extractor) { x.fullText = false }
}

// dedupe drops repeated entries of one parameter (a system shared by two
// codings gives "system|" twice), keeping the first of each, in place. Most
// parameters have a handful of entries: a linear scan beats a map there.
func dedupe(entries []store.IndexEntry) []store.IndexEntry {
	if len(entries) < 2 {
		return entries
	}
	if len(entries) > 64 {
		return dedupeLarge(entries)
	}
	out := entries[:1]
	for _, e := range entries[1:] {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func dedupeLarge(entries []store.IndexEntry) []store.IndexEntry {
	seen := make(map[store.IndexEntry]struct{}, len(entries))
	out := entries[:0]
	for _, e := range entries {
		if _, dup := seen[e]; dup {
			continue
		}
		seen[e] = struct{}{}
		out = append(out, e)
	}
	return out
}

var defaultExtractor = sync.OnceValue(func() *Extractor { return NewExtractor(DefaultRegistry()) })
