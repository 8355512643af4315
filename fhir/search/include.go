package search

import (
	"fmt"
	"sort"
	"strings"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/store"
)

// Include is a parsed _include or _revinclude: the resources that resources of
// SourceType point to through their reference parameter Param (_include), or
// the resources of SourceType that point to the matches (_revinclude).
type Include struct {
	// Reverse is set for _revinclude.
	Reverse bool
	// Iterate is set by the :iterate (R4) or :recurse (older) modifier: the
	// include applies to included resources too.
	Iterate bool
	// SourceType holds the reference; "*" with Param "*" for "_include=*".
	SourceType string
	// Param is the reference parameter of SourceType, or "*" for all of them.
	Param string
	// TargetType restricts the referenced type ("" for any).
	TargetType string
}

// ParseInclude parses one value of _include or _revinclude (name may carry
// :iterate) for a search of resourceType, with the specification's parameters.
func ParseInclude(resourceType, name, value string) (Include, error) {
	return DefaultRegistry().ParseInclude(resourceType, name, value)
}

// ParseInclude parses "SourceType:param[:TargetType]", "SourceType:*" or "*".
// Without :iterate, an _include's source must be the searched type, and a
// _revinclude's parameter must be able to point to it.
func (r *Registry) ParseInclude(resourceType, name, value string) (Include, error) {
	base, modifier, _ := strings.Cut(name, ":")
	inc := Include{Reverse: base == "_revinclude", Iterate: modifier == "iterate" || modifier == "recurse"}
	switch {
	case base != "_include" && base != "_revinclude":
		return Include{}, fmt.Errorf("%s is not _include or _revinclude", name)
	case modifier != "" && !inc.Iterate:
		return Include{}, fmt.Errorf("%s: unknown modifier :%s", base, modifier)
	}
	if value == "*" {
		inc.SourceType, inc.Param = "*", "*"
		return inc, nil
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 || !isResourceType(parts[0]) || parts[1] == "" {
		return Include{}, fmt.Errorf("%s: %q is not SourceType:parameter[:TargetType]", name, value)
	}
	inc.SourceType, inc.Param = parts[0], parts[1]
	if len(parts) == 3 {
		inc.TargetType = parts[2]
	}
	if !inc.Reverse && !inc.Iterate && resourceType != "" && inc.SourceType != resourceType {
		return Include{}, fmt.Errorf("%s: %s is not the searched type %s (use %s:iterate)", name, inc.SourceType, resourceType, base)
	}
	if inc.Param == "*" {
		return inc, nil
	}
	p, ok := r.Lookup(inc.SourceType, inc.Param)
	if !ok {
		return Include{}, fmt.Errorf("%s: %w", name, unknownParam(inc.SourceType, inc.Param))
	}
	if p.Kind != store.KindReference {
		return Include{}, fmt.Errorf("%s: %s.%s is a %s parameter, not a reference", name, inc.SourceType, inc.Param, p.Kind)
	}
	if inc.TargetType != "" && len(p.Targets) > 0 && !contains(p.Targets, inc.TargetType) {
		return Include{}, fmt.Errorf("%s: %s.%s cannot point to %s", name, inc.SourceType, inc.Param, inc.TargetType)
	}
	if inc.Reverse && !inc.Iterate && resourceType != "" && len(p.Targets) > 0 && !contains(p.Targets, resourceType) {
		return Include{}, fmt.Errorf("%s: %s.%s cannot point to %s", name, inc.SourceType, inc.Param, resourceType)
	}
	return inc, nil
}

// IncludeTargets returns the "Type/id" references an _include must fetch
// for a page of resources: the values of the include's reference parameter
// (every reference parameter for "*") on the resources of its source type,
// kept when they point to a target type of the parameter and, if the include
// names one, to its TargetType. Contained ("#id"), absolute and logical
// (identifier-only) references are not followed. References are returned
// once each, in order of appearance.
//
// :iterate: the caller repeats the include on what it included, calling
// IncludeTargets again with the resources the previous round fetched (and
// RevIncludeQuery with their references), until a round brings nothing new
// or a depth limit of its choice is reached; a resource already in the
// Bundle is not fetched twice.
func (r *Registry) IncludeTargets(inc Include, resources []store.Resource) ([]string, error) {
	if inc.Reverse {
		return nil, fmt.Errorf("search: include targets: %s is a _revinclude (use RevIncludeQuery)", inc.SourceType+":"+inc.Param)
	}
	var (
		out  []string
		seen = map[string]bool{}
	)
	for _, res := range resources {
		if res.Deleted || len(res.Body) == 0 || (inc.SourceType != "*" && res.Type != inc.SourceType) {
			continue
		}
		params := r.referenceParams(res.Type, inc.Param)
		if len(params) == 0 {
			continue
		}
		doc, err := decodeResource(res.Body)
		if err != nil {
			return nil, fmt.Errorf("search: include targets of %s/%s: %w", res.Type, res.ID, err)
		}
		for _, p := range params {
			for _, ref := range r.references(p, doc) {
				typ, _, _ := strings.Cut(ref, "/")
				if seen[ref] || (inc.TargetType != "" && typ != inc.TargetType) || (len(p.Targets) > 0 && !contains(p.Targets, typ)) {
					continue
				}
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	return out, nil
}

// references evaluates a reference parameter on a decoded resource and
// returns its relative "Type/id" references.
func (r *Registry) references(p *Param, doc any) []string {
	expr, ok := r.expression(p)
	if !ok {
		return nil
	}
	items, err := expr.Evaluate(doc, fhirpath.WithResolver(referenceStub))
	if err != nil {
		return nil // as at indexing: a parameter that fails finds nothing
	}
	var (
		n    normaliser
		refs []string
	)
	for _, it := range items {
		for _, e := range n.referenceEntries(p.Code, Value{Data: it.Value, Type: it.Type}, nil) {
			typ, id, ok := strings.Cut(e.Text, "/")
			if ok && e.Param == p.Code && isResourceType(typ) && id != "" && !strings.ContainsAny(id, "/:") {
				refs = append(refs, e.Text)
			}
		}
	}
	return refs
}

// expression returns the compiled expression of p, compiled once.
func (r *Registry) expression(p *Param) (*fhirpath.Expression, bool) {
	key := p.Type + "." + p.Code
	if v, ok := r.compiled.Load(key); ok {
		expr, ok := v.(*fhirpath.Expression)
		return expr, ok
	}
	expr, err := fhirpath.Compile(p.Expression)
	if err != nil {
		r.compiled.Store(key, err)
		return nil, false
	}
	r.compiled.Store(key, expr)
	return expr, true
}

// referenceParams returns the reference parameter code of typ, or all of
// them for "*".
func (r *Registry) referenceParams(typ, code string) []*Param {
	if code != "*" {
		if p, ok := r.Lookup(typ, code); ok && p.Kind == store.KindReference && p.Expression != "" {
			return []*Param{p}
		}
		return nil
	}
	var out []*Param
	for _, p := range r.Params(typ) {
		if p.Kind == store.KindReference && p.Expression != "" {
			out = append(out, p)
		}
	}
	return out
}

// RevIncludeQuery returns the query a _revinclude runs for a page whose
// resources are refs ("Type/id"): the resources of the include's source
// type (any type for "*") referencing one of them through its parameter
// (any reference parameter for "*"). refs not of the include's TargetType
// are left out; with none left the query matches nothing (the caller may
// skip it). The caller sets Count (and Offset) to bound what it includes.
// For :iterate, see IncludeTargets.
func (r *Registry) RevIncludeQuery(inc Include, refs []string) store.Query {
	var q store.Query
	var codes []string
	if inc.SourceType != "*" {
		q.Types = []string{inc.SourceType}
	}
	switch {
	case inc.Param != "*":
		codes = []string{inc.Param}
	case inc.SourceType != "*":
		for _, p := range r.referenceParams(inc.SourceType, "*") {
			codes = append(codes, p.Code)
		}
	default:
		codes = r.allReferenceCodes()
	}
	var clause store.Clause
	for _, ref := range refs {
		if typ, _, _ := strings.Cut(ref, "/"); inc.TargetType != "" && typ != inc.TargetType {
			continue
		}
		for _, code := range codes {
			clause.Any = append(clause.Any, store.Condition{Param: code, Op: store.OpExact, Text: ref})
		}
	}
	if len(clause.Any) == 0 {
		// No resource has an empty id: the query matches nothing.
		clause.Any = []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: ""}}
	}
	q.Clauses = []store.Clause{clause}
	return q
}

// allReferenceCodes lists the codes of every reference parameter of every type.
func (r *Registry) allReferenceCodes() []string {
	seen := map[string]bool{}
	var codes []string
	for _, typ := range r.types {
		for code, p := range r.byType[typ] {
			if p.Kind == store.KindReference && !seen[code] {
				seen[code] = true
				codes = append(codes, code)
			}
		}
	}
	sort.Strings(codes)
	return codes
}
