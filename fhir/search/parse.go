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

// Deferred is a search parameter parsed but not applied, because the caller
// must resolve it first (it is also listed in Plan.Ignored until then).
// Parse defers only _list (List set; see Plan.ApplyList): chains, _has and
// composites are applied as store conditions. Chain, Has and Composite are
// the structured forms earlier versions deferred; Parse no longer sets them.
type Deferred struct {
	Param     string // the parameter name as given, modifiers included
	Chain     *Chain
	Has       *Has
	Composite *Composite
	// List is the value of _list: a List id (or "Type/id" reference) whose
	// entries the results must be among.
	List string
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
	if resourceType == "" {
		// _type first: it decides which types the other parameters are read for.
		for _, value := range params["_type"] {
			r.parseParam(p, "", "_type", value)
		}
	}
	for _, name := range names {
		if resultParams[name] || (resourceType == "" && name == "_type") {
			continue
		}
		readFor := resourceType
		if readFor == "" {
			readFor = r.sharedType(p.Query.Types, name)
		}
		for _, value := range params[name] {
			r.parseParam(p, readFor, name, value)
		}
	}
	return p
}

// sharedType is the resource type a system-level parameter is read for. When
// _type lists types that all define the parameter with one kind, it is the
// first of them: index entries carry the parameter's code, so a condition
// built for one type matches the others' entries too. Otherwise it is ""
// (the common parameters alone).
func (r *Registry) sharedType(types []string, name string) string {
	if len(types) == 0 || strings.HasPrefix(name, "_") {
		return ""
	}
	code := name
	if i := strings.IndexAny(code, ":."); i >= 0 {
		code = code[:i]
	}
	first, ok := r.byType[types[0]][code]
	if !ok {
		return ""
	}
	for _, t := range types[1:] {
		if p, ok := r.byType[t][code]; !ok || p.Kind != first.Kind {
			return ""
		}
	}
	return types[0]
}

// paramIdentifier is the business-identifier parameter conditional
// interactions rely on.
const paramIdentifier = "identifier"

// ErrNotYetSupported marks what is parsed but that the store cannot run:
// _list, which the caller resolves (see Plan.ApplyList).
var ErrNotYetSupported = errors.New("not yet supported")

// errDeferred marks a parameter parsed into a Deferred form.
var errDeferred = ErrNotYetSupported

// maxChainDepth bounds chains and nested _has, which each cost the store a
// subquery.
const maxChainDepth = 4

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
	if name == paramList {
		p.Deferred = append(p.Deferred, Deferred{Param: name, List: value})
		p.Ignored = append(p.Ignored, Issue{Param: name, Message: fmt.Sprintf("_list: the list is read by the caller, %v", errDeferred)})
		return
	}
	clauses, err := r.parseClauses(resourceType, name, value, 0)
	if err != nil {
		p.Ignored = append(p.Ignored, Issue{Param: name, Message: err.Error()})
		return
	}
	p.Query.Clauses = append(p.Query.Clauses, clauses...)
	p.Applied.Add(name, value)
}

// Parameters the server does not support.
var unsupportedParams = map[string]string{
	"_filter": "_filter is not supported",
	"_query":  "_query (named queries) is not supported",
}

// parseClauses parses one parameter into the clauses that must all hold:
// usually one, several for _text and _content (one per word) and :not-in
// (one per code).
func (r *Registry) parseClauses(resourceType, name, value string, depth int) ([]store.Clause, error) {
	if depth > maxChainDepth {
		return nil, fmt.Errorf("%s: chains and _has nest at most %d deep", name, maxChainDepth)
	}
	if msg, ok := unsupportedParams[name]; ok {
		return nil, errors.New(msg)
	}
	if rest, ok := strings.CutPrefix(name, "_has:"); ok {
		clause, err := r.hasClause(resourceType, rest, value, depth)
		return []store.Clause{clause}, err
	}
	if head, tail, chained := strings.Cut(name, "."); chained {
		clause, err := r.chainClause([]string{resourceType}, head, tail, value, depth)
		return []store.Clause{clause}, err
	}
	code, modifier, _ := strings.Cut(name, ":")
	if code == paramText || code == paramContent {
		return wordClauses(code, modifier, value)
	}
	param, ok := r.Lookup(resourceType, code)
	if !ok && code == paramIdentifier {
		// Conditional interactions match on identifier for every type, as
		// Extract indexes it for every resource that has one.
		param, ok = &Param{Type: resourceType, Code: code, Kind: store.KindToken, Expression: paramIdentifier}, true
	}
	if !ok {
		return nil, unknownParam(resourceType, code)
	}
	if param.Kind == store.KindComposite && modifier == "" {
		clause, err := r.compositeClause(resourceType, param, value)
		return []store.Clause{clause}, err
	}
	if isNear(param) {
		return nearClauses(param, modifier, value)
	}
	if !param.Supported() && param.Kind != store.KindSpecial {
		return nil, fmt.Errorf("search parameter %q is not supported", code)
	}
	if param.Kind == store.KindToken && modifier == "not-in" {
		return notInClauses(param, value)
	}
	var clause store.Clause
	for _, v := range splitOr(value) {
		conds, err := parseValue(param, modifier, v)
		if err != nil {
			return nil, err
		}
		clause.Any = append(clause.Any, conds...)
	}
	if len(clause.Any) == 0 {
		return nil, fmt.Errorf("%s: empty value", name)
	}
	return []store.Clause{clause}, nil
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
		return tokenConditions(p, modifier, v)
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

// tokenValue is the condition of a token value on param: "system|" (any
// code of the system) is a prefix, since tokens with a code are indexed as
// "system|code" and "code" only; every other form is exact.
func tokenValue(param, v string) store.Condition {
	if len(v) > 1 && strings.IndexByte(v, '|') == len(v)-1 {
		return store.Condition{Param: param, Op: store.OpPrefix, Text: v}
	}
	return store.Condition{Param: param, Op: store.OpExact, Text: v}
}

func tokenCondition(p *Param, modifier, v string) (store.Condition, error) {
	switch modifier {
	case "":
		return tokenValue(p.Code, v), nil
	case "not":
		c := tokenValue(p.Code, v)
		c.Not = true
		return c, nil
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

// tokenConditions parses a token value: one condition, or for :in, :above
// and :below the exact conditions of every code of the value set or of the
// code's hierarchy (an OR).
func tokenConditions(p *Param, modifier, v string) ([]store.Condition, error) {
	var codes []string
	switch modifier {
	case "in":
		byCode, err := valueSetTokens(p, v)
		if err != nil {
			return nil, err
		}
		codes = byCode
	case "above", "below":
		system, code, ok := strings.Cut(v, "|")
		if !ok || system == "" || code == "" {
			return nil, fmt.Errorf("%s:%s: %q is not system|code", p.Code, modifier, v)
		}
		related, known := Subsumed(system, code, modifier == "below")
		if !known {
			return nil, fmt.Errorf("%s:%s: no hierarchy is known for code system %s", p.Code, modifier, system)
		}
		for _, c := range related {
			codes = append(codes, system+"|"+c)
		}
	default:
		cond, err := tokenCondition(p, modifier, v)
		if err != nil {
			return nil, err
		}
		return []store.Condition{cond}, nil
	}
	conds := make([]store.Condition, len(codes))
	for i, c := range codes {
		conds[i] = store.Condition{Param: p.Code, Op: store.OpExact, Text: c}
	}
	return conds, nil
}

// valueSetTokens returns the "system|code" tokens of a value set.
func valueSetTokens(p *Param, url string) ([]string, error) {
	bySystem, ok := ValueSetCodes(url)
	if !ok {
		return nil, fmt.Errorf("%s: value set %q is unknown or cannot be expanded by this server", p.Code, url)
	}
	systems := make([]string, 0, len(bySystem))
	for s := range bySystem {
		systems = append(systems, s)
	}
	sort.Strings(systems)
	var tokens []string
	for _, s := range systems {
		for _, c := range bySystem[s] {
			tokens = append(tokens, s+"|"+c)
		}
	}
	return tokens, nil
}

// notInClauses parses token:not-in: no entry may be any code of the value
// set, one negated condition per code, all of which must hold.
func notInClauses(p *Param, value string) ([]store.Clause, error) {
	alts := splitOr(value)
	if len(alts) != 1 {
		return nil, fmt.Errorf("%s:not-in: takes one value set, not %d", p.Code, len(alts))
	}
	tokens, err := valueSetTokens(p, unescape(alts[0]))
	if err != nil {
		return nil, err
	}
	clauses := make([]store.Clause, len(tokens))
	for i, t := range tokens {
		clauses[i] = store.Clause{Any: []store.Condition{{Param: p.Code, Op: store.OpExact, Text: t, Not: true}}}
	}
	return clauses, nil
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
// For numbers and quantities "lt" and "gt" compare with the value itself:
// the values whose range reaches below (above) it; "le" and "ge" with its
// precision range, so they also take the values equal to it.
func rangeCondition(p *Param, raw string, rangeOf func(string) (float64, float64, error)) (store.Condition, error) {
	op, v := splitPrefix(raw)
	low, high, err := rangeOf(v)
	if err != nil {
		return store.Condition{}, fmt.Errorf("%s: invalid %s %q", p.Code, p.Kind, v)
	}
	if p.Kind != store.KindDate {
		switch op {
		case store.OpOverlap:
			low, high = approximately(low, high)
		case store.OpLt, store.OpGt:
			// "lt1" is below 1 itself, not below the 0.5 its precision
			// reaches down to: 0.887 is less than 1.
			low = (low + high) / 2
			high = low
		}
	}
	return store.Condition{Param: p.Code, Op: op, Low: low, High: high}, nil
}

// approximately widens a number's range by 10% of its value on each side.
func approximately(low, high float64) (float64, float64) {
	margin := math.Abs((low+high)/2) * 0.1
	return low - margin, high + margin
}

// quantityCondition parses "[prefix]number[|system|code]". Without a unit it
// compares the values as written, whatever their unit. With a UCUM unit that
// CanonicalUnit maps (system UCUM or none), it compares canonical values (the
// "<code>:canonical" entries) in the base unit; with any other unit, the
// values as written in that unit. Its Text is the unit the entry must carry
// ("system|code", or "code" when no system is given, or "" for any unit).
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
	param, scale := p.Code, 1.0
	if system == "" || system == UCUM {
		if base, f, ok := CanonicalUnit(unit); ok {
			param, unit, scale = p.Code+SuffixCanonical, base, f
		}
	}
	cond, err := rangeCondition(p, parts[0], func(v string) (float64, float64, error) { return scaledRange(v, scale) })
	if err != nil {
		return cond, err
	}
	cond.Param = param
	if unit == "" {
		return cond, nil
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
		return tokenValue(p.Code+SuffixIdentifier, v), nil
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

// chainClause parses a chained parameter, "head.tail=value" on types:
// head is a reference parameter ("subject", "subject:Patient") and tail the
// parameter of its targets, itself possibly chained. Without a ":Type"
// modifier the chain follows every target type that has tail's parameter.
func (r *Registry) chainClause(types []string, head, tail, value string, depth int) (store.Clause, error) {
	code, modifier, _ := strings.Cut(head, ":")
	param, err := r.referenceParam(types, code)
	if err != nil {
		return store.Clause{}, fmt.Errorf("%s.%s: %w", head, tail, err)
	}
	targets := param.Targets
	if modifier != "" {
		if !isResourceType(modifier) {
			return store.Clause{}, fmt.Errorf("%s: modifier :%s cannot start a chain (use :Type)", head, modifier)
		}
		if len(targets) > 0 && !contains(targets, modifier) {
			return store.Clause{}, fmt.Errorf("%s: %s is not a target type of %s", head, modifier, code)
		}
		targets = []string{modifier}
	}
	if len(targets) == 0 {
		return store.Clause{}, fmt.Errorf("%s: %s has no target types to chain through (use %s:Type)", head, code, code)
	}
	q, err := r.chainTarget(targets, tail, value, depth)
	if err != nil {
		return store.Clause{}, fmt.Errorf("%s.%w", head, err)
	}
	return store.Clause{Any: []store.Condition{{Param: code, Chain: q}}}, nil
}

// referenceParam finds reference parameter code on the first of types that has it.
func (r *Registry) referenceParam(types []string, code string) (*Param, error) {
	for _, typ := range types {
		if p, ok := r.Lookup(typ, code); ok {
			if p.Kind != store.KindReference {
				return nil, fmt.Errorf("chaining needs a reference parameter, %s is a %s parameter", code, p.Kind)
			}
			return p, nil
		}
	}
	return nil, unknownParam(strings.Join(types, " or "), code)
}

// chainTarget builds the query a chain's targets must match: the clauses of
// tail on the first target type that knows tail's parameter, and as Types
// that type and every other target whose parameter of that code has the same
// kind (the store matches index entries by parameter code). A _has tail is
// parsed on each target, which it validates.
func (r *Registry) chainTarget(targets []string, tail, value string, depth int) (*store.Query, error) {
	next, _, _ := strings.Cut(tail, ".")
	next, _, _ = strings.Cut(next, ":")
	var (
		q     = &store.Query{}
		first *Param
		err   error
	)
	for _, typ := range targets {
		if next == "_has" || next == paramText || next == paramContent {
			clauses, perr := r.parseClauses(typ, tail, value, depth+1)
			if perr != nil {
				err = perr
				continue
			}
			if len(q.Types) == 0 {
				q.Clauses = clauses
			}
			q.Types = append(q.Types, typ)
			continue
		}
		p, ok := r.Lookup(typ, next)
		switch {
		case !ok:
			continue
		case first == nil:
			clauses, perr := r.parseClauses(typ, tail, value, depth+1)
			if perr != nil {
				return nil, fmt.Errorf("%s: %w", tail, perr)
			}
			first, q.Clauses = p, clauses
		case p.Kind != first.Kind:
			continue
		}
		q.Types = append(q.Types, typ)
	}
	if len(q.Types) == 0 {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tail, err)
		}
		return nil, fmt.Errorf("%s: %w", tail, unknownParam(strings.Join(targets, " or "), next))
	}
	sort.Strings(q.Types)
	return q, nil
}

// hasClause parses what follows "_has:": "Type:reference:param[:modifier]"
// or "Type:reference:_has:..." (nested): the resources of resourceType that
// some resource of Type, matching the rest, references through reference.
func (r *Registry) hasClause(resourceType, spec, value string, depth int) (store.Clause, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) != 3 || !isResourceType(parts[0]) || parts[1] == "" || parts[2] == "" {
		return store.Clause{}, fmt.Errorf("_has:%s: want _has:Type:reference:parameter", spec)
	}
	typ, refCode, rest := parts[0], parts[1], parts[2]
	if _, known := r.byType[typ]; !known {
		return store.Clause{}, fmt.Errorf("_has:%s: unknown resource type %q", spec, typ)
	}
	ref, ok := r.Lookup(typ, refCode)
	switch {
	case !ok:
		return store.Clause{}, fmt.Errorf("_has:%s: %w", spec, unknownParam(typ, refCode))
	case ref.Kind != store.KindReference:
		return store.Clause{}, fmt.Errorf("_has:%s: %s is not a reference parameter of %s", spec, refCode, typ)
	case resourceType != "" && len(ref.Targets) > 0 && !contains(ref.Targets, resourceType):
		return store.Clause{}, fmt.Errorf("_has:%s: %s.%s cannot point to %s", spec, typ, refCode, resourceType)
	}
	clauses, err := r.parseClauses(typ, rest, value, depth+1)
	if err != nil {
		return store.Clause{}, fmt.Errorf("_has:%s:%s: %w", typ, refCode, err)
	}
	cond := store.Condition{Has: &store.Reverse{Param: refCode, Query: store.Query{Types: []string{typ}, Clauses: clauses}}}
	return store.Clause{Any: []store.Condition{cond}}, nil
}

// compositeClause parses "a$b,c$d" for a two-component composite parameter.
func (r *Registry) compositeClause(resourceType string, param *Param, value string) (store.Clause, error) {
	comp := &Composite{Param: param.Code, Components: param.Components}
	for _, alt := range splitOr(value) {
		parts := splitEscaped(alt, '$')
		if len(parts) != len(param.Components) {
			return store.Clause{}, fmt.Errorf("%s: %q has %d parts, want %d separated by $", param.Code, alt, len(parts), len(param.Components))
		}
		comp.Alternatives = append(comp.Alternatives, parts)
	}
	return r.CompositeClause(resourceType, comp)
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
			key.Kind = p.Kind
			keys = append(keys, key)
		}
	}
	return keys, issues
}

// ParseSortAcross parses _sort for a search across the listed types (a
// system search with _type): each key is read as for the first type when
// all of them define it with one kind, since their index entries then
// carry the same code; otherwise only the common parameters are known.
func (r *Registry) ParseSortAcross(types []string, value string) ([]store.SortKey, []Issue) {
	var (
		keys   []store.SortKey
		issues []Issue
	)
	for _, field := range strings.Split(value, ",") {
		name := strings.TrimPrefix(strings.TrimSpace(field), "-")
		k, is := r.ParseSort(r.sharedType(types, name), field)
		keys, issues = append(keys, k...), append(issues, is...)
	}
	return keys, issues
}
