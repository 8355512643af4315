// Package fhirpath evaluates FHIRPath expressions (the N1 language as FHIR R4
// uses it) over resources decoded from JSON. The search package runs it on
// every write to extract index values, so expressions are compiled once and
// cached, and plain navigation takes a short path.
//
// Element types come from the R4 StructureDefinitions, compiled into an
// embedded table (model.txt, produced by go generate), so items carry their
// FHIR type: choice elements (value[x]) and primitive extensions (_field)
// are resolved the way the FHIR JSON format defines them. Decimals keep
// their exact value and written precision; dates and times keep their
// partial precision (comparing different precisions gives empty); quantities
// compare across UCUM units of the same dimension (SI prefixes on g, m, L,
// s, mol; min, h, d, wk, mo, a; [in_i], [ft_i], [lb_av]) and calendar
// durations.
//
// Differences from the specification worth knowing:
//   - resolve() of a literal reference (Type/id) that is neither contained,
//     in the enclosing Bundle nor found by WithResolver yields a resource
//     holding only resourceType and id, so "where(resolve() is Patient)"
//     needs no database;
//   - as() over several items filters instead of failing (R4 search
//     parameters apply it to collections);
//   - a name no FHIR type defines (given1, valueQuantity) is an error, a
//     name defined elsewhere is empty; there is no static type checking;
//   - memberOf() fails (no terminology service), conformsTo() knows only
//     the core StructureDefinitions, trace() logs nothing.
package fhirpath

import (
	"container/list"
	"fmt"
	"sync"
)

// Collection is an ordered FHIRPath collection.
type Collection []Item

// Item is one element of a collection.
type Item struct {
	// Value is the JSON value (map for complex types, string, json.Number or
	// bool for primitives) or, for computed values, a Go value: bool, string,
	// int64, Decimal, DateTime or Quantity.
	Value any
	// Type is the FHIR type name ("HumanName", "date", …), the element path
	// for backbone elements ("Patient.contact"), or a System type
	// ("System.Integer", …) for literals and computed values.
	Type string

	ext map[string]any // a primitive's extension object (the JSON "_field")
}

// Expression is a compiled FHIRPath expression, safe for concurrent use.
type Expression struct {
	src  string
	root node
	path []string // the member names when the expression is plain navigation
}

// String returns the source of the expression.
func (e *Expression) String() string { return e.src }

// Option configures one evaluation.
type Option func(*evaluator)

// WithResolver sets how resolve() finds references that are neither contained
// resources nor entries of the enclosing Bundle.
func WithResolver(resolve func(reference string) (any, bool)) Option {
	return func(ev *evaluator) { ev.resolver = resolve }
}

// WithEnv defines the environment variable %name.
func WithEnv(name string, value Collection) Option {
	return func(ev *evaluator) {
		if ev.env == nil {
			ev.env = map[string]Collection{}
		}
		ev.env[name] = value
	}
}

// WithContext sets the node the expression starts from (%context); by
// default it is the resource itself. Pass an Item (from an earlier result)
// to keep the node's FHIR type; a bare JSON value is typed only when it is
// a resource.
func WithContext(node any) Option {
	return func(ev *evaluator) { ev.context = &node }
}

const cacheSize = 4096

// exprCache is the bounded, least-recently-used cache of parsed expressions.
type exprCache struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List
}

var cache = sync.OnceValue(func() *exprCache {
	return &exprCache{entries: map[string]*list.Element{}, order: list.New()}
})

func (c *exprCache) get(src string) *Expression {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[src]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*Expression)
	}
	return nil
}

func (c *exprCache) put(e *Expression) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[e.src]; ok {
		return
	}
	c.entries[e.src] = c.order.PushFront(e)
	for c.order.Len() > cacheSize {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*Expression).src)
	}
}

// Compile parses an expression. Results are cached (bounded, safe for
// concurrent use).
func Compile(expr string) (*Expression, error) {
	c := cache()
	if e := c.get(expr); e != nil {
		return e, nil
	}
	root, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("fhirpath: compile %q: %w", expr, err)
	}
	e := &Expression{src: expr, root: root, path: plainPath(root)}
	c.put(e)
	return e, nil
}

// MustCompile is Compile for expressions known to be valid; it panics otherwise.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// plainPath returns the member names of a pure navigation expression
// (a.b.c), or nil.
func plainPath(n node) []string {
	switch n := n.(type) {
	case *identNode:
		return []string{n.name}
	case *childNode:
		if p := plainPath(n.target); p != nil {
			return append(p, n.name)
		}
	}
	return nil
}

// Evaluate runs the expression over a resource decoded by encoding/json with
// UseNumber (map[string]any, []any, string, json.Number, bool).
func (e *Expression) Evaluate(resource any, opts ...Option) (Collection, error) {
	ev := &evaluator{model: fhirModel()}
	for _, o := range opts {
		o(ev)
	}
	ev.resource = itemOf(resource, "")
	ctx := ev.resource
	if ev.context != nil {
		if it, ok := (*ev.context).(Item); ok {
			ctx = it
		} else {
			ctx = itemOf(*ev.context, "")
		}
	}
	var focus Collection
	if ctx.Value != nil {
		focus = Collection{ctx}
	}
	ev.contextItem = focus
	var out Collection
	var err error
	if e.path != nil {
		out, err = ev.navigate(focus, e.path)
	} else {
		out, err = ev.eval(e.root, focus, &scope{this: focus})
	}
	if err != nil {
		return nil, fmt.Errorf("fhirpath: evaluate %q: %w", e.src, err)
	}
	return out, nil
}

// itemOf wraps a JSON value, typing resources by their resourceType.
func itemOf(v any, typ string) Item {
	if m, ok := v.(map[string]any); ok {
		if rt, ok := m["resourceType"].(string); ok {
			typ = rt
		}
	}
	if typ == "" {
		typ = inferType(v)
	}
	return Item{Value: v, Type: typ}
}
