package search

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/store"
)

//go:generate go run ./internal/gen -in ../../../shared/fhir-r4/definitions/search-parameters.json.gz -out registry.tsv

//go:embed registry.tsv
var registryTable string

// Bases whose parameters apply to every resource type.
const (
	baseResource       = "Resource"
	baseDomainResource = "DomainResource"
	coreURL            = "http://hl7.org/fhir/SearchParameter/"
)

// Param is one search parameter as it applies to one resource type.
type Param struct {
	// Type is the resource type the parameter is looked up for ("Resource" for
	// the common parameters when no type is given).
	Type string
	Code string
	Kind store.Kind
	// URL is the canonical URL of the SearchParameter definition.
	URL string
	// Expression is the FHIRPath expression selecting the indexed values, rooted
	// at Type; empty for parameters the specification leaves to the server
	// (_text, _content, _query, _filter, and a few extension parameters).
	Expression string
	// XPathUsage is the definition's xpathUsage: normal, phonetic, nearby, ...
	XPathUsage string
	// Targets lists the resource types a reference parameter may point to.
	Targets []string
	// Components are the parts of a composite parameter.
	Components []Component
}

// Supported reports whether the parameter is indexed and searched as a
// single value (and so can be sorted on): it has an expression the store can
// index, or it is one the store resolves itself (_id, _lastUpdated).
// Composite parameters are indexed and searched as pairs (composite.go), and
// _text and _content as words (words.go), but are not Supported in this
// sense, nor is Location's near (a bounding box, near.go); the other special
// ones and phonetic ones (no phonetic matching) are not supported at all.
func (p *Param) Supported() bool {
	switch {
	case p.Code == store.ParamID || p.Code == store.ParamLastUpdated:
		return true
	case p.Kind == store.KindComposite, p.Kind == store.KindSpecial, p.XPathUsage == xpathPhonetic:
		return false
	}
	return p.Expression != ""
}

// xpathPhonetic marks parameters meant to match by sound.
const xpathPhonetic = "phonetic"

// Component is one part of a composite parameter: the code of the component's
// own parameter and the expression selecting it, relative to the composite's.
type Component struct {
	Code       string
	Expression string
}

// Registry holds the search parameters of every resource type. It is read-only
// once built and safe for concurrent use.
type Registry struct {
	byType map[string]map[string]*Param
	common map[string]*Param // Resource and DomainResource parameters
	types  []string
	// compiled caches the expressions IncludeTargets evaluates, by
	// "Type.code" (*fhirpath.Expression, or the compile error).
	compiled sync.Map
}

// DefaultRegistry returns the registry of the FHIR R4 specification's search
// parameters, built once from the table embedded in the binary.
func DefaultRegistry() *Registry { return defaultRegistry() }

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := parseRegistry(registryTable)
	if err != nil {
		// The table is generated and tested; a broken one is a build defect.
		panic(err)
	}
	return r
})

func parseRegistry(table string) (*Registry, error) {
	r := &Registry{byType: map[string]map[string]*Param{}, common: map[string]*Param{}}
	for n, line := range strings.Split(table, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		p, err := parseRow(line)
		if err != nil {
			return nil, fmt.Errorf("search: registry line %d: %w", n+1, err)
		}
		if p.Type == baseResource || p.Type == baseDomainResource {
			r.common[p.Code] = p
			continue
		}
		if r.byType[p.Type] == nil {
			r.byType[p.Type] = map[string]*Param{}
			r.types = append(r.types, p.Type)
		}
		r.byType[p.Type][p.Code] = p
	}
	for typ, params := range r.byType {
		for _, c := range r.common {
			if params[c.Code] == nil {
				params[c.Code] = c.forType(typ)
			}
		}
	}
	sort.Strings(r.types)
	return r, nil
}

func parseRow(line string) (*Param, error) {
	cells := strings.Split(line, "\t")
	if len(cells) != 8 {
		return nil, fmt.Errorf("%d cells, want 8", len(cells))
	}
	p := &Param{
		Type: cells[0], Code: cells[1], Kind: store.Kind(cells[2]), URL: coreURL + cells[3],
		XPathUsage: cells[4], Expression: cells[7],
	}
	if cells[5] != "" {
		p.Targets = strings.Split(cells[5], ",")
	}
	if cells[6] != "" {
		for _, c := range strings.Split(cells[6], ";") {
			code, expr, ok := strings.Cut(c, "=")
			if !ok {
				return nil, fmt.Errorf("component %q has no expression", c)
			}
			p.Components = append(p.Components, Component{Code: code, Expression: expr})
		}
	}
	return p, nil
}

// forType returns a copy of a common parameter rooted at typ: "Resource.meta.tag"
// becomes "Patient.meta.tag".
func (p *Param) forType(typ string) *Param {
	q := *p
	q.Type = typ
	if q.Expression != "" {
		alts := fhirpath.SplitUnion(q.Expression)
		for i, alt := range alts {
			for _, base := range []string{baseResource, baseDomainResource} {
				if rest, ok := strings.CutPrefix(alt, base+"."); ok {
					alts[i] = typ + "." + rest
				}
			}
		}
		q.Expression = strings.Join(alts, " | ")
	}
	return &q
}

// Lookup returns the parameter code of resource type typ. The common
// parameters (_id, _lastUpdated, _tag, ...) are found for every type, and for
// typ "" (a system-wide search).
func (r *Registry) Lookup(typ, code string) (*Param, bool) {
	if p, ok := r.byType[typ][code]; ok {
		return p, true
	}
	if c, ok := r.common[code]; ok {
		if typ == "" {
			return c, true
		}
		// A resource type without parameters of its own (e.g. Binary).
		return c.forType(typ), true
	}
	return nil, false
}

// LookupURL returns the parameter of typ (common ones included) whose
// definition is the canonical url; a "|version" is ignored.
func (r *Registry) LookupURL(typ, url string) (*Param, bool) {
	url, _, _ = strings.Cut(url, "|")
	for _, p := range r.Params(typ) {
		if p.URL == url {
			return p, true
		}
	}
	return nil, false
}

// Params returns the parameters of resource type typ, common ones included,
// sorted by code ("" gives the common parameters alone).
func (r *Registry) Params(typ string) []*Param {
	var out []*Param
	if own, ok := r.byType[typ]; ok {
		for _, p := range own {
			out = append(out, p)
		}
	} else {
		for _, c := range r.common {
			if typ == "" {
				out = append(out, c)
			} else {
				out = append(out, c.forType(typ))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Types returns the resource types that have parameters of their own, sorted.
func (r *Registry) Types() []string { return append([]string(nil), r.types...) }
