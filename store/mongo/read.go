package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// resourceProjection leaves the search index out of what reads fetch.
var resourceProjection = bson.D{
	{Key: "tx", Value: 0}, {Key: "ps", Value: 0}, {Key: "sk", Value: 0}, {Key: "vk", Value: 0},
}

// Read returns the current version of a resource, deleted or not.
func (s *Store) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	var doc resourceDoc
	err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: resourceKey(typ, id)}},
		options.FindOne().SetProjection(resourceProjection)).Decode(&doc)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return nil, fmt.Errorf("store: mongo: read %s/%s: %w", typ, id, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("store: mongo: read %s/%s: %w", typ, id, err)
	}
	r := doc.resource()
	return &r, nil
}

// VRead returns one version of a resource from history.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	var doc historyDoc
	err := s.history.FindOne(ctx, bson.D{{Key: "_id", Value: historyKey(typ, id, version)}}).Decode(&doc)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return nil, fmt.Errorf("store: mongo: vread %s/%s/_history/%d: %w", typ, id, version, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("store: mongo: vread %s/%s/_history/%d: %w", typ, id, version, err)
	}
	r := doc.resource()
	return &r, nil
}
