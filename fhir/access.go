package fhir

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// access is what the caller of one REST request may touch: the token's
// grants, and the patients whose consent closes their data to it. wrap
// computes it once per request and puts it in the request's context; every
// read, search and write below asks it. A nil *access is an open server
// (no Options.Auth) or an in-process call: everything is allowed.
type access struct {
	p *authz.Principal
	// denied are the patients (ids) whose consent denies p, minus those p
	// broke the glass for.
	denied []string
}

type accessKey struct{}

func withAccess(ctx context.Context, a *access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

// accessOf returns the request's access; nil (open) for the in-process API,
// whose callers authorize themselves.
func accessOf(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// forbidden is the 403 of a missing scope.
func forbidden(format string, args ...any) *apiError {
	return newError(http.StatusForbidden, codeForbidden, format, args...)
}

// consentDenied is the 403 of a patient's consent.
func consentDenied(patient string) *apiError {
	return newError(http.StatusForbidden, codeForbidden, "the consent of Patient/%s denies access to this data", patient)
}

// notVisible is the 404 of a resource outside the token's compartment or
// scope query: the same answer as a resource that does not exist, so that
// a token cannot probe for other patients' data.
func notVisible(typ, id string) *apiError {
	return newError(http.StatusNotFound, codeNotFound, "%s/%s is not known", typ, id)
}

var verbs = map[smart.Interaction]string{
	smart.Create: "create", smart.Read: "read", smart.Update: "update", smart.Delete: "delete", smart.Search: "search",
}

// decide answers whether the token grants interaction i on typ (403 when not).
func (a *access) decide(i smart.Interaction, typ string, params url.Values) (smart.Decision, error) {
	if a == nil {
		return smart.Decision{Allowed: true, Unrestricted: true}, nil
	}
	d := a.p.Grants.Allow(i, typ, params)
	if !d.Allowed {
		return d, forbidden("the access token does not grant %s on %s", verbs[i], typ)
	}
	return d, nil
}

// systemScope reports whether the token holds a system/ scope granting i on
// typ without restriction: operations that act for the whole server
// ($reindex, SearchParameter writes) require one.
func (a *access) systemScope(i smart.Interaction, typ string) bool {
	if a == nil || a.p.Insecure {
		return true
	}
	return slices.ContainsFunc(a.p.Grants.Scopes, func(s smart.Scope) bool {
		return s.Context == "system" && (s.Type == "*" || s.Type == typ) && s.Allows(i) && s.Query == nil
	})
}

// requireSystem answers 403 unless the token holds a system scope for i on typ.
func (a *access) requireSystem(i smart.Interaction, typ, what string) error {
	if a.systemScope(i, typ) {
		return nil
	}
	return forbidden("%s needs a system/%s scope granting %s", what, typ, verbs[i])
}

// restricted reports whether a may see less than everything (a scope
// constraint or a consent denial); the interactions that cannot filter at
// the store (type and system history) are refused then.
func (a *access) restricted(i smart.Interaction, types []string) bool {
	if a == nil {
		return false
	}
	if len(a.denied) > 0 {
		return true
	}
	for _, t := range types {
		if d := a.p.Grants.Allow(i, t, nil); !d.Unrestricted {
			return true
		}
	}
	return false
}

// scopeClauses are the store clauses that keep a query of typ within the
// constraints of d: the compartment, and the scope queries. none reports
// that nothing of typ can satisfy them (a type outside the compartment).
// Several constraints must share their compartment and have at most one
// clause of query each, so that they combine into one disjunction.
func (s *Server) scopeClauses(d smart.Decision, typ string) (clauses []store.Clause, none bool, err error) {
	if d.Unrestricted || len(d.AnyOf) == 0 {
		return nil, false, nil
	}
	comp := d.AnyOf[0].Compartment
	var alternatives []store.Clause
	open := false // one constraint has no query: the compartment alone
	for _, c := range d.AnyOf {
		if c.Compartment != comp {
			return nil, false, forbidden("the access token's scopes on %s combine compartments this server cannot enforce together", typ)
		}
		if c.Params == nil {
			open = true
			continue
		}
		plan := s.registry.Parse(typ, c.Params)
		if len(plan.Ignored) > 0 || len(plan.Query.Clauses) == 0 {
			return nil, false, forbidden("the access token's scope query %q cannot be applied to %s", c.Params.Encode(), typ)
		}
		if len(d.AnyOf) > 1 && len(plan.Query.Clauses) > 1 {
			return nil, false, forbidden("the access token's scope queries on %s are too complex to combine; ask for one", typ)
		}
		alternatives = append(alternatives, plan.Query.Clauses...)
	}
	if comp != "" {
		cl, ok := compartmentMembership(comp, typ)
		if !ok {
			return nil, true, nil
		}
		clauses = append(clauses, cl)
	}
	if !open {
		if len(d.AnyOf) == 1 {
			clauses = append(clauses, alternatives...)
		} else {
			var union store.Clause
			for _, alt := range alternatives {
				union.Any = append(union.Any, alt.Any...)
			}
			clauses = append(clauses, union)
		}
	}
	return clauses, false, nil
}

// compartmentMembership is the clause matching the resources of typ in the
// compartment comp ("Patient/123"): the compartment's own resource by its
// id, the others by the compartment definition's parameters.
func compartmentMembership(comp, typ string) (store.Clause, bool) {
	compType, id, _ := strings.Cut(comp, "/")
	clause, ok := search.CompartmentClause(compType, id, typ)
	if typ == compType {
		clause.Any = append([]store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: id}}, clause.Any...)
		return clause, true
	}
	return clause, ok
}

// consentClauses exclude the compartments of the denied patients from a
// query of types: one negated condition per patient and parameter (and the
// Patient resources themselves by id).
func consentClauses(denied, types []string) []store.Clause {
	if len(denied) == 0 {
		return nil
	}
	params := map[string]bool{}
	var order []string
	patient := false
	for _, t := range types {
		if t == "Patient" {
			patient = true
		}
		for _, p := range search.CompartmentParams("Patient", t) {
			if !params[p] {
				params[p] = true
				order = append(order, p)
			}
		}
	}
	var out []store.Clause
	for _, d := range denied {
		if patient {
			out = append(out, store.Clause{Any: []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: d, Not: true}}})
		}
		for _, p := range order {
			out = append(out, store.Clause{Any: []store.Condition{{Param: p, Op: store.OpExact, Text: "Patient/" + d, Not: true}}})
		}
	}
	return out
}

// noType is a type no resource has: a query of it matches nothing.
const noType = "-"

// impossible is a type list that matches nothing (a fresh slice: callers
// may append to a query's types).
func impossible() []string { return []string{noType} }

// restrict narrows q to what the request's token may see with interaction
// i: the scope constraints and consent as store clauses (so that totals and
// pages never count what the token cannot see), in chains and _has too.
// params are the request's search parameters (a v2 scope query they
// already include is no constraint). With explicit, a type the token may
// not search is refused (403); otherwise it is left out.
func (s *Server) restrict(ctx context.Context, i smart.Interaction, q *store.Query, params url.Values, explicit bool) error {
	a := accessOf(ctx)
	if a == nil {
		return nil
	}
	if err := s.restrictTypes(a, i, q, params, explicit); err != nil {
		return err
	}
	// Chained and reverse-chained conditions read other resources: they see
	// only what the token may read.
	for ci := range q.Clauses {
		for k := range q.Clauses[ci].Any {
			c := &q.Clauses[ci].Any[k]
			if c.Chain != nil {
				sub := *c.Chain
				sub.Clauses = slices.Clone(sub.Clauses)
				if err := s.restrict(ctx, smart.Read, &sub, nil, false); err != nil {
					return err
				}
				c.Chain = &sub
			}
			if c.Has != nil {
				has := *c.Has
				has.Query.Clauses = slices.Clone(has.Query.Clauses)
				if err := s.restrict(ctx, smart.Read, &has.Query, nil, false); err != nil {
					return err
				}
				c.Has = &has
			}
		}
	}
	return nil
}

// restrictTypes applies the scope and consent clauses of q's types.
func (s *Server) restrictTypes(a *access, i smart.Interaction, q *store.Query, params url.Values, explicit bool) error {
	if len(q.Types) == 1 {
		typ := q.Types[0]
		if typ == noType {
			return nil
		}
		d, err := a.decide(i, typ, params)
		if err != nil {
			if explicit {
				return err
			}
			q.Types = impossible()
			return nil
		}
		clauses, none, err := s.scopeClauses(d, typ)
		if err != nil {
			return err
		}
		if none {
			q.Types = impossible()
			return nil
		}
		q.Clauses = append(q.Clauses, clauses...)
		q.Clauses = append(q.Clauses, consentClauses(a.denied, q.Types)...)
		return nil
	}
	types := q.Types
	if len(types) == 0 {
		types = s.registry.Types()
	}
	// Across types, one set of clauses serves every type: the types the
	// token reaches only through a compartment narrow the whole search to
	// that compartment, and scope queries need a search of their type alone.
	var kept []string
	comp := ""
	dropped := false
	for _, t := range types {
		d := a.p.Grants.Allow(i, t, params)
		if !d.Allowed {
			if explicit {
				return forbidden("the access token does not grant %s on %s", verbs[i], t)
			}
			dropped = true
			continue
		}
		if !d.Unrestricted {
			c, ok := compartmentOnly(d)
			if !ok || (comp != "" && c != comp) {
				if explicit {
					return forbidden("the access token's scope queries on %s apply to a search of %s alone", t, t)
				}
				dropped = true
				continue
			}
			comp = c
		}
		kept = append(kept, t)
	}
	if !dropped && comp == "" {
		// Everything asked is open to the token: the query stays as it was
		// (no type list where it had none).
		q.Clauses = append(q.Clauses, consentClauses(a.denied, types)...)
		return nil
	}
	if comp != "" {
		compType, id, _ := strings.Cut(comp, "/")
		kept = slices.DeleteFunc(kept, func(t string) bool {
			return len(search.CompartmentParams(compType, t)) == 0
		})
		if len(kept) > 0 {
			q.Clauses = append(q.Clauses, compartmentClause(compType, id, kept))
		}
	}
	if len(kept) == 0 {
		if explicit {
			return forbidden("the access token grants %s on none of these types", verbs[i])
		}
		q.Types = impossible()
		return nil
	}
	q.Types = kept
	q.Clauses = append(q.Clauses, consentClauses(a.denied, kept)...)
	return nil
}

// compartmentOnly returns the compartment of a decision whose constraints
// include one with no scope query.
func compartmentOnly(d smart.Decision) (string, bool) {
	for _, c := range d.AnyOf {
		if c.Params == nil && c.Compartment != "" {
			return c.Compartment, true
		}
	}
	return "", false
}

// checkVisible answers whether the request's token may do i on the stored
// typ/id: 403 without the scope, 404 when the resource is outside its
// compartment or scope query (as if it did not exist), 403 when a
// patient's consent denies it. The check is one store search of the id
// with the token's clauses.
func (s *Server) checkVisible(ctx context.Context, i smart.Interaction, typ, id string) error {
	a := accessOf(ctx)
	if a == nil {
		return nil
	}
	d, err := a.decide(i, typ, nil)
	if err != nil {
		return err
	}
	clauses, none, err := s.scopeClauses(d, typ)
	if err != nil {
		return err
	}
	if none {
		return notVisible(typ, id)
	}
	if len(clauses) > 0 {
		found, err := s.exists(ctx, typ, id, clauses)
		if err != nil {
			return err
		}
		if !found {
			return notVisible(typ, id)
		}
	}
	return s.checkConsent(ctx, a, typ, id)
}

// checkConsent answers 403 when typ/id is in the compartment of a patient
// whose consent denies the token.
func (s *Server) checkConsent(ctx context.Context, a *access, typ, id string) error {
	if a == nil || len(a.denied) == 0 {
		return nil
	}
	if typ == "Patient" && slices.Contains(a.denied, id) {
		return consentDenied(id)
	}
	params := search.CompartmentParams("Patient", typ)
	if len(params) == 0 {
		return nil
	}
	for _, d := range a.denied {
		var clause store.Clause
		for _, p := range params {
			clause.Any = append(clause.Any, store.Condition{Param: p, Op: store.OpExact, Text: "Patient/" + d})
		}
		found, err := s.exists(ctx, typ, id, []store.Clause{clause})
		if err != nil {
			return err
		}
		if found {
			return consentDenied(d)
		}
	}
	return nil
}

// exists reports whether the current typ/id matches clauses.
func (s *Server) exists(ctx context.Context, typ, id string, clauses []store.Clause) (bool, error) {
	q := store.Query{
		Types:   []string{typ},
		Clauses: append([]store.Clause{{Any: []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: id}}}}, clauses...),
		Count:   1,
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return false, searchFailed("access check of "+typ, err)
	}
	return len(res.Resources) > 0, nil
}

// historyAllowed checks a history interaction. The history of one resource
// follows its read rules (by its current version). Type and system history
// cannot be narrowed at the store, so they need a token that sees
// everything of the types asked, with no consent denial.
func (s *Server) historyAllowed(ctx context.Context, typ, id string) error {
	a := accessOf(ctx)
	if a == nil {
		return nil
	}
	if id != "" {
		return s.checkVisible(ctx, smart.Read, typ, id)
	}
	types := []string{typ}
	if typ == "" {
		types = s.registry.Types()
	} else if _, err := a.decide(smart.Search, typ, nil); err != nil {
		return err
	}
	if a.restricted(smart.Search, types) {
		return forbidden("history across resources needs a token that reads every resource of the types asked, with no consent restriction; ask for the history of one resource")
	}
	return nil
}
