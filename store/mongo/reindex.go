package mongo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// reindexAttempts bounds how often Reindex retries when another reindex of
// the same version lands between its read and its update.
const reindexAttempts = 3

// Reindex replaces the search index of the current version of a resource,
// compare-and-set on version, without a new version or history entry.
//
// The new range entries are inserted under a fresh version key first; the
// current document then takes the new text entries, sort keys and that key
// in one update filtered on the version and the old key, so that the old
// range entries stop matching at the same moment as the old text entries.
// The old entries are then removed. A writer of the next version replaces
// the whole document whatever was reindexed; a reindex that finds the
// version gone answers store.ErrConflict.
func (s *Store) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) error {
	for range reindexAttempts {
		done, err := s.reindexOnce(ctx, typ, id, version, index)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("store: mongo: reindex %s/%s version %d: concurrent reindexes kept winning: %w",
		typ, id, version, store.ErrConflict)
}

// reindexOnce makes one attempt; done is false when a concurrent reindex of
// the same version changed the document between the read and the update.
func (s *Store) reindexOnce(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) (done bool, err error) {
	key := resourceKey(typ, id)
	var cur struct {
		Version    int64  `bson:"v"`
		Deleted    bool   `bson:"d"`
		VersionKey string `bson:"vk"`
	}
	err = s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: key}},
		options.FindOne().SetProjection(bson.D{{Key: "v", Value: 1}, {Key: "d", Value: 1}, {Key: "vk", Value: 1}})).Decode(&cur)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return true, fmt.Errorf("store: mongo: reindex %s/%s: %w", typ, id, store.ErrNotFound)
	case err != nil:
		return true, fmt.Errorf("store: mongo: reindex %s/%s: read: %w", typ, id, err)
	case cur.Version != version:
		return true, fmt.Errorf("store: mongo: reindex %s/%s version %d: stored version is %d: %w",
			typ, id, version, cur.Version, store.ErrConflict)
	case cur.Deleted:
		return true, nil // a deleted resource matches nothing, whatever its index
	}

	vk := versionKey(typ, id, version, rand.Text())
	text, params, sk, ranges := indexDocs(key, typ, version, vk, index)
	if sk == nil {
		sk = map[string]sortKeys{}
	}
	if len(ranges) > 0 {
		if _, err := s.ranges.InsertMany(ctx, ranges); err != nil {
			s.dropRanges(ctx, bson.D{{Key: "vk", Value: vk}})
			return true, fmt.Errorf("store: mongo: reindex %s/%s: insert range entries: %w", typ, id, err)
		}
	}
	set := bson.D{
		{Key: "vk", Value: vk}, {Key: "tx", Value: text}, {Key: "ps", Value: params},
		{Key: "nr", Value: len(ranges)}, {Key: "sk", Value: sk},
	}
	res, err := s.resources.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: key}, {Key: "v", Value: version}, {Key: "vk", Value: cur.VersionKey}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil || res.MatchedCount == 0 {
		s.dropRanges(ctx, bson.D{{Key: "vk", Value: vk}})
	}
	if err != nil {
		return true, fmt.Errorf("store: mongo: reindex %s/%s: update: %w", typ, id, err)
	}
	if res.MatchedCount == 0 {
		return false, nil // the next attempt reads what changed
	}
	// The old entries can no longer match; removing them is housekeeping.
	s.dropRanges(ctx, bson.D{{Key: "r", Value: key}, {Key: "v", Value: bson.D{{Key: "$lte", Value: version}}},
		{Key: "vk", Value: bson.D{{Key: "$ne", Value: vk}}}})
	return true, nil
}

// dropRanges deletes range entries that can no longer match; a failure
// leaves entries that stay unmatched until the next write removes them.
func (s *Store) dropRanges(ctx context.Context, filter bson.D) {
	if _, err := s.ranges.DeleteMany(context.WithoutCancel(ctx), filter); err != nil {
		slog.WarnContext(ctx, "store: mongo: drop range entries", "filter", filter, "err", err)
	}
}
