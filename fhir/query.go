package fhir

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// unservedParams are result-control parameters the parser leaves to the
// caller and this server does not implement yet: reported as ignored.
var unservedParams = []string{"_include", "_revinclude", "_contained", "_containedType"}

// keptParams are the result-control parameters page links carry over.
var keptParams = []string{"_summary", "_elements", "_sort", "_total"}

func (s *Server) searchType(c echo.Context) error {
	return s.answerSearch(c, c.Param("type"))
}

func (s *Server) searchSystem(c echo.Context) error {
	return s.answerSearch(c, "")
}

func (s *Server) answerSearch(c echo.Context, typ string) error {
	params, err := s.searchParams(c)
	if err != nil {
		return err
	}
	body, err := s.search(c.Request().Context(), typ, params, parsePrefer(c.Request().Header).strict)
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

// search runs a type (typ set) or system search and encodes its searchset Bundle.
func (s *Server) search(ctx context.Context, typ string, params url.Values, strict bool) ([]byte, error) {
	plan, err := s.searchPlan(typ, params)
	if err != nil {
		return nil, err
	}
	if strict && len(plan.Ignored) > 0 {
		ig := plan.Ignored[0]
		return nil, badRequest(codeNotSupported, "search parameter %q not applied (Prefer: handling=strict): %s", ig.Param, ig.Message)
	}
	pg, err := s.paging(params)
	if err != nil {
		return nil, err
	}
	q := plan.Query
	q.Count, q.Offset, q.Cursor, q.Total = pg.count, pg.offset, pg.cursor, params.Get("_total") != "none"
	if pg.cursor != "" {
		q.Offset = 0 // the cursor already stands for the offset
	}
	if params.Get("_summary") == "count" {
		q.Count, q.Total, pg.count = 0, true, 0
	}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("fhir: search %s: %w", typ, err)
	}
	pg.more, pg.next = res.More, res.Next

	b := newBundle("searchset")
	if res.Total >= 0 {
		total := res.Total
		b.Total = &total
	}
	base := s.opts.BaseURL
	if typ != "" {
		base += "/" + typ
	}
	pageLinks(b, base, linkParams(plan, params), pg)
	for i := range res.Resources {
		r := &res.Resources[i]
		body, err := shape(r.Body, params)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, entryOut{
			FullURL: s.resourceURL(r.Type, r.ID), Resource: body, Search: &searchOut{Mode: "match"},
		})
	}
	if len(plan.Ignored) > 0 {
		b.Entry = append(b.Entry, entryOut{Resource: ignoredOutcome(plan.Ignored), Search: &searchOut{Mode: "outcome"}})
	}
	return b.marshal()
}

// searchPlan parses the criteria, _type and _sort of a search; what cannot
// be applied is in plan.Ignored.
func (s *Server) searchPlan(typ string, params url.Values) (*search.Plan, error) {
	criteria := url.Values{}
	var types []string
	for k, v := range params {
		switch {
		case k == "_cursor":
			continue
		case k == "_type" && typ == "":
			for _, t := range strings.Split(strings.Join(v, ","), ",") {
				if !model.IsResourceType(t) {
					return nil, badRequest(codeNotSupported, "_type: unknown resource type %q", t)
				}
				types = append(types, t)
			}
			continue
		}
		criteria[k] = v
	}
	plan := search.Parse(typ, criteria)
	if len(types) > 0 {
		plan.Query.Types = types
		plan.Applied.Set("_type", strings.Join(types, ","))
	}
	for _, name := range unservedParams {
		if _, ok := params[name]; ok {
			plan.Ignored = append(plan.Ignored, search.Issue{Param: name, Message: "not supported by this server"})
		}
	}
	if v := params.Get("_sort"); v != "" {
		keys, issues := search.ParseSort(typ, v)
		plan.Query.Sort = keys
		plan.Ignored = append(plan.Ignored, issues...)
	}
	return plan, nil
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

// ignoredOutcome lists the search parameters that were not applied.
func ignoredOutcome(ignored []search.Issue) []byte {
	issues := make([]issue, 0, len(ignored))
	for _, ig := range ignored {
		issues = append(issues, issue{
			Severity: "warning", Code: codeNotSupported,
			Diagnostics: fmt.Sprintf("search parameter %q was ignored: %s", ig.Param, ig.Message),
		})
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
