package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
)

// maxResolved bounds the resources a chain or reverse chain crossing
// between the trail and the store may name: beyond it the search is
// refused as too costly.
const maxResolved = 10000

// trailStore is the store of the embedded deployment with a trail: every
// AuditEvent is in the trail, every other resource in the store it wraps.
type trailStore struct {
	store.Store
	trail *Trail
	// others is every resource type but AuditEvent: a search of all types
	// asks the wrapped store for these.
	others []string
	// legacy is how many AuditEvent versions the wrapped store holds from
	// before the trail (copied into it): its system history skips them.
	legacy int
	// creating serialises the creation of AuditEvents through the API, so
	// that two creations of one id cannot both succeed.
	creating sync.Mutex
}

// WithTrail returns st with its AuditEvents kept in trail: reads,
// searches, history and creations of AuditEvent go to the trail, the rest
// to st, and searches that cross (chains, _has, several types) are split
// between them. AuditEvents st holds from before are copied into the
// trail the first time (see "Data from before the trail" in the package
// documentation). st must implement store.Records.
func WithTrail(ctx context.Context, st store.Store, trail *Trail) (store.Store, error) {
	records, ok := store.As[store.Records](st)
	if !ok {
		return nil, fmt.Errorf("audit: store %T keeps no records: the trail needs store.Records", st)
	}
	others := slices.DeleteFunc(model.ResourceTypes(), func(t string) bool { return t == resourceType })
	s := &trailStore{Store: st, trail: trail, others: others}
	legacy, err := migrate(ctx, st, records, trail)
	if err != nil {
		return nil, err
	}
	s.legacy = legacy
	return s, nil
}

// Unwrap gives access to the wrapped store's optional interfaces (records…).
func (s *trailStore) Unwrap() store.Store { return s.Store }

func (s *trailStore) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	if typ == resourceType {
		return s.trail.Read(ctx, id)
	}
	return s.Store.Read(ctx, typ, id)
}

func (s *trailStore) VRead(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	if typ == resourceType {
		return s.trail.VRead(ctx, id, version)
	}
	return s.Store.VRead(ctx, typ, id, version)
}

// Commit appends the creations of AuditEvents to the trail and commits
// the other writes to the wrapped store. A commit holding both is not
// atomic across them: the store's part is committed first, and the
// trail's appended once it succeeded.
func (s *trailStore) Commit(ctx context.Context, writes []store.Write) error {
	var events []TrailEvent
	var others []store.Write
	for _, w := range writes {
		if w.Type != resourceType {
			others = append(others, w)
			continue
		}
		if w.Version != 1 || w.Deleted {
			return fmt.Errorf("AuditEvent/%s: the audit trail is append-only: %w", w.ID, store.ErrConflict)
		}
		events = append(events, TrailEvent{ID: w.ID, LastUpdated: w.LastUpdated, Body: w.Body, Index: w.Index})
	}
	if len(others) > 0 {
		if err := s.Store.Commit(ctx, others); err != nil {
			return err
		}
	}
	if len(events) == 0 {
		return nil
	}
	s.creating.Lock()
	defer s.creating.Unlock()
	for _, e := range events {
		_, err := s.trail.Read(ctx, e.ID)
		if err == nil {
			return fmt.Errorf("AuditEvent/%s exists: %w", e.ID, store.ErrConflict)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.trail.Append(events)
}

// Reindex leaves AuditEvents as they are: the trail indexes an event once,
// when it is appended (the recorder's events for the parameters of
// Searchable).
func (s *trailStore) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) error {
	if typ == resourceType {
		return nil
	}
	return s.Store.Reindex(ctx, typ, id, version, index)
}

func (s *trailStore) Search(ctx context.Context, q store.Query) (*store.SearchResult, error) {
	onTrail, others := s.split(q.Types)
	switch {
	case !onTrail:
		q.Types = others
		resolved, err := s.resolveStoreQuery(ctx, q)
		if err != nil {
			return nil, err
		}
		return s.Store.Search(ctx, resolved)
	case len(others) == 0:
		resolved, err := s.resolveTrailQuery(ctx, q)
		if err != nil {
			return nil, err
		}
		return s.trail.Search(ctx, resolved)
	}
	return s.searchBoth(ctx, q, others)
}

// split tells whether types include AuditEvent and which others they name
// (all types but AuditEvent for none).
func (s *trailStore) split(types []string) (onTrail bool, others []string) {
	if len(types) == 0 {
		return true, s.others
	}
	others = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == resourceType })
	return len(others) < len(types), others
}

// searchBoth answers a search of AuditEvent and other types: the store's
// matches first, then the trail's. Such a search cannot be sorted (the
// two orders do not merge without the index values); it pages by offset
// or by a cursor that says which part it is in.
func (s *trailStore) searchBoth(ctx context.Context, q store.Query, others []string) (*store.SearchResult, error) {
	if len(q.Sort) > 0 {
		return nil, fmt.Errorf("a search of AuditEvent with other types cannot be sorted on this server: %w", store.ErrUnsupported)
	}
	sq, err := s.resolveStoreQuery(ctx, store.Query{Types: others, Clauses: q.Clauses})
	if err != nil {
		return nil, err
	}
	tq, err := s.resolveTrailQuery(ctx, store.Query{Types: []string{resourceType}, Clauses: q.Clauses})
	if err != nil {
		return nil, err
	}
	res := &store.SearchResult{Total: -1}
	if q.Total || q.Count == 0 || q.Offset > 0 {
		// The part before the trail's is counted to offset into the trail.
		st, err := s.Store.Search(ctx, store.Query{Types: sq.Types, Clauses: sq.Clauses, Total: true})
		if err != nil {
			return nil, err
		}
		tt, err := s.trail.Search(ctx, store.Query{Types: tq.Types, Clauses: tq.Clauses, Total: true})
		if err != nil {
			return nil, err
		}
		if q.Total || q.Count == 0 {
			res.Total = st.Total + tt.Total
		}
		if q.Count == 0 {
			return res, nil
		}
		if q.Offset >= st.Total {
			tq.Offset = q.Offset - st.Total
			return s.trailPart(ctx, res, tq, q.Count)
		}
	}
	part, cursor, _ := strings.Cut(q.Cursor, ":")
	if part == "trail" {
		tq.Cursor = cursor
		return s.trailPart(ctx, res, tq, q.Count)
	}
	sq.Count, sq.Offset, sq.Cursor = q.Count, q.Offset, cursor
	sr, err := s.Store.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	res.Resources = sr.Resources
	if sr.More {
		res.More, res.Next = true, "store:"+sr.Next
		return res, nil
	}
	if rest := q.Count - len(res.Resources); rest > 0 {
		return s.trailPart(ctx, res, tq, rest)
	}
	// The page is full: more follows if the trail has any match.
	tt, err := s.trail.Search(ctx, store.Query{Types: tq.Types, Clauses: tq.Clauses, Count: 1})
	if err != nil {
		return nil, err
	}
	if len(tt.Resources) > 0 {
		res.More, res.Next = true, "trail:"
	}
	return res, nil
}

// trailPart fills res with up to count of the trail's matches of tq.
func (s *trailStore) trailPart(ctx context.Context, res *store.SearchResult, tq store.Query, count int) (*store.SearchResult, error) {
	tq.Count = count
	tr, err := s.trail.Search(ctx, tq)
	if err != nil {
		return nil, err
	}
	res.Resources = append(res.Resources, tr.Resources...)
	if tr.More {
		res.More, res.Next = true, "trail:"+tr.Next
	}
	return res, nil
}

// resolveTrailQuery turns the chains of a trail search (the events'
// references to resources matching a search, anywhere) into the
// references themselves. A reverse chain to AuditEvent is refused.
func (s *trailStore) resolveTrailQuery(ctx context.Context, q store.Query) (store.Query, error) {
	return s.rewrite(ctx, q, func(c store.Condition) (resolved, error) {
		switch {
		case c.Chain != nil:
			return crossing(s.chainAlternatives(ctx, c))
		case c.Has != nil:
			return resolved{}, fmt.Errorf("_has on AuditEvent is not supported on this server: %w", store.ErrUnsupported)
		}
		return resolved{}, nil
	})
}

// resolveStoreQuery turns the parts of a store search that concern
// AuditEvent into plain conditions: a chain to AuditEvent into the
// references of the matching events, a reverse chain from AuditEvent into
// the ids the matching events reference. Nested searches the store runs
// itself are resolved in turn.
func (s *trailStore) resolveStoreQuery(ctx context.Context, q store.Query) (store.Query, error) {
	return s.rewrite(ctx, q, func(c store.Condition) (resolved, error) {
		switch {
		case c.Chain != nil && slices.Contains(c.Chain.Types, resourceType):
			return crossing(s.chainAlternatives(ctx, c))
		case c.Chain != nil:
			nested, err := s.resolveStoreQuery(ctx, *c.Chain)
			c.Chain = &nested
			return resolved{alternatives: []store.Condition{c}}, err
		case c.Has != nil && slices.Contains(c.Has.Query.Types, resourceType):
			ids, err := s.referencedIDs(ctx, *c.Has, q.Types)
			return crossing(exactAlternatives(store.ParamID, ids), err)
		case c.Has != nil:
			nested, err := s.resolveStoreQuery(ctx, c.Has.Query)
			c.Has = &store.Reverse{Param: c.Has.Param, Query: nested}
			return resolved{alternatives: []store.Condition{c}}, err
		}
		return resolved{}, nil
	})
}

// rewrite copies q with each condition that resolve rewrites replaced by
// its alternatives (in the same clause: any of them holds). A negated
// condition cannot be rewritten into alternatives.
func (s *trailStore) rewrite(ctx context.Context, q store.Query, resolve resolver) (store.Query, error) {
	out := q
	out.Clauses = make([]store.Clause, len(q.Clauses))
	for i, cl := range q.Clauses {
		var conditions []store.Condition
		for _, c := range cl.Any {
			r, err := resolve(c)
			if err != nil {
				return q, err
			}
			switch {
			case r.alternatives == nil:
				conditions = append(conditions, c)
			case r.crossed && c.Not:
				return q, fmt.Errorf("%s: a negated chain between AuditEvent and other resources is not supported: %w", c.Param, store.ErrUnsupported)
			default:
				conditions = append(conditions, r.alternatives...)
			}
		}
		out.Clauses[i] = store.Clause{Any: conditions}
	}
	return out, ctx.Err()
}

// A resolver rewrites one condition: into alternatives (nil: kept as it
// is), crossed when they replace a chain between the trail and the store.
type resolver func(store.Condition) (resolved, error)

type resolved struct {
	alternatives []store.Condition
	crossed      bool
}

func crossing(alternatives []store.Condition, err error) (resolved, error) {
	return resolved{alternatives: alternatives, crossed: true}, err
}

// nothing is a condition no resource matches: what a chain resolves to
// when no resource matches it.
var nothing = store.Condition{Param: store.ParamID, Op: store.OpExact, Text: ""}

func exactAlternatives(param string, values []string) []store.Condition {
	if len(values) == 0 {
		return []store.Condition{nothing}
	}
	out := make([]store.Condition, len(values))
	for i, v := range values {
		out[i] = store.Condition{Param: param, Op: store.OpExact, Text: v}
	}
	return out
}

// chainAlternatives resolves chained condition c into its references.
func (s *trailStore) chainAlternatives(ctx context.Context, c store.Condition) ([]store.Condition, error) {
	refs, err := s.matchingRefs(ctx, *c.Chain)
	return exactAlternatives(c.Param, refs), err
}

// matchingRefs returns "Type/id" of the resources matching q.
func (s *trailStore) matchingRefs(ctx context.Context, q store.Query) ([]string, error) {
	q.Count, q.Offset, q.Cursor, q.Sort, q.Total = maxResolved+1, 0, "", nil, false
	res, err := s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(res.Resources) > maxResolved {
		return nil, fmt.Errorf("a chain matches more than %d resources: %w", maxResolved, store.ErrTooCostly)
	}
	refs := make([]string, len(res.Resources))
	for i, r := range res.Resources {
		refs[i] = r.Type + "/" + r.ID
	}
	return refs, nil
}

// referencedIDs returns the ids, among resources of types (any type when
// empty), that the events matching has.Query reference through has.Param.
func (s *trailStore) referencedIDs(ctx context.Context, has store.Reverse, types []string) ([]string, error) {
	q, err := s.resolveTrailQuery(ctx, has.Query)
	if err != nil {
		return nil, err
	}
	refs, err := s.trail.referenced(q, has.Param, maxResolved+1)
	if err != nil {
		return nil, err
	}
	if len(refs) > maxResolved {
		return nil, fmt.Errorf("a reverse chain names more than %d resources: %w", maxResolved, store.ErrTooCostly)
	}
	var ids []string
	for _, ref := range refs {
		typ, id, ok := strings.Cut(ref, "/")
		if ok && (len(types) == 0 || slices.Contains(types, typ)) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// History answers the history of AuditEvents from the trail, and the
// system's by merging the store's (without its AuditEvents from before
// the trail) with the trail's, newest first.
func (s *trailStore) History(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	switch h.Type {
	case resourceType:
		return s.trail.History(ctx, h)
	case "":
	default:
		return s.Store.History(ctx, h)
	}
	if h.Count <= 0 {
		return nil, fmt.Errorf("a system history without a page size is not supported with the audit trail: %w", store.ErrUnsupported)
	}
	want := h.Offset + h.Count
	sh := h
	sh.Offset, sh.Count = 0, want+s.legacy
	sr, err := s.Store.History(ctx, sh)
	if err != nil {
		return nil, err
	}
	th := h
	th.Offset, th.Count = 0, want
	tr, err := s.trail.History(ctx, th)
	if err != nil {
		return nil, err
	}
	storeVersions := slices.DeleteFunc(sr.Versions, func(r store.Resource) bool { return r.Type == resourceType })
	merged := mergeNewestFirst(storeVersions, tr.Versions)
	out := &store.HistoryResult{Total: sr.Total - s.legacy + tr.Total}
	merged = merged[min(h.Offset, len(merged)):]
	if len(merged) > h.Count {
		merged = merged[:h.Count]
	}
	out.Versions = merged
	out.More = h.Offset+len(merged) < out.Total
	return out, nil
}

// mergeNewestFirst merges two lists of versions each newest first.
func mergeNewestFirst(a, b []store.Resource) []store.Resource {
	out := make([]store.Resource, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].LastUpdated.After(a[0].LastUpdated) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Explain shows how a search would run: on the trail for AuditEvent (its
// blocks' postings), and as the wrapped store explains it otherwise.
func (s *trailStore) Explain(ctx context.Context, q store.Query) (string, error) {
	onTrail, others := s.split(q.Types)
	plan := ""
	if onTrail {
		plan = fmt.Sprintf("AuditEvent: the audit trail, %d events: per block, the union of the postings of each clause's values, intersected across clauses", s.trail.Len())
		if len(others) == 0 {
			return plan, nil
		}
		plan += "; then the other types: "
	}
	ex, ok := store.As[store.Explainer](s.Store)
	if !ok {
		return plan + "the store does not explain its searches", nil
	}
	q.Types = others
	resolved, err := s.resolveStoreQuery(ctx, q)
	if err != nil {
		return "", err
	}
	inner, err := ex.Explain(ctx, resolved)
	return plan + inner, err
}
