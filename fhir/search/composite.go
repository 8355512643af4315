package search

import (
	"fmt"
	"strings"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/store"
)

// Composite parameters pair the values of two components selected from the
// same element: code-value-quantity matches an Observation whose code AND
// value are those given, not a code from one component and a value from
// another. They are indexed as one entry per pair, under the composite's code:
//
//	Text  first component's token form + "$" + second component's text
//	Kind  the second component's kind; Low, High its range
//
// The second component's text is the folded string, the token form or the
// reference for text kinds, the unit ("", "system|code" or "code") for
// quantities, and empty for dates and numbers. A quantity searched without
// a unit matches the entries whose Text begins with "first$"
// (store.Condition.TextPrefix), so that its value with any unit needs no
// entry of its own: a vital sign's code-value-quantity has four entries
// rather than six, which the SQLite store's commits feel. Quantities with
// a UCUM unit are also paired in canonical form under "<code>:canonical",
// as plain quantity parameters are (see quantityEntries). A query value
// "a$b" becomes one condition on that Text, with the second component's
// operator and range.
// The first component is paired in its "system|code", "|code" and "code"
// forms, not "system|" alone. Only two-component composites are indexed (the
// three-component ones of MolecularSequence are not).
//
// The store compares Text on the same entry as the range for range kinds
// (store.Condition), so composites are indexed by default; Parse applies
// them through CompositeClause.

// WithComposites indexes composite parameters, as "first$second" entries
// (the default; kept for callers that asked for it explicitly).
func WithComposites() ExtractorOption {
	return func(x *Extractor) { x.composites = true }
}

// WithoutComposites leaves composite parameters out of the index.
func WithoutComposites() ExtractorOption {
	return func(x *Extractor) { x.composites = false }
}

// compositeEntries appends the entries of one element a composite parameter
// selected (an Observation, one of its components, a useContext).
func (n normaliser) compositeEntries(p *Param, second *Param, item Value, out []store.IndexEntry) []store.IndexEntry {
	m, ok := item.Data.(map[string]any)
	if !ok || len(p.Components) != 2 || second == nil {
		return out
	}
	// The second component first: most composites of an element select
	// nothing there (an Observation has one kind of value), and then the
	// first component's tokens need not be computed.
	seconds, ok := componentValues(m, p.Components[1].Expression)
	if !ok || len(seconds) == 0 {
		return out
	}
	var values []store.IndexEntry
	for _, v := range seconds {
		values = n.entries(second, v, values)
	}
	if len(values) == 0 {
		return out
	}
	firsts, ok := componentValues(m, p.Components[0].Expression)
	if !ok {
		return out
	}
	var tokens []store.IndexEntry
	for _, v := range firsts {
		tokens = tokenEntries(p.Components[0].Code, v, tokens)
	}
	for _, t := range tokens {
		if t.Param != p.Components[0].Code || strings.HasSuffix(t.Text, "|") {
			continue // the ":text" entries, and "system|" (a code is wanted)
		}
		for _, v := range values {
			param := p.Code
			switch v.Param {
			case second.Code:
			case second.Code + SuffixCanonical:
				param += SuffixCanonical
			default:
				continue // ":exact", ":identifier" entries
			}
			out = append(out, store.IndexEntry{Param: param, Kind: v.Kind, Text: t.Text + "$" + v.Text, Low: v.Low, High: v.High})
		}
	}
	return out
}

// componentValues selects a component from an element, for the component
// expressions R4 uses: an element name ("code", "target"), or choices of the
// value ("value.as(Quantity) | value.as(Range)"). Others report false.
func componentValues(m map[string]any, expr string) ([]Value, bool) {
	var out []Value
	for _, alt := range fhirpath.SplitUnion(expr) {
		if typ, ok := choiceType(alt); ok {
			key := "value" + strings.ToUpper(typ[:1]) + typ[1:]
			for _, d := range list(m[key]) {
				out = append(out, Value{Data: d, Type: typ})
			}
			continue
		}
		if !isElementName(alt) {
			return nil, false
		}
		for _, d := range list(m[alt]) {
			out = append(out, Value{Data: d})
		}
	}
	return out, true
}

// choiceType returns T of "value.as(T)" or "value.ofType(T)".
func choiceType(alt string) (string, bool) {
	for _, fn := range []string{"value.as(", "value.ofType("} {
		if rest, ok := strings.CutPrefix(alt, fn); ok {
			typ, ok := strings.CutSuffix(rest, ")")
			return typ, ok && typ != "" && isElementName(typ)
		}
	}
	return "", false
}

func isElementName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CompositeClause turns a parsed composite search into the clause matching
// the entries the Extractor indexes for it.
func (r *Registry) CompositeClause(resourceType string, c *Composite) (store.Clause, error) {
	if len(c.Components) != 2 {
		return store.Clause{}, fmt.Errorf("%s: composites of %d components are not supported", c.Param, len(c.Components))
	}
	second, ok := r.Lookup(resourceType, c.Components[1].Code)
	if !ok {
		return store.Clause{}, fmt.Errorf("%s: component %s is not a parameter of %s", c.Param, c.Components[1].Code, resourceType)
	}
	var clause store.Clause
	for _, alt := range c.Alternatives {
		if len(alt) != 2 {
			return store.Clause{}, fmt.Errorf("%s: want 2 values separated by $, got %d", c.Param, len(alt))
		}
		conds, err := parseValue(second, "", alt[1])
		if err != nil {
			return store.Clause{}, fmt.Errorf("%s: %w", c.Param, err)
		}
		for _, cond := range conds {
			suffix := ""
			if strings.HasSuffix(cond.Param, SuffixCanonical) {
				suffix = SuffixCanonical // a quantity with a UCUM unit
			}
			cond.Param = c.Param + suffix
			// A quantity without a unit matches the value with any unit:
			// every entry whose Text begins with the first component.
			cond.TextPrefix = second.Kind == store.KindQuantity && cond.Text == ""
			cond.Text = unescape(alt[0]) + "$" + cond.Text
			clause.Any = append(clause.Any, cond)
		}
	}
	return clause, nil
}

// CompositeEntries are the index entries of one element a composite
// parameter p selected, as the Extractor makes them for the
// specification's composites (custom SearchParameters use it). p's second
// component must be a parameter of p.Type the Extractor's registry knows.
func (x *Extractor) CompositeEntries(p *Param, data any, typ string) []store.IndexEntry {
	if len(p.Components) != 2 {
		return nil
	}
	second, ok := x.registry.Lookup(p.Type, p.Components[1].Code)
	if !ok {
		return nil
	}
	return x.norm.compositeEntries(p, second, Value{Data: data, Type: typ}, nil)
}

// CompositeValueClause parses the value of a search on composite parameter
// p of resourceType ("a$b,c$d"), as for the specification's composites
// (custom SearchParameters use it).
func (r *Registry) CompositeValueClause(resourceType string, p *Param, value string) (store.Clause, error) {
	return r.compositeClause(resourceType, p, value)
}

// ComponentExpressionIndexed reports whether a composite's component
// expression is one the index selects: an element name, or choices of the
// value ("value.as(Quantity) | value.as(Range)").
func ComponentExpressionIndexed(expr string) bool {
	_, ok := componentValues(map[string]any{}, expr)
	return ok
}
