package fhir

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// compartments are the compartment types of R4.
var compartments = []string{"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"}

// compartmentSearch answers GET [base]/Patient/123/Observation (one type of
// the compartment), GET [base]/Patient/123/* (every type) and
// GET [base]/Patient/123/$everything.
func (s *Server) compartmentSearch(c echo.Context) error {
	comp, id, target := c.Param("type"), c.Param("id"), c.Param("comp")
	if target == opEverything {
		return s.everything(c, id)
	}
	if target != "*" && !model.IsResourceType(target) {
		return s.notFound(c)
	}
	if !slices.Contains(compartments, comp) {
		return newError(http.StatusNotFound, codeNotFound, "%s is not a compartment", comp)
	}
	sp := searchSpec{base: s.opts.BaseURL + "/" + comp + "/" + id + "/" + target}
	if target == "*" {
		sp.types = search.CompartmentTypes(comp)
		sp.clauses = []store.Clause{compartmentClause(comp, id, sp.types)}
	} else {
		clause, ok := search.CompartmentClause(comp, id, target)
		if !ok {
			return newError(http.StatusNotFound, codeNotFound, "%s resources are not in the %s compartment", target, comp)
		}
		sp.typ, sp.clauses = target, []store.Clause{clause}
	}
	return s.answerSearch(c, sp)
}

// compartmentClause matches the resources of types in compartment comp/id:
// a reference to it through any parameter that places one of the types in
// the compartment. One clause serves every type, so a type is also matched
// through a parameter of that code that only another type lists; for the
// R4 compartments those parameters point to the compartment's type anyway.
func compartmentClause(comp, id string, types []string) store.Clause {
	var clause store.Clause
	seen := map[string]bool{}
	for _, typ := range types {
		for _, p := range search.CompartmentParams(comp, typ) {
			if seen[p] {
				continue
			}
			seen[p] = true
			clause.Any = append(clause.Any, store.Condition{Param: p, Op: store.OpExact, Text: comp + "/" + id})
		}
	}
	return clause
}

const opEverything = "$everything"

// everythingParams are the parameters of Patient/$everything this server
// reads; _count and paging come with them.
var everythingParams = []string{"_since", "_type"}

// everything answers Patient/[id]/$everything: the Patient and every
// resource in its compartment, paged, optionally restricted by _type and
// _since (last updated at or after). The Patient comes first on the first page.
func (s *Server) everything(c echo.Context, id string) error {
	c.Set(InteractionKey, "operation")
	if c.Param("type") != "Patient" {
		return newError(http.StatusNotFound, codeNotSupported, "$everything is served on Patient only")
	}
	patient, err := s.readAllowed(c.Request().Context(), "Patient", id, "")
	if err != nil {
		return err
	}
	sp, err := s.everythingSpec(c.QueryParams())
	if err != nil {
		return err
	}
	sp.base = s.opts.BaseURL + "/Patient/" + id + "/" + opEverything
	sp.clauses = append(sp.clauses, compartmentClause("Patient", id, sp.types))
	if slices.Contains(sp.types, "Patient") && s.sinceHolds(sp, patient) {
		sp.lead = patient
	}
	return s.answerEverything(c, sp)
}

// everythingType answers Patient/$everything: a page of Patients, each
// followed by the resources of its compartment (search mode include,
// bounded by Options.MaxIncluded per page).
func (s *Server) everythingType(c echo.Context) error {
	c.Set(InteractionKey, "operation")
	if c.Param("type") != "Patient" {
		return newError(http.StatusNotFound, codeNotSupported, "$everything is served on Patient only")
	}
	sp, err := s.everythingSpec(c.QueryParams())
	if err != nil {
		return err
	}
	contents := searchSpec{types: sp.types, clauses: sp.clauses}
	sp.typ, sp.base = "Patient", s.opts.BaseURL+"/Patient/"+opEverything
	sp.types, sp.clauses = nil, nil
	sp.expand = func(ctx context.Context, matches []store.Resource, limit int) ([]store.Resource, error) {
		return s.compartmentContents(ctx, contents, matches, limit)
	}
	if v, ok := sp.params["_type"]; ok {
		sp.linkExtra.Set("_type", v[0])
		sp.params.Del("_type")
	}
	return s.answerEverything(c, sp)
}

// everythingSpec reads _type and _since into a search across the Patient
// compartment's types.
func (s *Server) everythingSpec(query url.Values) (searchSpec, error) {
	params := url.Values{}
	for k, v := range query {
		params[k] = v
	}
	sp := searchSpec{types: search.CompartmentTypes("Patient"), params: params, linkExtra: url.Values{}}
	if !slices.Contains(sp.types, "Patient") {
		sp.types = append(sp.types, "Patient")
	}
	if v, ok := params["_type"]; ok {
		types, err := s.typeParam(v, sp.types)
		if err != nil {
			return sp, err
		}
		sp.types = types
	}
	if v := params.Get("_since"); v != "" {
		if _, _, err := search.DateRange(v); err != nil {
			return sp, badRequest(codeValue, "_since must be an instant, not %q", v)
		}
		plan := s.registry.Parse("", url.Values{store.ParamLastUpdated: {"ge" + v}})
		sp.clauses = append(sp.clauses, plan.Query.Clauses...)
		params.Del("_since")
		sp.since = v
		sp.linkExtra.Set("_since", v)
	}
	return sp, nil
}

// sinceHolds reports whether r was last updated at or after the _since of sp.
func (s *Server) sinceHolds(sp searchSpec, r *store.Resource) bool {
	if sp.since == "" {
		return true
	}
	low, _, err := search.DateRange(sp.since)
	return err == nil && float64(r.LastUpdated.UnixMilli()) >= low
}

func (s *Server) answerEverything(c echo.Context, sp searchSpec) error {
	sp.strict = parsePrefer(c.Request().Header).strict
	body, err := s.search(c.Request().Context(), sp)
	if err != nil {
		return err
	}
	return send(c, http.StatusOK, body)
}

// compartmentContents reads the resources in the compartments of patients.
func (s *Server) compartmentContents(ctx context.Context, sp searchSpec, patients []store.Resource, limit int) ([]store.Resource, error) {
	if len(patients) == 0 {
		return nil, nil
	}
	types := slices.DeleteFunc(slices.Clone(sp.types), func(t string) bool { return t == "Patient" })
	if len(types) == 0 {
		return nil, nil
	}
	var clause store.Clause
	for _, p := range patients {
		clause.Any = append(clause.Any, compartmentClause("Patient", p.ID, types).Any...)
	}
	q := store.Query{Types: types, Clauses: append([]store.Clause{clause}, sp.clauses...), Count: limit}
	if err := s.restrict(ctx, smart.Search, &q, nil, false); err != nil {
		return nil, err
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, searchFailed("$everything", err)
	}
	return res.Resources, nil
}
