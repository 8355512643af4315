package mongo

import (
	"context"
	"errors"

	"github.com/telehub/telehub/store"
)

// Reindex is being written; see store.Store.Reindex.
func (s *Store) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) error {
	return errors.New("mongo: reindex is not implemented yet")
}
