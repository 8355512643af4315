package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// Bare forms. The extractor indexes a token twice, as "system|code" and as
// the bare "code", and a reference twice, as "Type/id" and as the bare
// "id", so that a search for either form is one exact lookup. For the
// audit trail the second entry is pure cost: each entry is a B-tree insert
// in the store, the dominant cost of recording an event. So the Recorder
// leaves the bare forms out wherever the search side can name their
// qualified forms: the client ids of agent:identifier are coded in one
// system, and the types a reference parameter may point to are the
// parameter's targets. A search for a bare value is then widened
// (LeanQuery): `patient=p1` becomes `patient=p1,Patient/p1`, `entity=o1`
// becomes `entity=o1` or any "Type/o1" of its 145 target types. The bare
// value stays among the alternatives, so AuditEvents indexed by the
// extractor (created through the API, or reindexed) are found as before;
// for them the qualified forms add nothing, since the extractor gives both
// forms. Type, subtype, action and outcome go further: one entry stands
// for the four (kind.go).

// tokenSystems are, per token parameter, the systems the builders code it
// in: a code of one of these systems is indexed as "system|code" only.
var tokenSystems = map[string][]string{
	"agent" + search.SuffixIdentifier: {ClientIDSystem},
}

// referenceTargets are, per reference parameter, the types its "Type/id"
// references may name (the parameter's targets): a reference to one of
// them is indexed as "Type/id" only.
var referenceTargets = sync.OnceValue(func() map[string][]string {
	targets := map[string][]string{}
	for _, code := range []string{"agent", "entity", "patient"} {
		if p, ok := search.DefaultRegistry().Lookup(resourceType, code); ok && len(p.Targets) > 0 {
			targets[code] = slices.Clone(p.Targets)
		}
	}
	return targets
})

// widensToken reports whether a code of system is indexed under param
// without its bare form.
func widensToken(param, system string) bool {
	return system != "" && slices.Contains(tokenSystems[param], system)
}

// referenceTargetSets are referenceTargets as sets: entity may reference
// any type, and every event asks (widensReference).
var referenceTargetSets = sync.OnceValue(func() map[string]map[string]bool {
	sets := map[string]map[string]bool{}
	for param, types := range referenceTargets() {
		sets[param] = map[string]bool{}
		for _, typ := range types {
			sets[param][typ] = true
		}
	}
	return sets
})

// widensReference reports whether a reference to typ is indexed under
// param without its bare id.
func widensReference(param, typ string) bool {
	return referenceTargetSets()[param][typ]
}

// qualifiedForms returns the forms a search for c's bare value must also
// look for, or nil when c names no bare value of a widened parameter.
func qualifiedForms(c *store.Condition) []string {
	if c.Op != store.OpExact || c.Chain != nil || c.Has != nil || c.Text == "" {
		return nil
	}
	if systems, ok := tokenSystems[c.Param]; ok {
		if strings.Contains(c.Text, "|") {
			return nil
		}
		return qualifyEach(systems, "|", c.Text)
	}
	if types, ok := referenceTargets()[c.Param]; ok {
		if strings.ContainsAny(c.Text, "/:#") {
			return nil
		}
		return qualifyEach(types, "/", c.Text)
	}
	return nil
}

// qualifyEach returns value qualified by each of qualifiers ("system|code",
// "Type/id").
func qualifyEach(qualifiers []string, sep, value string) []string {
	forms := make([]string, len(qualifiers))
	for i, q := range qualifiers {
		forms[i] = q + sep + value
	}
	return forms
}

// maxWidenedClauses bounds the clauses negated values multiply one clause
// into (a clause holding two negated tokens of two forms becomes four).
const maxWidenedClauses = 64

// LeanQuery returns q rewritten for the lean index: every condition on a
// parameter KindParam stands for is rewritten by kind (see kind.go), and
// every search for a bare value of a parameter indexed without its bare
// forms also looks for its qualified forms (see above), in q and in the
// queries of its chains and _has conditions. Queries that cannot concern
// AuditEvent are returned as they are. It fails with store.ErrTooCostly
// when negated values would multiply a clause beyond reason.
func LeanQuery(q store.Query) (store.Query, error) {
	if !needsWidening(&q) {
		return q, nil
	}
	return widenQuery(q)
}

// concernsTrail reports whether a query of types may match AuditEvents.
func concernsTrail(types []string) bool {
	return len(types) == 0 || slices.Contains(types, resourceType)
}

func needsWidening(q *store.Query) bool {
	applies := concernsTrail(q.Types)
	for _, cl := range q.Clauses {
		for i := range cl.Any {
			c := &cl.Any[i]
			switch {
			case applies && (kindParams()[c.Param] || qualifiedForms(c) != nil):
				return true
			case c.Chain != nil && needsWidening(c.Chain):
				return true
			case c.Has != nil && needsWidening(&c.Has.Query):
				return true
			}
		}
	}
	return false
}

// widenQuery copies q with its clauses widened; q's own slices are left
// untouched (callers reuse their queries).
func widenQuery(q store.Query) (store.Query, error) {
	applies := concernsTrail(q.Types)
	clauses := make([]store.Clause, 0, len(q.Clauses))
	for _, cl := range q.Clauses {
		widened, err := widenClause(cl, applies)
		if err != nil {
			return store.Query{}, err
		}
		clauses = append(clauses, widened...)
	}
	q.Clauses = clauses
	return q, nil
}

// widenCondition rewrites c as a conjunction of disjunctions that holds
// exactly when c would on the index the extractor gives, or returns nil
// when c needs no rewriting.
func widenCondition(c store.Condition) [][]store.Condition {
	if w := widenKind(c); w != nil {
		return w
	}
	forms := qualifiedForms(&c)
	if forms == nil {
		return nil
	}
	alternatives := []store.Condition{c}
	for _, form := range forms {
		alt := c
		alt.Text = form
		alternatives = append(alternatives, alt)
	}
	if !c.Not {
		return [][]store.Condition{alternatives} // any form matches
	}
	and := make([][]store.Condition, len(alternatives)) // no form may match
	for i, alt := range alternatives {
		and[i] = []store.Condition{alt}
	}
	return and
}

// widenClause turns one clause (an OR) into the clauses (an AND of ORs)
// that hold exactly when it holds on the extractor's index.
func widenClause(cl store.Clause, applies bool) ([]store.Clause, error) {
	// ors is the clause being built, as a conjunction of disjunctions.
	ors := [][]store.Condition{nil}
	for _, c := range cl.Any {
		c, err := widenNested(c)
		if err != nil {
			return nil, err
		}
		var and [][]store.Condition
		if applies {
			and = widenCondition(c)
		}
		if and == nil {
			and = [][]store.Condition{{c}}
		}
		if len(ors)*len(and) > maxWidenedClauses {
			return nil, fmt.Errorf("audit: %s: too many negated values to search the audit trail by: %w", c.Param, store.ErrTooCostly)
		}
		// (a AND b) OR (x AND y) = (a OR x) AND (a OR y) AND (b OR x) AND (b OR y)
		next := make([][]store.Condition, 0, len(ors)*len(and))
		for _, or := range ors {
			for _, alternatives := range and {
				next = append(next, append(slices.Clip(or), alternatives...))
			}
		}
		ors = next
	}
	out := make([]store.Clause, len(ors))
	for i, or := range ors {
		out[i] = store.Clause{Any: or}
	}
	return out, nil
}

// widenNested widens the queries of c's chain or _has, on copies.
func widenNested(c store.Condition) (store.Condition, error) {
	if c.Chain != nil && needsWidening(c.Chain) {
		chain, err := widenQuery(*c.Chain)
		if err != nil {
			return c, err
		}
		c.Chain = &chain
	}
	if c.Has != nil && needsWidening(&c.Has.Query) {
		has := *c.Has
		query, err := widenQuery(has.Query)
		if err != nil {
			return c, err
		}
		has.Query = query
		c.Has = &has
	}
	return c, nil
}

// LeanSearch returns st with its searches (and, when st explains them,
// its explanations) widened by LeanQuery, so that they find the events
// the Recorder indexes without bare forms. Everything else goes to st as
// it is; its other optional interfaces (store.Records…) are found through
// the returned store with store.As. The REST layer searches through it.
func LeanSearch(st store.Store) store.Store {
	if _, ok := st.(leanStore); ok {
		return st
	}
	lean := &leanSearch{Store: st}
	if explainer, ok := store.As[store.Explainer](st); ok {
		return &leanExplainer{leanSearch: lean, explainer: explainer}
	}
	return lean
}

// leanStore marks the stores LeanSearch returns.
type leanStore interface{ leanSearchStore() }

type leanSearch struct{ store.Store }

func (*leanSearch) leanSearchStore() {}

// Unwrap returns the store searched, for store.As.
func (l *leanSearch) Unwrap() store.Store { return l.Store }

// Search runs q widened.
func (l *leanSearch) Search(ctx context.Context, q store.Query) (*store.SearchResult, error) {
	q, err := LeanQuery(q)
	if err != nil {
		return nil, err
	}
	return l.Store.Search(ctx, q)
}

type leanExplainer struct {
	*leanSearch
	explainer store.Explainer
}

// Explain explains q widened.
func (l *leanExplainer) Explain(ctx context.Context, q store.Query) (string, error) {
	return explainWidened(ctx, l.explainer, q)
}

func explainWidened(ctx context.Context, ex store.Explainer, q store.Query) (string, error) {
	q, err := LeanQuery(q)
	if err != nil {
		return "", err
	}
	return ex.Explain(ctx, q)
}
