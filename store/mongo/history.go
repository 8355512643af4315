package mongo

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// historyOrder is newest first; among versions of the same millisecond, the
// last written first.
var historyOrder = bson.D{{Key: "lu", Value: -1}, {Key: "w", Value: -1}}

// History returns versions, newest first, of one resource, one type or all;
// Count 0 means no limit.
func (s *Store) History(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	var (
		result *store.HistoryResult
		err    error
	)
	if h.At.IsZero() {
		result, err = s.historyAll(ctx, h)
	} else {
		result, err = s.historyAt(ctx, h)
	}
	if err != nil {
		return nil, fmt.Errorf("store: mongo: history %s: %w", historyScope(h), err)
	}
	return result, nil
}

func historyScope(h store.HistoryQuery) string {
	switch {
	case h.ID != "":
		return h.Type + "/" + h.ID
	case h.Type != "":
		return h.Type
	}
	return "of all types"
}

// historyFilter selects the versions of h's scope.
func historyFilter(h store.HistoryQuery) bson.D {
	f := bson.D{}
	if h.Type != "" {
		f = append(f, bson.E{Key: "t", Value: h.Type})
	}
	if h.ID != "" {
		f = append(f, bson.E{Key: "i", Value: h.ID})
	}
	return f
}

// historyAll pages through every version of the scope since h.Since.
func (s *Store) historyAll(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	filter := historyFilter(h)
	if !h.Since.IsZero() {
		filter = append(filter, bson.E{Key: "lu", Value: bson.D{{Key: "$gte", Value: h.Since.UnixMilli()}}})
	}
	n, err := s.history.CountDocuments(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	result := &store.HistoryResult{Total: int(n)}
	opts := options.Find().SetSort(historyOrder).SetSkip(int64(max(h.Offset, 0)))
	if h.Count > 0 {
		opts.SetLimit(int64(h.Count) + 1)
	}
	cursor, err := s.history.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []historyDoc
	if err := cursor.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	if h.Count > 0 && len(docs) > h.Count {
		docs, result.More = docs[:h.Count], true
	}
	result.Versions = make([]store.Resource, len(docs))
	for i, d := range docs {
		result.Versions[i] = d.resource()
	}
	return result, nil
}

// versionRef is a history document without its body.
type versionRef struct {
	Key         string        `bson:"_id"`
	Order       bson.ObjectID `bson:"w"`
	Type        string        `bson:"t"`
	ID          string        `bson:"i"`
	Version     int64         `bson:"v"`
	LastUpdated int64         `bson:"lu"`
}

// historyAt keeps, per resource, the version that was current at h.At.
// Without $group accumulators on FerretDB, it scans the versions' keys
// (bodies left out), picks the latest per resource, and then fetches the
// bodies of the page only.
func (s *Store) historyAt(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	filter := append(historyFilter(h), bson.E{Key: "lu", Value: bson.D{{Key: "$lte", Value: h.At.UnixMilli()}}})
	opts := options.Find().SetProjection(bson.D{{Key: "t", Value: 1}, {Key: "i", Value: 1}, {Key: "v", Value: 1}, {Key: "lu", Value: 1}, {Key: "w", Value: 1}})
	cursor, err := s.history.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var refs []versionRef
	if err := cursor.All(ctx, &refs); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	latest := map[string]versionRef{}
	for _, r := range refs {
		key := resourceKey(r.Type, r.ID)
		if cur, ok := latest[key]; !ok || r.Version > cur.Version {
			latest[key] = r
		}
	}
	var picked []versionRef
	since := h.Since.UnixMilli()
	for _, r := range latest {
		if h.Since.IsZero() || r.LastUpdated >= since {
			picked = append(picked, r)
		}
	}
	slices.SortFunc(picked, func(a, b versionRef) int {
		return cmp.Or(cmp.Compare(b.LastUpdated, a.LastUpdated), bytes.Compare(b.Order[:], a.Order[:]))
	})

	result := &store.HistoryResult{Total: len(picked)}
	page := picked[min(max(h.Offset, 0), len(picked)):]
	if h.Count > 0 && len(page) > h.Count {
		page, result.More = page[:h.Count], true
	}
	result.Versions, err = s.versionBodies(ctx, page)
	return result, err
}

// versionBodies fetches the full versions of refs, in the order of refs.
func (s *Store) versionBodies(ctx context.Context, refs []versionRef) ([]store.Resource, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Key
	}
	cursor, err := s.history.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, err
	}
	var docs []historyDoc
	if err := cursor.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	byKey := make(map[string]store.Resource, len(docs))
	for _, d := range docs {
		byKey[d.Key] = d.resource()
	}
	versions := make([]store.Resource, 0, len(refs))
	for _, r := range refs {
		v, ok := byKey[r.Key]
		if !ok {
			return nil, fmt.Errorf("version %s/%s/%d vanished", r.Type, r.ID, r.Version)
		}
		versions = append(versions, v)
	}
	return versions, nil
}
