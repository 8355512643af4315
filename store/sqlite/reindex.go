package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/telehub/telehub/store"
)

// Reindex replaces the index entries of the current version in one write
// transaction, after checking that version is still the current one. A
// deleted resource has no entries and keeps none.
func (s *Store) Reindex(ctx context.Context, typ, id string, version int64, index []store.IndexEntry) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: reindex %s/%s: begin: %w", typ, id, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	w := txWriter{ctx: ctx, tx: tx, st: &s.stmts}
	var (
		rid, current int64
		deleted      bool
	)
	err = w.stmt(s.stmts.state).QueryRowContext(ctx, typ, id).Scan(&rid, &current, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: reindex %s/%s: %w", typ, id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: reindex %s/%s: read current version: %w", typ, id, err)
	case current != version:
		return fmt.Errorf("store: reindex %s/%s version %d, current is %d: %w", typ, id, version, current, store.ErrConflict)
	}
	if !deleted {
		if err := w.clearIndex(rid, typ); err != nil {
			return fmt.Errorf("store: reindex %s/%s: clear index: %w", typ, id, err)
		}
		if err := w.insertIndex(rid, typ, keptIndex{}, index); err != nil {
			return fmt.Errorf("store: reindex %s/%s: index: %w", typ, id, err)
		}
		if err := w.flushIndex(); err != nil {
			return fmt.Errorf("store: reindex %s/%s: index: %w", typ, id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: reindex %s/%s: commit: %w", typ, id, err)
	}
	s.checkpoints.committed(1)
	return nil
}
