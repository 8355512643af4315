package search

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"

	"github.com/telehub/telehub/store"
)

// Deferred is a search parameter parsed into its structured form but not yet
// applied, because the store cannot run it (it is also listed in Plan.Ignored).
// Exactly one of the pointers is set.
type Deferred struct {
	Param     string // the parameter name as given, modifiers included
	Chain     *Chain
	Has       *Has
	Composite *Composite
}

// Chain is a chained search: "subject:Patient.name=peter" is the reference
// parameter subject, restricted to Patient targets, whose target matches
// name=peter. Links can nest ("subject.organization.name=acme").
type Chain struct {
	Links []ChainLink
	// Param and Modifier are the final parameter, evaluated on the last link's
	// target type, and Values its comma-separated values (unescaped).
	Param    string
	Modifier string
	Values   []string
}

// ChainLink is one reference parameter of a chain and the type it is followed to
// ("" when the modifier does not name one and the parameter has several targets).
type ChainLink struct {
	Param      string
	TargetType string
}

// Has is a reverse chain: "_has:Observation:patient:code=1234" matches the
// resources some Observation points to with its patient parameter, when that
// Observation has code=1234. Next is set for nested _has; otherwise Param,
// Modifier and Values give the condition on Type.
type Has struct {
	Type      string
	Reference string
	Next      *Has
	Param     string
	Modifier  string
	Values    []string
}

// Composite is a composite search: "code-value-quantity=http://loinc.org|8480-6$gt100"
// is one Alternative per comma-separated value, each with one value per component.
type Composite struct {
	Param        string
	Components   []Component
	Alternatives [][]string
}

// Parse turns the search parameters of a URL into a plan for resourceType
// ("" for a system-wide search), with the specification's parameters.
// Result-control parameters (_count, _sort, _include, ...) are left to the caller.
func Parse(resourceType string, params url.Values) *Plan {
	return DefaultRegistry().Parse(resourceType, params)
}

// Parse turns search parameters into a plan; see the package function Parse.
// Parameters are handled in name order so equal URLs give equal plans.
func (r *Registry) Parse(resourceType string, params url.Values) *Plan {
	p := &Plan{Applied: url.Values{}}
	if resourceType != "" {
		p.Query.Types = []string{resourceType}
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if resultParams[name] {
			continue
		}
		for _, value := range params[name] {
			r.parseParam(p, resourceType, name, value)
		}
	}
	return p
}

// paramIdentifier is the business-identifier parameter conditional
// interactions rely on.
const paramIdentifier = "identifier"

// ErrNotYetSupported marks what is parsed but that the store cannot run yet:
// the Deferred parameters of a plan, and includes (see ParseInclude).
var ErrNotYetSupported = errors.New("not yet supported")

// errDeferred marks a parameter parsed into a Deferred form.
var errDeferred = ErrNotYetSupported

func (r *Registry) parseParam(p *Plan, resourceType, name, value string) {
	if name == "_type" && resourceType == "" {
		for _, t := range splitOr(value) {
			if _, known := r.byType[t]; !known {
				p.Ignored = append(p.Ignored, Issue{Param: name, Message: fmt.Sprintf("unknown resource type %q", t)})
				return
			}
			p.Query.Types = append(p.Query.Types, t)
		}
		p.Applied.Add(name, value)
		return
	}
	clause, deferred, err := r.parseClause(resourceType, name, value)
	switch {
	case deferred != nil:
		deferred.Param = name
		p.Deferred = append(p.Deferred, *deferred)
		p.Ignored = append(p.Ignored, Issue{Param: name, Message: err.Error()})
	case err != nil:
		p.Ignored = append(p.Ignored, Issue{Param: name, Message: err.Error()})
	default:
		p.Query.Clauses = append(p.Query.Clauses, clause)
		p.Applied.Add(name, value)
	}
}

func (r *Registry) parseClause(resourceType, name, value string) (store.Clause, *Deferred, error) {
	if rest, ok := strings.CutPrefix(name, "_has:"); ok {
		has, err := r.parseHas(rest, value)
		if err != nil {
			return store.Clause{}, nil, err
		}
		return store.Clause{}, &Deferred{Has: has}, fmt.Errorf("_has: reverse chaining is %w", errDeferred)
	}
	if head, tail, chained := strings.Cut(name, "."); chained {
		chain, err := r.parseChain(resourceType, head, tail, value)
		if err != nil {
			return store.Clause{}, nil, err
		}
		return store.Clause{}, &Deferred{Chain: chain}, fmt.Errorf("chained parameters are %w", errDeferred)
	}
	code, modifier, _ := strings.Cut(name, ":")
	param, ok := r.Lookup(resourceType, code)
	if !ok && code == paramIdentifier {
		// Conditional interactions match on identifier for every type, as
		// Extract indexes it for every resource that has one.
		param, ok = &Param{Type: resourceType, Code: code, Kind: store.KindToken, Expression: paramIdentifier}, true
	}
	if !ok {
		return store.Clause{}, nil, unknownParam(resourceType, code)
	}
	if param.Kind == store.KindComposite && modifier == "" {
		comp := &Composite{Param: code, Components: param.Components}
		for _, alt := range splitOr(value) {
			comp.Alternatives = append(comp.Alternatives, splitEscaped(alt, '$'))
		}
		for _, alt := range comp.Alternatives {
			if len(alt) != len(param.Components) {
				return store.Clause{}, nil, fmt.Errorf("%s: %q has %d parts, want %d separated by $", code, value, len(alt), len(param.Components))
			}
		}
		return store.Clause{}, &Deferred{Composite: comp}, fmt.Errorf("composite parameters are %w", errDeferred)
	}
	if !param.Supported() && param.Kind != store.KindSpecial {
		return store.Clause{}, nil, fmt.Errorf("search parameter %q is not supported", code)
	}
	var clause store.Clause
	for _, v := range splitOr(value) {
		conds, err := parseValue(param, modifier, v)
		if err != nil {
			return store.Clause{}, nil, err
		}
		clause.Any = append(clause.Any, conds...)
	}
	if len(clause.Any) == 0 {
		return store.Clause{}, nil, fmt.Errorf("%s: empty value", name)
	}
	return clause, nil, nil
}

func unknownParam(resourceType, code string) error {
	if resourceType == "" {
		return fmt.Errorf("unknown search parameter %q for a search across all types", code)
	}
	return fmt.Errorf("unknown search parameter %q for %s", code, resourceType)
}

// parseValue turns one of the comma-separated values of a parameter into
// conditions (one, except for uri:above which lists the parent URLs).
func parseValue(p *Param, modifier, raw string) ([]store.Condition, error) {
	if raw == "" {
		return nil, nil
	}
	if modifier == "missing" {
		if raw != "true" && raw != "false" {
			return nil, fmt.Errorf("%s:missing: value %q is not true or false", p.Code, raw)
		}
		return []store.Condition{{Param: p.Code, Op: store.OpMissing, Text: raw}}, nil
	}
	v := unescape(raw)
	var (
		cond store.Condition
		err  error
	)
	switch p.Kind {
	case store.KindToken:
		cond, err = tokenCondition(p, modifier, v)
	case store.KindString:
		cond, err = stringCondition(p, modifier, v)
	case store.KindDate:
		if err = noModifier(p, modifier); err == nil {
			cond, err = rangeCondition(p, raw, dateRangeOf)
		}
	case store.KindNumber:
		if err = noModifier(p, modifier); err == nil {
			cond, err = rangeCondition(p, raw, NumberRange)
		}
	case store.KindQuantity:
		if err = noModifier(p, modifier); err == nil {
			cond, err = quantityCondition(p, raw)
		}
	case store.KindReference:
		cond, err = referenceCondition(p, modifier, v)
	case store.KindURI:
		return uriConditions(p, modifier, v)
	default:
		err = fmt.Errorf("%s parameters (%s) are not supported", p.Kind, p.Code)
	}
	if err != nil {
		return nil, err
	}
	return []store.Condition{cond}, nil
}

func noModifier(p *Param, modifier string) error {
	if modifier != "" {
		return fmt.Errorf("%s: modifier :%s is not supported on %s parameters", p.Code, modifier, p.Kind)
	}
	return nil
}

func tokenCondition(p *Param, modifier, v string) (store.Condition, error) {
	switch modifier {
	case "":
		return store.Condition{Param: p.Code, Op: store.OpExact, Text: v}, nil
	case "not":
		return store.Condition{Param: p.Code, Op: store.OpExact, Text: v, Not: true}, nil
	case "text":
		return store.Condition{Param: p.Code + SuffixText, Op: store.OpPrefix, Text: Fold(v)}, nil
	case "of-type":
		if strings.Count(v, "|") != 2 {
			return store.Condition{}, fmt.Errorf("%s:of-type: %q is not system|code|value", p.Code, v)
		}
		return store.Condition{Param: p.Code + SuffixOfType, Op: store.OpExact, Text: v}, nil
	}
	return store.Condition{}, noModifier(p, modifier)
}

func stringCondition(p *Param, modifier, v string) (store.Condition, error) {
	switch modifier {
	case "":
		return store.Condition{Param: p.Code, Op: store.OpPrefix, Text: Fold(v)}, nil
	case "contains":
		return store.Condition{Param: p.Code, Op: store.OpContains, Text: Fold(v)}, nil
	case "exact":
		return store.Condition{Param: p.Code + SuffixExact, Op: store.OpExact, Text: v}, nil
	}
	return store.Condition{}, noModifier(p, modifier)
}

// Search prefixes of number, date and quantity values.
var prefixes = map[string]store.Op{
	"eq": store.OpEq, "ne": store.OpNe, "gt": store.OpGt, "lt": store.OpLt,
	"ge": store.OpGe, "le": store.OpLe, "sa": store.OpSa, "eb": store.OpEb, "ap": store.OpOverlap,
}

// splitPrefix separates a leading search prefix from a value ("ge2020" → ge, "2020").
func splitPrefix(v string) (store.Op, string) {
	if len(v) > 2 {
		if op, ok := prefixes[v[:2]]; ok && (v[2] >= '0' && v[2] <= '9' || v[2] == '-' || v[2] == '.') {
			return op, v[2:]
		}
	}
	return store.OpEq, v
}

func dateRangeOf(v string) (float64, float64, error) { return DateRange(v) }

// rangeCondition parses a prefixed date or number. "ap" matches values that
// overlap the value's precision range, widened by 10% of the value for numbers.
func rangeCondition(p *Param, raw string, rangeOf func(string) (float64, float64, error)) (store.Condition, error) {
	op, v := splitPrefix(raw)
	low, high, err := rangeOf(v)
	if err != nil {
		return store.Condition{}, fmt.Errorf("%s: invalid %s %q", p.Code, p.Kind, v)
	}
	if op == store.OpOverlap && p.Kind != store.KindDate {
		low, high = approximately(low, high)
	}
	return store.Condition{Param: p.Code, Op: op, Low: low, High: high}, nil
}

// approximately widens a number's range by 10% of its value on each side.
func approximately(low, high float64) (float64, float64) {
	margin := math.Abs((low+high)/2) * 0.1
	return low - margin, high + margin
}

// quantityCondition parses "[prefix]number[|system|code]". Its Text is the unit
// the index entry must carry ("system|code", or "code" when no system is
// given, or "" for any unit); UCUM units are canonicalised as at indexing.
func quantityCondition(p *Param, raw string) (store.Condition, error) {
	parts := splitEscaped(raw, '|')
	if len(parts) != 1 && len(parts) != 3 {
		return store.Condition{}, fmt.Errorf("%s: quantity %q is not number|system|code", p.Code, raw)
	}
	var system, unit string
	if len(parts) == 3 {
		system, unit = unescape(parts[1]), unescape(parts[2])
	}
	if unit == "" && system != "" {
		return store.Condition{}, fmt.Errorf("%s: quantity %q has a system but no unit code", p.Code, raw)
	}
	scale := 1.0
	if system == "" || system == UCUM {
		if base, f, ok := CanonicalUnit(unit); ok {
			unit, scale = base, f
		}
	}
	cond, err := rangeCondition(p, parts[0], func(v string) (float64, float64, error) { return scaledRange(v, scale) })
	if err != nil || unit == "" {
		return cond, err
	}
	cond.Text = unit
	if system != "" {
		cond.Text = system + "|" + unit
	}
	return cond, nil
}

// referenceCondition parses "Type/id", "id", an absolute URL or a canonical
// ("url|version"). The ":Type" modifier restricts an id to one target type.
func referenceCondition(p *Param, modifier, v string) (store.Condition, error) {
	switch {
	case modifier == "":
	case modifier == "identifier":
		return store.Condition{Param: p.Code + SuffixIdentifier, Op: store.OpExact, Text: v}, nil
	case isResourceType(modifier):
		if len(p.Targets) > 0 && !contains(p.Targets, modifier) {
			return store.Condition{}, fmt.Errorf("%s: %s is not a target type of this parameter", p.Code, modifier)
		}
		if typ, _, ok := strings.Cut(v, "/"); ok && typ != modifier {
			return store.Condition{}, fmt.Errorf("%s:%s: value %q names another type", p.Code, modifier, v)
		}
		v = modifier + "/" + strings.TrimPrefix(v, modifier+"/")
	default:
		return store.Condition{}, noModifier(p, modifier)
	}
	if i := strings.Index(v, "/_history/"); i >= 0 && !strings.Contains(v, ":") {
		v = v[:i]
	}
	return store.Condition{Param: p.Code, Op: store.OpExact, Text: v}, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// uriConditions: exact by default; ":below" is a prefix match; ":above" matches
// the value and each of its parent paths.
func uriConditions(p *Param, modifier, v string) ([]store.Condition, error) {
	switch modifier {
	case "":
		return []store.Condition{{Param: p.Code, Op: store.OpExact, Text: v}}, nil
	case "below":
		return []store.Condition{{Param: p.Code, Op: store.OpPrefix, Text: v}}, nil
	case "above":
		var conds []store.Condition
		for u := v; u != ""; u = parentURL(u) {
			conds = append(conds, store.Condition{Param: p.Code, Op: store.OpExact, Text: u})
		}
		return conds, nil
	}
	return nil, noModifier(p, modifier)
}

// parentURL drops the last path segment of a URL, down to its authority
// ("http://a/b/c" → "http://a/b" → "http://a" → "").
func parentURL(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	i := strings.LastIndexByte(u, '/')
	if i < start {
		return ""
	}
	return u[:i]
}

func (r *Registry) parseChain(resourceType, head, tail, value string) (*Chain, error) {
	chain := &Chain{}
	types := []string{resourceType}
	links := append([]string{head}, strings.Split(tail, ".")...)
	for i, link := range links {
		code, modifier, _ := strings.Cut(link, ":")
		param, ok := r.lookupAny(types, code)
		if !ok {
			return nil, unknownParam(strings.Join(types, " or "), code)
		}
		if i == len(links)-1 {
			chain.Param, chain.Modifier, chain.Values = code, modifier, unescapeAll(splitOr(value))
			return chain, nil
		}
		if param.Kind != store.KindReference {
			return nil, fmt.Errorf("%s: chaining needs a reference parameter, %s is a %s parameter", link, code, param.Kind)
		}
		target := modifier
		if target == "" && len(param.Targets) == 1 {
			target = param.Targets[0]
		}
		if target != "" && len(param.Targets) > 0 && !contains(param.Targets, target) {
			return nil, fmt.Errorf("%s: %s is not a target type of %s", link, target, code)
		}
		chain.Links = append(chain.Links, ChainLink{Param: code, TargetType: target})
		types = param.Targets
		if target != "" {
			types = []string{target}
		}
	}
	return chain, nil
}

// lookupAny finds code on the first of types that has it: the next link of a
// chain through a reference with several target types.
func (r *Registry) lookupAny(types []string, code string) (*Param, bool) {
	for _, typ := range types {
		if p, ok := r.Lookup(typ, code); ok {
			return p, true
		}
	}
	return nil, false
}

// parseHas parses what follows "_has:": "Type:reference:param[:modifier]" or
// "Type:reference:_has:..." for a nested reverse chain.
func (r *Registry) parseHas(spec, value string) (*Has, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) != 3 || !isResourceType(parts[0]) {
		return nil, fmt.Errorf("_has:%s: want _has:Type:reference:parameter", spec)
	}
	has := &Has{Type: parts[0], Reference: parts[1]}
	ref, ok := r.Lookup(has.Type, has.Reference)
	if !ok {
		return nil, unknownParam(has.Type, has.Reference)
	}
	if ref.Kind != store.KindReference {
		return nil, fmt.Errorf("_has:%s: %s is not a reference parameter of %s", spec, has.Reference, has.Type)
	}
	if rest, nested := strings.CutPrefix(parts[2], "_has:"); nested {
		next, err := r.parseHas(rest, value)
		if err != nil {
			return nil, err
		}
		has.Next = next
		return has, nil
	}
	has.Param, has.Modifier, _ = strings.Cut(parts[2], ":")
	if _, ok := r.Lookup(has.Type, has.Param); !ok {
		return nil, unknownParam(has.Type, has.Param)
	}
	has.Values = unescapeAll(splitOr(value))
	return has, nil
}

// splitOr splits a value on its unescaped commas; escapes stay for the
// parameter's own parsing.
func splitOr(value string) []string { return splitEscaped(value, ',') }

// splitEscaped splits on sep where it is not preceded by a backslash, leaving
// escape sequences in the parts (they are removed by unescape).
func splitEscaped(value string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, value[start:i])
			start = i + 1
		}
	}
	return append(parts, value[start:])
}

// unescape removes the backslashes of "\,", "\$", "\|" and "\\".
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte(`,$|\`, v[i+1]) >= 0 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func unescapeAll(vs []string) []string {
	for i, v := range vs {
		vs[i] = unescape(v)
	}
	return vs
}

// ParseSort turns a _sort value ("status,-date") into sort keys for
// resourceType, with the specification's parameters; see Registry.ParseSort.
func ParseSort(resourceType, value string) ([]store.SortKey, []Issue) {
	return DefaultRegistry().ParseSort(resourceType, value)
}

// ParseSort turns a _sort value into sort keys: comma-separated parameter
// codes, "-" for descending. Keys the registry does not know for resourceType,
// or that cannot be sorted on (composite, special, unindexed), are reported
// and left out.
func (r *Registry) ParseSort(resourceType, value string) ([]store.SortKey, []Issue) {
	var (
		keys   []store.SortKey
		issues []Issue
	)
	for _, field := range strings.Split(value, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		key := store.SortKey{Param: field}
		if rest, ok := strings.CutPrefix(field, "-"); ok {
			key = store.SortKey{Param: rest, Descending: true}
		}
		p, ok := r.Lookup(resourceType, key.Param)
		switch {
		case !ok:
			issues = append(issues, Issue{Param: "_sort", Message: unknownParam(resourceType, key.Param).Error()})
		case !p.Supported():
			issues = append(issues, Issue{Param: "_sort", Message: fmt.Sprintf("cannot sort on %s parameter %q", p.Kind, key.Param)})
		default:
			keys = append(keys, key)
		}
	}
	return keys, issues
}
