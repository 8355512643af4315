package mongo

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// ErrTooManyMatches is returned by a search whose plan would carry more
// values to the server than the store allows: a chained or reverse-chained
// sub-query matching more than Limits.SubQuery resources, or range
// conditions and sub-queries matching more than 100,000 keys in all.
// The search is refused rather than sent as a huge query (MongoDB refuses
// commands over 16 MB); a more selective condition is the remedy.
var ErrTooManyMatches = fmt.Errorf("%w: mongo: search matches too many resources to plan; add a more selective condition", store.ErrTooCostly)

// limits bound what one search may carry from its first queries (range
// entries, chained and reverse-chained sub-queries) into the final one.
type limits struct {
	// SubQuery is the most resources a chained or _has sub-query may match.
	SubQuery int
	// InValues is the most keys (version keys, references) a whole search
	// may carry; 100,000 keys of about 80 bytes stay well under 16 MB.
	InValues int
}

// defaultLimits are the limits a store opens with.
func defaultLimits() limits { return limits{SubQuery: 10_000, InValues: 100_000} }

// planner builds the filter of one search, running the sub-queries its
// conditions need and keeping count of the keys they put into it.
type planner struct {
	s      *Store
	limits limits
	spent  int
}

func (s *Store) newPlanner() *planner { return &planner{s: s, limits: s.limits} }

// spend accounts for n more keys carried into the filter by what.
func (p *planner) spend(n int, what string) error {
	p.spent += n
	if p.spent > p.limits.InValues {
		return fmt.Errorf("%s: more than %d keys: %w", what, p.limits.InValues, ErrTooManyMatches)
	}
	return nil
}

// chainFilter matches resources with a reference entry for param that names
// a current resource matching sub (param:Type.chained=value). The targets
// are found first, then matched as "param\x1fType/id" text entries.
func (p *planner) chainFilter(ctx context.Context, param string, sub store.Query) (bson.D, error) {
	docs, err := p.subQuery(ctx, sub, bson.D{{Key: "_id", Value: 1}}, "chained search")
	if err != nil {
		return nil, err
	}
	refs := make([]string, 0, len(docs))
	for _, d := range docs {
		if key, ok := d.Lookup("_id").StringValueOK(); ok {
			refs = append(refs, textValue(param, key))
		}
	}
	if err := p.spend(len(refs), "chained search"); err != nil {
		return nil, err
	}
	return bson.D{{Key: "tx", Value: bson.D{{Key: "$in", Value: refs}}}}, nil
}

// reverseChainFilter matches resources that a current resource matching
// has.Query references through its has.Param entries (_has). The
// referencing resources are found first; the "Type/id" of their references
// are then matched as resource keys.
func (p *planner) reverseChainFilter(ctx context.Context, has store.Reverse) (bson.D, error) {
	sub := has.Query
	sub.Clauses = append(append([]store.Clause{}, sub.Clauses...),
		store.Clause{Any: []store.Condition{{Param: has.Param, Op: store.OpMissing, Text: "false"}}})
	docs, err := p.subQuery(ctx, sub, bson.D{{Key: "_id", Value: 0}, {Key: "tx", Value: 1}}, "_has")
	if err != nil {
		return nil, err
	}
	prefix := has.Param + textSep
	seen := map[string]bool{}
	targets := []string{}
	for _, d := range docs {
		values, _ := d.Lookup("tx").ArrayOK()
		elems, _ := values.Values()
		for _, v := range elems {
			text, ok := v.StringValueOK()
			target, found := strings.CutPrefix(text, prefix)
			if !ok || !found || seen[target] {
				continue
			}
			seen[target] = true
			targets = append(targets, target)
		}
	}
	if err := p.spend(len(targets), "_has"); err != nil {
		return nil, err
	}
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: targets}}}}, nil
}

// subQuery runs the sub-query of a chain or _has, nested conditions
// included, and returns the projected documents of its matches: at most
// limits.SubQuery of them, or ErrTooManyMatches.
func (p *planner) subQuery(ctx context.Context, q store.Query, projection bson.D, what string) ([]bson.Raw, error) {
	filter, err := p.searchFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	limit := p.limits.SubQuery
	cursor, err := p.s.resources.Find(ctx, filter,
		options.Find().SetProjection(projection).SetLimit(int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var docs []bson.Raw
	if err := cursor.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(docs) > limit {
		return nil, fmt.Errorf("%s matches more than %d resources: %w", what, limit, ErrTooManyMatches)
	}
	return docs, nil
}
