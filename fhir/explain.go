package fhir

import (
	"context"
	"fmt"
	"net/url"

	"github.com/telehub/telehub/store"
)

// explainParam asks for the plan of a search instead of its results: an
// OperationOutcome whose informational issue holds the criteria as the
// store received them (the token's restrictions included) and the store's
// own plan. The search is not run; nothing of the data is shown.
const explainParam = "_explain"

func (s *Server) explain(ctx context.Context, q store.Query, params url.Values) ([]byte, error) {
	ex, ok := store.As[store.Explainer](s.store)
	if !ok {
		return nil, badRequest(codeNotSupported, "%s: this store cannot explain its searches", explainParam)
	}
	pg, err := s.paging(params)
	if err != nil {
		return nil, err
	}
	q.Count, q.Offset, q.Total = pg.count, pg.offset, params.Get("_total") != "none"
	if params.Get("_summary") == "count" {
		q.Count, q.Total = 0, true
	}
	plan, err := ex.Explain(ctx, q)
	if err != nil {
		return nil, searchFailed("explain", err)
	}
	return outcomeJSON(issue{Severity: "information", Code: codeInformation,
		Diagnostics: fmt.Sprintf("plan of the search over %v:\n%s", typesOrAll(q.Types), plan)}), nil
}

func typesOrAll(types []string) any {
	if len(types) == 0 {
		return "every type"
	}
	return types
}
