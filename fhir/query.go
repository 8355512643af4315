package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// unservedParams are result-control parameters the parser leaves to the
// caller and this server does not implement yet: reported as ignored.
var unservedParams = []string{"_contained", "_containedType"}

// keptParams are the result-control parameters page links carry over.
// (_sort and _total are repeated as applied, see searchPlan.)
var keptParams = []string{"_summary", "_elements"}

// totalModes are the values of _total; without it the total is counted.
var totalModes = map[string]bool{"none": true, "estimate": true, "accurate": true}

func (s *Server) searchType(c echo.Context) error {
	typ := c.Param("type")
	if typ == opVerifyAudit {
		return s.verifyAudit(c)
	}
	if isOperation(typ) {
		return s.notFound(c)
	}
	return s.answerSearch(c, searchSpec{typ: typ, base: s.opts.BaseURL + "/" + typ})
}

func (s *Server) searchSystem(c echo.Context) error {
	return s.answerSearch(c, searchSpec{base: s.opts.BaseURL})
}

func (s *Server) answerSearch(c echo.Context, sp searchSpec) error {
	params, err := s.searchParams(c)
	if err != nil {
		return err
	}
	sp.params, sp.strict = params, parsePrefer(c.Request().Header).strict
	body, err := s.search(c.Request().Context(), sp)
	if err != nil {
		return err
	}
	return send(c, http.StatusOK, body)
}

// searchParams are the URL's parameters, plus the form body of a POST _search.
func (s *Server) searchParams(c echo.Context) (url.Values, error) {
	params := c.QueryParams()
	if c.Request().Method != http.MethodPost {
		return params, nil
	}
	formType := func(mt string) bool { return mt == echo.MIMEApplicationForm }
	if _, err := checkBodyType(c.Request(), true, formType); err != nil {
		return nil, err
	}
	body, err := s.readBody(c.Request())
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest(codeStructure, "malformed form body")
	}
	merged := url.Values{}
	for k, v := range params {
		merged[k] = append(merged[k], v...)
	}
	for k, v := range form {
		merged[k] = append(merged[k], v...)
	}
	return merged, nil
}

// searchSpec is one search to answer: its parameters and what the URL path
// fixes besides them (a compartment, a type list, the resource $everything
// starts with).
type searchSpec struct {
	typ     string         // the searched type, "" across types
	types   []string       // the types of a search across types, when restricted
	clauses []store.Clause // criteria the path adds (a compartment)
	base    string         // the URL of the search, for the Bundle links
	params  url.Values
	strict  bool
	// lead is put first on the first page, as a match ($everything's Patient).
	lead *store.Resource
	// since is the _since of $everything, which lead must meet.
	since string
	// expand adds resources to a page of matches, at most limit (type-level
	// $everything: the compartments of the Patients), as included resources.
	expand func(ctx context.Context, matches []store.Resource, limit int) ([]store.Resource, error)
	// linkExtra are parameters the page links repeat besides the criteria.
	linkExtra url.Values
}

// searchRun is a parsed search.
type searchRun struct {
	plan     *search.Plan
	includes []search.Include
	link     url.Values // what the self link shows as applied
}

// search runs a search and encodes its searchset Bundle.
func (s *Server) search(ctx context.Context, sp searchSpec) ([]byte, error) {
	if err := s.syncAuditTrail(ctx, append([]string{sp.typ}, sp.types...)...); err != nil {
		return nil, err
	}
	run, err := s.searchPlan(ctx, sp)
	if err != nil {
		return nil, err
	}
	if ignored := run.plan.Ignored; sp.strict && len(ignored) > 0 {
		return nil, badRequest(codeNotSupported, "search parameter %q not applied (Prefer: handling=strict): %s", ignored[0].Param, ignored[0].Message)
	}
	if sp.params.Get(explainParam) == "true" {
		return s.explain(ctx, run.plan.Query, sp.params)
	}
	res, pg, err := s.searchPage(ctx, run.plan.Query, sp.params)
	if err != nil {
		return nil, err
	}
	matches := res.Resources
	if sp.lead != nil && pg.cursor == "" && pg.offset == 0 && pg.count > 0 {
		matches = append([]store.Resource{*sp.lead}, matches...)
	}
	inc, err := s.include(ctx, run.includes, matches)
	if err != nil {
		return nil, err
	}
	if sp.expand != nil && !inc.truncated {
		extra, err := sp.expand(ctx, res.Resources, inc.limit-len(inc.resources)+1)
		if err != nil {
			return nil, err
		}
		inc.add(extra)
	}

	b := newBundle("searchset")
	if res.Total >= 0 {
		total := res.Total
		if sp.lead != nil {
			total++
		}
		b.Total = &total
	}
	pageLinks(b, sp.base, run.link, pg)
	if err := s.addEntries(b, matches, "match", sp.params); err != nil {
		return nil, err
	}
	if err := s.addEntries(b, inc.resources, "include", sp.params); err != nil {
		return nil, err
	}
	if outcome := searchOutcome(run.plan.Ignored, inc.truncated, s.opts.MaxIncluded); outcome != nil {
		b.Entry = append(b.Entry, entryOut{Resource: outcome, Search: &searchOut{Mode: "outcome"}})
	}
	return b.marshal()
}

// searchPage reads the page of q that the paging parameters ask for:
// _count (0, or _summary=count: the total alone), _offset or _cursor, _total.
func (s *Server) searchPage(ctx context.Context, q store.Query, params url.Values) (*store.SearchResult, page, error) {
	pg, err := s.paging(params)
	if err != nil {
		return nil, pg, err
	}
	q.Count, q.Offset, q.Total = pg.count, pg.offset, params.Get("_total") != "none"
	if pg.cursor != "" {
		if q.Cursor, err = unwrapCursor(q, pg.cursor); err != nil {
			return nil, pg, err
		}
		q.Offset, pg.offset = 0, 0 // the cursor stands for the position
	}
	if params.Get("_summary") == "count" {
		q.Count, q.Total, pg.count = 0, true, 0
	}
	res := &store.SearchResult{Total: -1}
	if q.Count > 0 || q.Total {
		if res, err = s.store.Search(ctx, q); err != nil {
			return nil, pg, searchFailed(fmt.Sprintf("search %v", q.Types), err)
		}
	}
	pg.more, pg.next = res.More, wrapCursor(q, res.Next)
	return res, pg, nil
}

// addEntries adds resources to a searchset with their search mode, shaped
// by _summary and _elements.
func (s *Server) addEntries(b *bundleOut, resources []store.Resource, mode string, params url.Values) error {
	for i := range resources {
		r := &resources[i]
		body, err := shape(r.Body, params)
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, entryOut{
			FullURL: s.resourceURL(r.Type, r.ID), Resource: body, Search: &searchOut{Mode: mode},
		})
	}
	return nil
}

// searchPlan parses the criteria, _type, _list, _sort, _total and the
// includes of a search; what cannot be applied is in plan.Ignored.
func (s *Server) searchPlan(ctx context.Context, sp searchSpec) (*searchRun, error) {
	criteria := url.Values{}
	types := sp.types
	var lists []string
	for k, v := range sp.params {
		base, _, _ := strings.Cut(k, ":")
		switch {
		case k == "_cursor", k == explainParam, base == "_include", base == "_revinclude":
			continue
		case k == "_list":
			lists = append(lists, v...)
			continue
		case k == "_type" && sp.typ == "":
			var err error
			if types, err = s.typeParam(v, sp.types); err != nil {
				return nil, err
			}
			// The parser reads it too: parameters the listed types share are
			// read for them.
		}
		criteria[k] = v
	}
	auditIgnored := s.unsearchableAuditParams(sp.typ, criteria)
	criteria, custom := s.splitCustom(sp.typ, criteria)
	plan := s.registry.Parse(sp.typ, criteria)
	plan.Ignored = append(plan.Ignored, auditIgnored...)
	s.applyCustom(sp.typ, custom, plan)
	if len(types) > 0 {
		plan.Query.Types = types
		if _, ok := sp.params["_type"]; ok {
			plan.Applied.Set("_type", strings.Join(types, ","))
		}
	}
	plan.Query.Clauses = append(plan.Query.Clauses, sp.clauses...)
	for _, id := range lists {
		if err := s.applyList(ctx, plan, id); err != nil {
			return nil, err
		}
	}
	for _, name := range unservedParams {
		if _, ok := sp.params[name]; ok {
			plan.Ignored = append(plan.Ignored, search.Issue{Param: name, Message: "not supported by this server"})
		}
	}
	if v := sp.params.Get("_sort"); v != "" {
		keys, issues := s.registry.ParseSort(sp.typ, v)
		if sp.typ == "" && len(types) > 0 {
			keys, issues = s.registry.ParseSortAcross(types, v)
		}
		plan.Query.Sort = keys
		plan.Ignored = append(plan.Ignored, issues...)
		plan.Query.Sort, issues = unsortableAuditKeys(append([]string{sp.typ}, types...), plan.Query.Sort)
		plan.Ignored = append(plan.Ignored, issues...)
	}
	if v := sp.params.Get("_total"); v != "" && !totalModes[v] {
		plan.Ignored = append(plan.Ignored, search.Issue{Param: "_total", Message: fmt.Sprintf("%q is not none, estimate or accurate", v)})
	}
	// The token's constraints become store clauses: totals and pages never
	// count what it cannot see.
	_, typeParam := sp.params["_type"]
	if err := s.restrict(ctx, smart.Search, &plan.Query, sp.params, sp.typ != "" || typeParam); err != nil {
		return nil, err
	}
	run := &searchRun{plan: plan}
	var incApplied url.Values
	var issues []search.Issue
	run.includes, incApplied, issues = s.parseIncludes(sp.typ, sp.params)
	plan.Ignored = append(plan.Ignored, issues...)
	run.link = linkParams(plan, sp.params)
	for k, v := range incApplied {
		run.link[k] = v
	}
	for k, v := range sp.linkExtra {
		run.link[k] = v
	}
	if sort := sortParam(plan.Query.Sort); sort != "" {
		run.link.Set("_sort", sort)
	}
	if v := sp.params.Get("_total"); totalModes[v] {
		run.link.Set("_total", v)
	}
	return run, nil
}

// typeParam reads _type, keeping it within allowed when that is set.
func (s *Server) typeParam(values, allowed []string) ([]string, error) {
	var types []string
	for _, t := range strings.Split(strings.Join(values, ","), ",") {
		if !model.IsResourceType(t) {
			return nil, badRequest(codeNotSupported, "_type: unknown resource type %q", t)
		}
		if len(allowed) > 0 && !slices.Contains(allowed, t) {
			continue
		}
		types = append(types, t)
	}
	if len(types) == 0 {
		// None of the asked types can match: an impossible type list.
		types = []string{"-"}
	}
	return types, nil
}

// searchFailed is the error of a failed store search: 400 too-costly when
// the store refuses it as such (the client can narrow it), internal otherwise.
func searchFailed(what string, err error) error {
	if errors.Is(err, store.ErrTooCostly) {
		return badRequest(codeTooCostly, "%s is too costly for this server: add more selective criteria", what)
	}
	if errors.Is(err, store.ErrUnsupported) {
		return badRequest(codeNotSupported, "%s: %v", what, err)
	}
	return fmt.Errorf("fhir: %s: %w", what, err)
}

// sortParam is the _sort value of sort keys.
func sortParam(keys []store.SortKey) string {
	fields := make([]string, len(keys))
	for i, k := range keys {
		fields[i] = k.Param
		if k.Descending {
			fields[i] = "-" + k.Param
		}
	}
	return strings.Join(fields, ",")
}

// linkParams are the parameters page links repeat: the applied criteria
// and the result-control parameters that shape every page.
func linkParams(plan *search.Plan, params url.Values) url.Values {
	link := url.Values{}
	for k, v := range plan.Applied {
		link[k] = v
	}
	for _, k := range keptParams {
		if v, ok := params[k]; ok {
			link[k] = v
		}
	}
	return link
}

// searchOutcome lists the search parameters that were not applied and
// whether the included resources were cut; nil when there is nothing to say.
func searchOutcome(ignored []search.Issue, truncated bool, maxIncluded int) []byte {
	issues := make([]issue, 0, len(ignored)+1)
	for _, ig := range ignored {
		issues = append(issues, issue{
			Severity: "warning", Code: codeNotSupported,
			Diagnostics: fmt.Sprintf("search parameter %q was ignored: %s", ig.Param, ig.Message),
		})
	}
	if truncated {
		issues = append(issues, issue{
			Severity: "warning", Code: codeTooCostly,
			Diagnostics: fmt.Sprintf("_include and _revinclude were cut at %d resources on this page; ask for a smaller _count", maxIncluded),
		})
	}
	if len(issues) == 0 {
		return nil
	}
	return outcomeJSON(issues...)
}

// paging reads _count (clamped to the maximum page size), _offset and _cursor.
func (s *Server) paging(params url.Values) (page, error) {
	pg := page{count: s.opts.DefaultPageSize, cursor: params.Get("_cursor")}
	if v := params.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pg, badRequest(codeValue, "_count must be a non-negative integer, not %q", v)
		}
		pg.count = min(n, s.opts.MaxPageSize)
	}
	if v := params.Get("_offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pg, badRequest(codeValue, "_offset must be a non-negative integer, not %q", v)
		}
		pg.offset = n
	}
	return pg, nil
}

func (s *Server) historyInstance(c echo.Context) error {
	return s.answerHistory(c, c.Param("type"), c.Param("id"))
}

func (s *Server) historyType(c echo.Context) error {
	return s.answerHistory(c, c.Param("type"), "")
}

func (s *Server) historySystem(c echo.Context) error {
	return s.answerHistory(c, "", "")
}

// answerHistory answers the history of one resource, one type or the system.
func (s *Server) answerHistory(c echo.Context, typ, id string) error {
	ctx := c.Request().Context()
	if err := s.historyAllowed(ctx, typ, id); err != nil {
		return err
	}
	if err := s.syncAuditTrail(ctx, typ); err != nil {
		return err
	}
	params := c.QueryParams()
	h := store.HistoryQuery{Type: typ, ID: id}
	link := url.Values{}
	if v := params.Get("_since"); v != "" {
		low, _, err := search.DateRange(v)
		if err != nil {
			return badRequest(codeValue, "_since must be an instant, not %q", v)
		}
		h.Since = time.UnixMilli(int64(low)).UTC()
		link.Set("_since", v)
	}
	if v := params.Get("_at"); v != "" {
		low, _, err := search.DateRange(v)
		if err != nil {
			return badRequest(codeValue, "_at must be a date, not %q", v)
		}
		// The version current at the start of the period was current during it.
		h.At = time.UnixMilli(int64(low)).UTC()
		link.Set("_at", v)
	}
	pg, err := s.paging(params)
	if err != nil {
		return err
	}
	// History pages by offset only; the store reads a zero Count as "no
	// limit", so a page holds at least one version.
	pg.cursor = ""
	pg.count = max(pg.count, 1)
	h.Count, h.Offset = pg.count, pg.offset
	res, err := s.store.History(ctx, h)
	if err != nil {
		return fmt.Errorf("fhir: history %s/%s: %w", typ, id, err)
	}
	if id != "" && res.Total == 0 {
		if _, err := s.readVersion(ctx, typ, id, ""); err != nil && !isGone(err) {
			return err
		}
	}
	b := newBundle("history")
	total := res.Total
	b.Total = &total
	base := s.opts.BaseURL
	switch {
	case id != "":
		base += "/" + typ + "/" + id + "/_history"
	case typ != "":
		base += "/" + typ + "/_history"
	default:
		base += "/_history"
	}
	pg.more = res.More
	pageLinks(b, base, link, pg)
	for i := range res.Versions {
		b.Entry = append(b.Entry, s.historyEntry(&res.Versions[i]))
	}
	body, err := b.marshal()
	if err != nil {
		return err
	}
	return send(c, http.StatusOK, body)
}

func isGone(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.status == http.StatusGone
}
