package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// Custom search parameters: a SearchParameter resource stored through the
// API (status active, with base, code, type and expression) becomes
// searchable on its base types. The specification's registry
// (search.DefaultRegistry) is read-only, so the custom parameters live
// beside it in a layer of their own: writes add their index entries to the
// registry's, and searches parse their criteria before handing the rest to
// the registry. The kinds served are token, string, reference, uri, date,
// number, quantity and composite (two components, the first a token, each
// defined by a parameter of the specification's for the base and selected
// by an element name or a value choice, as the specification's composites
// are indexed); a special parameter, a composite of another shape, or one
// whose code the specification already defines for a base, is not
// registered (and logged).

// customKinds are the kinds of custom parameter this layer indexes and parses.
var customKinds = map[store.Kind]bool{
	store.KindToken: true, store.KindString: true, store.KindReference: true,
	store.KindURI: true, store.KindDate: true, store.KindNumber: true, store.KindQuantity: true,
	store.KindComposite: true,
}

// customParam is one active custom parameter.
type customParam struct {
	source string // the SearchParameter's id
	url    string
	code   string
	kind   store.Kind
	bases  []string
	expr   *fhirpath.Expression
	// composite is the parameter as the search package indexes and parses
	// composites, for each base; nil for other kinds.
	composite map[string]*search.Param
}

// customParams holds the custom parameters of one Server by base type and
// code. It is safe for concurrent use.
type customParams struct {
	mu     sync.RWMutex
	byType map[string]map[string]*customParam
}

func newCustomParams() *customParams {
	return &customParams{byType: map[string]map[string]*customParam{}}
}

// lookup returns the custom parameter code of typ.
func (c *customParams) lookup(typ, code string) (*customParam, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.byType[typ][code]
	return p, ok
}

// forType returns the custom parameters of typ.
func (c *customParams) forType(typ string) []*customParam {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*customParam, 0, len(c.byType[typ]))
	for _, p := range c.byType[typ] {
		out = append(out, p)
	}
	return out
}

// types returns the types that have custom parameters.
func (c *customParams) types() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.byType))
	for typ := range c.byType {
		out = append(out, typ)
	}
	slices.Sort(out)
	return out
}

// remove drops the parameters a SearchParameter defined.
func (c *customParams) remove(source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for typ, params := range c.byType {
		for code, p := range params {
			if p.source == source {
				delete(params, code)
			}
		}
		if len(params) == 0 {
			delete(c.byType, typ)
		}
	}
}

// put replaces the parameters of p.source by p.
func (c *customParams) put(p *customParam) {
	c.remove(p.source)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, base := range p.bases {
		if c.byType[base] == nil {
			c.byType[base] = map[string]*customParam{}
		}
		c.byType[base][p.code] = p
	}
}

// searchParameterJSON is what a SearchParameter resource says that matters here.
type searchParameterJSON struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Status     string   `json:"status"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Expression string   `json:"expression"`
	Component  []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

// customFrom reads a stored SearchParameter; nil (and the reason) when it
// does not define a custom parameter this layer can serve.
func (s *Server) customFrom(id string, body []byte) (*customParam, error) {
	var sp searchParameterJSON
	if err := json.Unmarshal(body, &sp); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	switch {
	case sp.Status != "active":
		return nil, nil
	case sp.Code == "" || sp.Expression == "" || len(sp.Base) == 0:
		return nil, errors.New("no code, base or expression")
	case !customKinds[store.Kind(sp.Type)]:
		return nil, fmt.Errorf("type %q is not served for custom parameters", sp.Type)
	}
	for _, base := range sp.Base {
		if !model.IsResourceType(base) {
			return nil, fmt.Errorf("base %q is not a resource type", base)
		}
		if _, ok := s.registry.Lookup(base, sp.Code); ok {
			return nil, fmt.Errorf("%s already has a parameter %q", base, sp.Code)
		}
	}
	expr, err := fhirpath.Compile(sp.Expression)
	if err != nil {
		return nil, fmt.Errorf("expression: %w", err)
	}
	p := &customParam{source: id, url: sp.URL, code: sp.Code, kind: store.Kind(sp.Type), bases: sp.Base, expr: expr}
	if p.kind == store.KindComposite {
		if p.composite, err = s.customComposite(sp); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// customComposite makes the search package's form of a composite
// SearchParameter for each of its bases.
func (s *Server) customComposite(sp searchParameterJSON) (map[string]*search.Param, error) {
	if len(sp.Component) != 2 {
		return nil, fmt.Errorf("a composite of %d components is not served (two are)", len(sp.Component))
	}
	out := map[string]*search.Param{}
	for _, base := range sp.Base {
		p := &search.Param{Type: base, Code: sp.Code, Kind: store.KindComposite, URL: sp.URL, Expression: sp.Expression}
		for i, c := range sp.Component {
			def, ok := s.registry.LookupURL(base, c.Definition)
			switch {
			case !ok:
				return nil, fmt.Errorf("component %q is not a search parameter of %s", c.Definition, base)
			case i == 0 && def.Kind != store.KindToken:
				return nil, fmt.Errorf("the first component %q is a %s, not a token", c.Definition, def.Kind)
			case !search.ComponentExpressionIndexed(c.Expression):
				return nil, fmt.Errorf("component expression %q is not an element name or a value choice", c.Expression)
			}
			p.Components = append(p.Components, search.Component{Code: def.Code, Expression: c.Expression})
		}
		out[base] = p
	}
	return out, nil
}

// noteWrites tells what caches derived data of committed writes: the
// custom parameters (SearchParameter writes) and the consent policy (writes
// of the resources its answers are computed from).
func (s *Server) noteWrites(writes []store.Write) {
	consent, cached := s.opts.Consent.(consentCache)
	invalidate := false
	for _, w := range writes {
		invalidate = invalidate || (cached && consent.Affects(w.Type))
		if w.Type == "SearchParameter" {
			s.noteSearchParameter(w.ID, w.Deleted, w.Body)
		}
	}
	if invalidate {
		consent.Invalidate()
	}
}

// consentCache is a consent policy that caches its answers: it is told
// after every write of a type its answers are computed from.
type consentCache interface {
	Affects(typ string) bool
	Invalidate()
}

func (s *Server) noteSearchParameter(id string, deleted bool, body []byte) {
	if deleted {
		s.custom.remove(id)
		return
	}
	p, err := s.customFrom(id, body)
	switch {
	case err != nil:
		s.log.Warn("fhir: SearchParameter not made searchable", "id", id, "error", err)
		s.custom.remove(id)
	case p == nil:
		s.custom.remove(id)
	default:
		s.custom.put(p)
	}
}

// loadSearchParameters registers the active SearchParameters of the store.
func (s *Server) loadSearchParameters(ctx context.Context) error {
	q := store.Query{Types: []string{"SearchParameter"}, Count: 200}
	for {
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return fmt.Errorf("fhir: load SearchParameters: %w", err)
		}
		for _, r := range res.Resources {
			s.noteSearchParameter(r.ID, false, r.Body)
		}
		if !res.More {
			return nil
		}
		q = nextPage(q, res)
	}
}

// nextPage is the query of the page after res: by cursor when the store
// gives one, by offset otherwise.
func nextPage(q store.Query, res *store.SearchResult) store.Query {
	if res.Next != "" {
		q.Cursor, q.Offset = res.Next, 0
	} else {
		q.Offset += len(res.Resources)
	}
	q.Total = false
	return q
}

// indexEntries are the index entries of a resource: the specification's
// parameters and the custom ones of its type.
func (s *Server) indexEntries(typ string, body []byte) ([]store.IndexEntry, error) {
	entries, err := s.extract.Extract(typ, body)
	if err != nil {
		return nil, err
	}
	params := s.custom.forType(typ)
	if len(params) == 0 {
		return entries, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("fhir: index %s: %w", typ, err)
	}
	for _, p := range params {
		items, err := p.expr.Evaluate(doc)
		if err != nil {
			continue // as for the specification's parameters: not findable by it
		}
		for _, it := range items {
			entries = append(entries, s.customEntries(p, typ, it)...)
		}
	}
	return entries, nil
}

// customEntries normalises one value as the store expects it (see store.IndexEntry).
func (s *Server) customEntries(p *customParam, typ string, it fhirpath.Item) []store.IndexEntry {
	text := func(texts ...string) []store.IndexEntry {
		var out []store.IndexEntry
		for _, t := range texts {
			if t != "" {
				out = append(out, store.IndexEntry{Param: p.code, Kind: p.kind, Text: t})
			}
		}
		return out
	}
	m, _ := it.Value.(map[string]any)
	str := func(key string) string { v, _ := m[key].(string); return v }
	switch p.kind {
	case store.KindToken:
		switch {
		case m == nil:
			return text(search.TokenForms("", fmt.Sprint(it.Value))...)
		case m["coding"] != nil:
			var out []store.IndexEntry
			for _, c := range m["coding"].([]any) {
				if cm, ok := c.(map[string]any); ok {
					sys, _ := cm["system"].(string)
					code, _ := cm["code"].(string)
					out = append(out, text(search.TokenForms(sys, code)...)...)
				}
			}
			return out
		case m["value"] != nil:
			return text(search.TokenForms(str("system"), str("value"))...)
		default:
			return text(search.TokenForms(str("system"), str("code"))...)
		}
	case store.KindString:
		if m == nil {
			return text(search.Fold(fmt.Sprint(it.Value)))
		}
		var parts []string
		for _, v := range m {
			switch v := v.(type) {
			case string:
				parts = append(parts, search.Fold(v))
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						parts = append(parts, search.Fold(s))
					}
				}
			}
		}
		return text(parts...)
	case store.KindReference:
		ref := fmt.Sprint(it.Value)
		if m != nil {
			ref = str("reference")
		}
		ref = strings.TrimPrefix(ref, s.opts.BaseURL+"/")
		if typ, rest, ok := strings.Cut(ref, "/"); ok && model.IsResourceType(typ) {
			id, _, _ := strings.Cut(rest, "/")
			return text(typ+"/"+id, id)
		}
		return text(ref)
	case store.KindURI:
		return text(fmt.Sprint(it.Value))
	case store.KindDate:
		low, high, ok := customDateRange(it.Value, m)
		if !ok {
			return nil
		}
		return []store.IndexEntry{{Param: p.code, Kind: p.kind, Low: low, High: high}}
	case store.KindNumber:
		low, high, err := search.NumberRange(fmt.Sprint(it.Value))
		if err != nil {
			return nil
		}
		return []store.IndexEntry{{Param: p.code, Kind: p.kind, Low: low, High: high}}
	case store.KindQuantity:
		return search.QuantityEntries(p.code, it.Value, it.Type)
	case store.KindComposite:
		return s.extract.CompositeEntries(p.composite[typ], it.Value, it.Type)
	}
	return nil
}

// customDateRange is the range of a date, dateTime, instant or Period.
func customDateRange(v any, m map[string]any) (low, high float64, ok bool) {
	if m == nil {
		low, high, err := search.DateRange(fmt.Sprint(v))
		return low, high, err == nil
	}
	start, _ := m["start"].(string)
	end, _ := m["end"].(string)
	low, high = -62135596800000, 253402300800000 // years 1 and 9999, as open ends
	if start != "" {
		l, _, err := search.DateRange(start)
		if err != nil {
			return 0, 0, false
		}
		low = l
	}
	if end != "" {
		_, h, err := search.DateRange(end)
		if err != nil {
			return 0, 0, false
		}
		high = h
	}
	return low, high, start != "" || end != ""
}

// rangePrefixes are the search prefixes of dates and numbers.
var rangePrefixes = map[string]store.Op{
	"eq": store.OpEq, "ne": store.OpNe, "gt": store.OpGt, "lt": store.OpLt,
	"ge": store.OpGe, "le": store.OpLe, "sa": store.OpSa, "eb": store.OpEb, "ap": store.OpOverlap,
}

// splitCustom separates the criteria on custom parameters of typ from the
// ones the registry parses.
func (s *Server) splitCustom(typ string, criteria url.Values) (rest, custom url.Values) {
	rest, custom = url.Values{}, url.Values{}
	for name, values := range criteria {
		code, _, _ := strings.Cut(name, ":")
		if _, ok := s.custom.lookup(typ, code); ok && typ != "" {
			custom[name] = values
		} else {
			rest[name] = values
		}
	}
	return rest, custom
}

// applyCustom parses criteria on custom parameters of typ into plan.
func (s *Server) applyCustom(typ string, criteria url.Values, plan *search.Plan) {
	for name, values := range criteria {
		code, modifier, _ := strings.Cut(name, ":")
		p, ok := s.custom.lookup(typ, code)
		if !ok {
			// Removed since the criteria were split.
			plan.Ignored = append(plan.Ignored, search.Issue{Param: name, Message: "the custom search parameter was removed"})
			continue
		}
		for _, v := range values {
			clause, err := s.customClause(typ, p, modifier, v)
			if err != nil {
				plan.Ignored = append(plan.Ignored, search.Issue{Param: name, Message: err.Error()})
				continue
			}
			plan.Query.Clauses = append(plan.Query.Clauses, clause)
			plan.Applied.Add(name, v)
		}
	}
}

// customClause parses one value of a custom parameter of typ
// (comma-separated alternatives; the modifiers :missing, and :exact and
// :contains on strings). Composite values are the registry's to parse, as
// for the specification's composites.
func (s *Server) customClause(typ string, p *customParam, modifier, value string) (store.Clause, error) {
	if p.kind == store.KindComposite && modifier == "" {
		return s.registry.CompositeValueClause(typ, p.composite[typ], value)
	}
	var clause store.Clause
	for _, v := range strings.Split(value, ",") {
		if v == "" {
			continue
		}
		cond := store.Condition{Param: p.code, Op: store.OpExact, Text: v}
		switch {
		case modifier == "missing":
			if v != "true" && v != "false" {
				return clause, fmt.Errorf("%s:missing: %q is not true or false", p.code, v)
			}
			cond.Op = store.OpMissing
		case modifier != "" && !(p.kind == store.KindString && (modifier == "exact" || modifier == "contains")):
			return clause, fmt.Errorf("%s: modifier :%s is not supported on this custom parameter", p.code, modifier)
		case p.kind == store.KindString:
			cond.Text = search.Fold(v)
			cond.Op = map[string]store.Op{"": store.OpPrefix, "exact": store.OpExact, "contains": store.OpContains}[modifier]
		case p.kind == store.KindDate || p.kind == store.KindNumber:
			op, raw := store.OpEq, v
			if len(v) > 2 && rangePrefixes[v[:2]] != "" {
				op, raw = rangePrefixes[v[:2]], v[2:]
			}
			rangeOf := search.DateRange
			if p.kind == store.KindNumber {
				rangeOf = search.NumberRange
			}
			low, high, err := rangeOf(raw)
			if err != nil {
				return clause, fmt.Errorf("%s: invalid %s %q", p.code, p.kind, raw)
			}
			cond = store.Condition{Param: p.code, Op: op, Low: low, High: high}
		case p.kind == store.KindQuantity:
			q, err := search.QuantityCondition(p.code, v)
			if err != nil {
				return clause, err
			}
			cond = q
		}
		clause.Any = append(clause.Any, cond)
	}
	if len(clause.Any) == 0 {
		return clause, fmt.Errorf("%s: empty value", p.code)
	}
	return clause, nil
}

// SearchParameterChanged re-reads the SearchParameter id after another node
// wrote it (a change event), so that every node searches by the same custom
// parameters without a restart. This node's own writes need no call.
func (s *Server) SearchParameterChanged(ctx context.Context, id string) error {
	res, err := s.store.Read(ctx, "SearchParameter", id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.custom.remove(id)
		return nil
	case err != nil:
		return fmt.Errorf("fhir: reload SearchParameter/%s: %w", id, err)
	}
	s.noteSearchParameter(id, res.Deleted, res.Body)
	return nil
}
