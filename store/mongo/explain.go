package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/telehub/telehub/store"
)

// Explain shows how Search would run q: the filter and sort it sends (the
// chains and _has already resolved to id lists, as Search resolves them)
// and the server's own explain of that find.
func (s *Store) Explain(ctx context.Context, q store.Query) (string, error) {
	filter, err := s.newPlanner().searchFilter(ctx, q)
	if err != nil {
		return "", fmt.Errorf("store: mongo: explain: %w", err)
	}
	order := searchOrder(q.Sort)
	find := bson.D{{Key: "find", Value: s.resources.Name()}, {Key: "filter", Value: filter}, {Key: "sort", Value: order.sort()}}
	if q.Count > 0 {
		find = append(find, bson.E{Key: "limit", Value: int64(q.Count) + 1})
	}
	var plan bson.M
	if err := s.resources.Database().RunCommand(ctx, bson.D{{Key: "explain", Value: find}}).Decode(&plan); err != nil {
		return "", fmt.Errorf("store: mongo: explain: %w", err)
	}
	filterJSON, err := bson.MarshalExtJSON(bson.D{{Key: "filter", Value: filter}, {Key: "sort", Value: order.sort()}}, false, false)
	if err != nil {
		return "", fmt.Errorf("store: mongo: explain: %w", err)
	}
	planJSON, err := bson.MarshalExtJSONIndent(plan["queryPlanner"], false, false, "", "  ")
	if err != nil {
		planJSON = []byte(fmt.Sprint(plan["queryPlanner"]))
	}
	return fmt.Sprintf("MongoDB; collection %s\nfind: %s\nqueryPlanner: %s\n", s.resources.Name(), filterJSON, planJSON), nil
}
