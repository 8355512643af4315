package mongo

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// Search returns one page of the current, non-deleted resources matching q.
// The total counts every match; the page starts after q.Cursor when set.
func (s *Store) Search(ctx context.Context, q store.Query) (*store.SearchResult, error) {
	if q.Cursor != "" && q.Offset != 0 {
		return nil, fmt.Errorf("store: mongo: search: offset %d with a cursor", q.Offset)
	}
	filter, err := s.newPlanner().searchFilter(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: mongo: search: %w", err)
	}
	result := &store.SearchResult{Total: -1}
	if q.Total {
		n, err := s.resources.CountDocuments(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("store: mongo: search: count: %w", err)
		}
		result.Total = int(n)
		result.More = q.Count <= 0 && result.Total > max(q.Offset, 0)
	}
	if q.Count <= 0 {
		return result, nil
	}

	order := searchOrder(q.Sort)
	if q.Cursor != "" {
		after, err := decodeCursor(q, order)
		if err != nil {
			return nil, fmt.Errorf("store: mongo: search: %w", err)
		}
		filter = bson.D{{Key: "$and", Value: bson.A{filter, after}}}
	}
	opts := options.Find().SetSort(order.sort()).SetSkip(int64(max(q.Offset, 0))).
		SetLimit(int64(q.Count) + 1).SetProjection(order.projection())
	cursor, err := s.resources.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("store: mongo: search: %w", err)
	}
	var docs []bson.Raw
	if err := cursor.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: mongo: search: read results: %w", err)
	}
	if len(docs) > q.Count {
		docs, result.More = docs[:q.Count], true
	}
	result.Resources = make([]store.Resource, len(docs))
	for i, raw := range docs {
		var d resourceDoc
		if err := bson.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("store: mongo: search: decode result: %w", err)
		}
		result.Resources[i] = d.resource()
	}
	if result.More && len(docs) > 0 {
		if result.Next, err = encodeCursor(q, order, docs[len(docs)-1]); err != nil {
			return nil, fmt.Errorf("store: mongo: search: %w", err)
		}
	}
	return result, nil
}

// searchFilter turns q into a filter on resources: every clause must hold,
// and a clause holds when any of its conditions does.
func (p *planner) searchFilter(ctx context.Context, q store.Query) (bson.D, error) {
	and := bson.A{bson.D{{Key: "d", Value: false}}}
	if t := typeFilter(q.Types); t != nil {
		and = append(and, t)
	}
	for _, clause := range q.Clauses {
		var anyOf bson.A
		for _, c := range clause.Any {
			f, err := p.conditionFilter(ctx, c, q.Types)
			if err != nil {
				return nil, err
			}
			anyOf = append(anyOf, f)
		}
		switch len(anyOf) {
		case 0:
		case 1:
			and = append(and, anyOf[0])
		default:
			and = append(and, bson.D{{Key: "$or", Value: anyOf}})
		}
	}
	return bson.D{{Key: "$and", Value: and}}, nil
}

// typeFilter restricts to the given types; nil for all types.
func typeFilter(types []string) bson.D {
	switch len(types) {
	case 0:
		return nil
	case 1:
		return bson.D{{Key: "t", Value: types[0]}}
	}
	return bson.D{{Key: "t", Value: bson.D{{Key: "$in", Value: types}}}}
}

// conditionFilter is the filter on resources of one condition.
func (p *planner) conditionFilter(ctx context.Context, c store.Condition, types []string) (bson.D, error) {
	f, err := p.positiveFilter(ctx, c, types)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", conditionName(c), err)
	}
	if c.Not {
		return bson.D{{Key: "$nor", Value: bson.A{f}}}, nil
	}
	return f, nil
}

// conditionName names a condition in errors.
func conditionName(c store.Condition) string {
	switch {
	case c.Chain != nil:
		return c.Param + " (chained)"
	case c.Has != nil:
		return "_has:" + c.Has.Param
	}
	return fmt.Sprintf("%s:%s", c.Param, c.Op)
}

func (p *planner) positiveFilter(ctx context.Context, c store.Condition, types []string) (bson.D, error) {
	switch {
	case c.Chain != nil:
		return p.chainFilter(ctx, c.Param, *c.Chain)
	case c.Has != nil:
		return p.reverseChainFilter(ctx, *c.Has)
	case c.Op == store.OpMissing:
		return missingFilter(c)
	case c.Param == store.ParamID:
		return textFilter("i", "", c.Op, c.Text)
	case c.Param == store.ParamLastUpdated:
		return rangeFilter("lu", "lu1", c.Op, c.Low, c.High)
	case isTextOp(c.Op):
		return textFilter("tx", c.Param+textSep, c.Op, c.Text)
	}
	return p.rangeEntriesFilter(ctx, c, types)
}

func isTextOp(op store.Op) bool {
	return op == store.OpExact || op == store.OpPrefix || op == store.OpContains
}

// textFilter matches field (a string or an array of strings) against
// prefix+text: equality, or an anchored regular expression, which MongoDB
// answers from an index range on the fixed prefix.
func textFilter(field, prefix string, op store.Op, text string) (bson.D, error) {
	var pattern string
	switch op {
	case store.OpExact:
		return bson.D{{Key: field, Value: prefix + text}}, nil
	case store.OpPrefix:
		pattern = "^" + regexp.QuoteMeta(prefix+text)
	case store.OpContains:
		pattern = "^" + regexp.QuoteMeta(prefix) + `[\s\S]*` + regexp.QuoteMeta(text)
	default:
		return nil, fmt.Errorf("operator not supported on text")
	}
	return bson.D{{Key: field, Value: bson.D{{Key: "$regex", Value: pattern}}}}, nil
}

// missingFilter: Text "true" wants no entry for the param, "false" at least one.
// The special parameters are never missing: every resource has an id and a
// lastUpdated.
func missingFilter(c store.Condition) (bson.D, error) {
	want, err := c.MissingWanted()
	switch {
	case err != nil:
		return nil, err
	case c.Param == store.ParamID || c.Param == store.ParamLastUpdated:
		if want {
			return bson.D{{Key: "_id", Value: bson.D{{Key: "$exists", Value: false}}}}, nil
		}
		return bson.D{}, nil
	case want:
		return bson.D{{Key: "ps", Value: bson.D{{Key: "$ne", Value: c.Param}}}}, nil
	}
	return bson.D{{Key: "ps", Value: c.Param}}, nil
}

// rangeEntriesFilter asks ranges for the versions with a matching entry and
// matches resources on their version key (see the package comment). The
// keys travel inside the filter, so they count against the planner's budget.
func (p *planner) rangeEntriesFilter(ctx context.Context, c store.Condition, types []string) (bson.D, error) {
	bounds, err := rangeFilter("lo", "hi", c.Op, c.Low, c.High)
	if err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "p", Value: c.Param}}
	if t := typeFilter(types); t != nil {
		filter = append(filter, t...)
	}
	if c.Text != "" {
		text, _ := textFilter("x", "", c.RangeTextOp(), c.Text)
		filter = append(filter, text...)
	}
	filter = append(filter, bounds...)
	// A find read in batches rather than distinct, whose single reply
	// would hit the 16 MB limit before the budget does.
	cursor, err := p.s.ranges.Find(ctx, filter, options.Find().
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "vk", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find range entries: %w", err)
	}
	defer cursor.Close(ctx)
	seen := map[string]bool{}
	keys := []string{}
	for cursor.Next(ctx) {
		vk, ok := cursor.Current.Lookup("vk").StringValueOK()
		if !ok || seen[vk] {
			continue
		}
		if err := p.spend(1, "a range condition"); err != nil {
			return nil, err
		}
		seen[vk] = true
		keys = append(keys, vk)
	}
	if err := cursor.Err(); err != nil {
		return nil, fmt.Errorf("find range entries: %w", err)
	}
	return bson.D{{Key: "vk", Value: bson.D{{Key: "$in", Value: keys}}}}, nil
}

// rangeFilter compares the range [lo, hi) held in two fields with [low, high),
// as the store.Op constants define.
func rangeFilter(lo, hi string, op store.Op, low, high float64) (bson.D, error) {
	cmp := func(field, operator string, v float64) bson.D {
		return bson.D{{Key: field, Value: bson.D{{Key: operator, Value: v}}}}
	}
	switch op {
	case store.OpEq:
		return append(cmp(lo, "$gte", low), cmp(hi, "$lte", high)...), nil
	case store.OpNe:
		return bson.D{{Key: "$or", Value: bson.A{cmp(lo, "$lt", low), cmp(hi, "$gt", high)}}}, nil
	case store.OpGt:
		return cmp(hi, "$gt", high), nil
	case store.OpLt:
		return cmp(lo, "$lt", low), nil
	case store.OpGe:
		return cmp(hi, "$gt", low), nil
	case store.OpLe:
		return cmp(lo, "$lt", high), nil
	case store.OpSa:
		return cmp(lo, "$gte", high), nil
	case store.OpEb:
		return cmp(hi, "$lte", low), nil
	case store.OpOverlap:
		return append(cmp(lo, "$lt", high), cmp(hi, "$gt", low)...), nil
	}
	return nil, fmt.Errorf("operator not supported on ranges")
}
