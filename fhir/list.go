package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// applyList restricts a search to the resources List/id's entries
// reference (_list=id): the List is read and its items become _id
// conditions, and for a search across types, the types. A List that does
// not exist, or is deleted, matches nothing; the functional lists
// ($current-allergies, ...) are not supported and reported as ignored.
func (s *Server) applyList(ctx context.Context, plan *search.Plan, id string) error {
	if !validID(id) {
		plan.Ignored = append(plan.Ignored, search.Issue{Param: "_list", Message: fmt.Sprintf("%q is not a List id", id)})
		return nil
	}
	refs, err := s.listItems(ctx, id)
	if err != nil {
		return err
	}
	var clause store.Clause
	types := plan.Query.Types
	var listTypes []string
	for _, ref := range refs {
		typ, rid, _ := strings.Cut(ref, "/")
		if len(types) > 0 && !slices.Contains(types, typ) {
			continue
		}
		clause.Any = append(clause.Any, store.Condition{Param: store.ParamID, Op: store.OpExact, Text: rid})
		if !slices.Contains(listTypes, typ) {
			listTypes = append(listTypes, typ)
		}
	}
	if len(clause.Any) == 0 {
		clause.Any = []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: "\x00"}}
	}
	if len(types) == 0 {
		// Across types, an id alone could name a resource of another type.
		slices.Sort(listTypes)
		plan.Query.Types = append(listTypes, "-")
	}
	plan.Query.Clauses = append(plan.Query.Clauses, clause)
	plan.Applied.Add("_list", id)
	return nil
}

// listItems returns the "Type/id" references of a List's entries.
func (s *Server) listItems(ctx context.Context, id string) ([]string, error) {
	// A List the token may not read is as good as absent: its items are
	// not revealed through the search.
	var ae *apiError
	if err := s.checkVisible(ctx, smart.Read, "List", id); errors.As(err, &ae) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	res, err := s.store.Read(ctx, "List", id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fhir: _list: read List/%s: %w", id, err)
	}
	if res.Deleted {
		return nil, nil
	}
	var list struct {
		Entry []struct {
			Item struct {
				Reference string `json:"reference"`
			} `json:"item"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &list); err != nil {
		return nil, fmt.Errorf("fhir: _list: decode List/%s: %w", id, err)
	}
	var refs []string
	for _, e := range list.Entry {
		ref := strings.TrimPrefix(e.Item.Reference, s.opts.BaseURL+"/")
		typ, rid, ok := strings.Cut(ref, "/")
		if ok && model.IsResourceType(typ) && validID(rid) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}
