package mongo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// orphanAge is how old a history document must be, with the current document
// still at the previous version, to be taken for the leftover of a writer
// that died between its two writes. Live writes take milliseconds.
const orphanAge = time.Minute

// Commit writes the writes, each compare-and-set on its version. One write
// needs no transaction; several need one, and are refused with
// store.ErrTransactionsUnsupported when the server cannot run it.
func (s *Store) Commit(ctx context.Context, writes []store.Write) error {
	switch {
	case len(writes) == 0:
		return nil
	case len(writes) == 1:
		return s.writeOne(ctx, writes[0], false)
	case !s.transactions:
		return fmt.Errorf("store: mongo: commit %d writes: %w", len(writes), store.ErrTransactionsUnsupported)
	}
	return s.commitTransaction(ctx, writes)
}

// commitTransaction runs all writes in one multi-document transaction. The
// driver retries it on transient errors (two transactions touching the same
// document); a compare-and-set failure aborts it.
func (s *Store) commitTransaction(ctx context.Context, writes []store.Write) error {
	session, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("store: mongo: commit: start session: %w", err)
	}
	defer session.EndSession(context.WithoutCancel(ctx))
	_, err = session.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		for _, w := range writes {
			if err := s.writeOne(ctx, w, true); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return err
		}
		return fmt.Errorf("store: mongo: commit %d writes: %w", len(writes), err)
	}
	return nil
}

// writeOne writes one version, compare-and-set on w.Version-1. Inside a
// transaction (inTxn) a failure aborts everything, so it undoes nothing itself.
func (s *Store) writeOne(ctx context.Context, w store.Write, inTxn bool) error {
	if w.Version < 1 {
		return fmt.Errorf("store: mongo: write %s/%s: invalid version %d", w.Type, w.ID, w.Version)
	}
	current, oldRanges, err := s.currentVersion(ctx, w.Type, w.ID)
	if err != nil {
		return err
	}
	if current != w.Version-1 {
		return conflict(w, current)
	}
	if w.PartialIndex && current > 0 && !w.Deleted {
		// The new version's entries are computed here whole: the kept
		// ones are read from the current version, which the writes below
		// are compare-and-set on.
		if w.Index, err = s.partialIndex(ctx, w); err != nil {
			return err
		}
	}

	nonce := rand.Text()
	res, hist, ranges := newDocs(w, nonce, time.Now())
	if err := s.insertHistory(ctx, w, hist, inTxn); err != nil {
		return err
	}
	if err := s.replaceCurrent(ctx, w, res, ranges); err != nil {
		switch {
		case inTxn:
			return err
		case !errors.Is(err, store.ErrConflict) && s.landed(ctx, res):
			// The reply was lost, not the write.
		default:
			s.undo(ctx, w, nonce, res.VersionKey)
			return err
		}
	}
	if oldRanges == 0 {
		return nil
	}
	// Entries of older versions can no longer match; dropping them is
	// housekeeping, so a failure is only logged.
	_, err = s.ranges.DeleteMany(ctx, bson.D{
		{Key: "r", Value: res.Key}, {Key: "v", Value: bson.D{{Key: "$lt", Value: w.Version}}},
	})
	if err != nil {
		if inTxn {
			return fmt.Errorf("store: mongo: write %s/%s: drop old range entries: %w", w.Type, w.ID, err)
		}
		slog.WarnContext(ctx, "store: mongo: drop old range entries", "resource", res.Key, "err", err)
	}
	return nil
}

// currentVersion returns the stored version of a resource (0 if none) and
// how many range entries that version has.
func (s *Store) currentVersion(ctx context.Context, typ, id string) (version int64, ranges int, err error) {
	var doc struct {
		Version    int64 `bson:"v"`
		RangeCount int   `bson:"nr"`
	}
	err = s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: resourceKey(typ, id)}},
		options.FindOne().SetProjection(bson.D{{Key: "v", Value: 1}, {Key: "nr", Value: 1}})).Decode(&doc)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("store: mongo: read version of %s/%s: %w", typ, id, err)
	}
	return doc.Version, doc.RangeCount, nil
}

// insertHistory inserts the version's history document. Its unique key
// (type, id, version) lets one writer of a version through; the others get
// ErrConflict. A document left by a writer that died before updating the
// current document is removed, once, and the insert retried.
func (s *Store) insertHistory(ctx context.Context, w store.Write, hist historyDoc, inTxn bool) error {
	_, err := s.history.InsertOne(ctx, hist)
	if err == nil {
		return nil
	}
	if !driver.IsDuplicateKeyError(err) {
		if !inTxn {
			// The insert may have happened; take back only our own document.
			s.undo(ctx, w, hist.Nonce, "")
		}
		return fmt.Errorf("store: mongo: write %s/%s version %d: insert history: %w", w.Type, w.ID, w.Version, err)
	}
	if inTxn {
		return conflict(w, -1)
	}
	removed, err := s.removeOrphan(ctx, w, hist.Key)
	if err != nil {
		return err
	}
	if !removed {
		return conflict(w, -1)
	}
	if _, err := s.history.InsertOne(ctx, hist); err != nil {
		if driver.IsDuplicateKeyError(err) {
			return conflict(w, -1)
		}
		return fmt.Errorf("store: mongo: write %s/%s version %d: insert history: %w", w.Type, w.ID, w.Version, err)
	}
	return nil
}

// removeOrphan deletes the history document of w's version if its writer
// evidently died: the current document is still at the previous version and
// the history document is older than orphanAge.
func (s *Store) removeOrphan(ctx context.Context, w store.Write, key string) (bool, error) {
	current, _, err := s.currentVersion(ctx, w.Type, w.ID)
	if err != nil || current != w.Version-1 {
		return false, err
	}
	var found historyDoc
	err = s.history.FindOne(ctx, bson.D{{Key: "_id", Value: key}},
		options.FindOne().SetProjection(bson.D{{Key: "n", Value: 1}, {Key: "at", Value: 1}})).Decode(&found)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return true, nil // its writer just undid it
	case err != nil:
		return false, fmt.Errorf("store: mongo: write %s/%s: read history: %w", w.Type, w.ID, err)
	case time.Since(found.WrittenAt) < orphanAge:
		return false, nil
	}
	res, err := s.history.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "n", Value: found.Nonce}})
	if err != nil {
		return false, fmt.Errorf("store: mongo: write %s/%s: remove orphaned history: %w", w.Type, w.ID, err)
	}
	if res.DeletedCount > 0 {
		slog.WarnContext(ctx, "store: mongo: removed orphaned history version",
			"type", w.Type, "id", w.ID, "version", w.Version)
	}
	return res.DeletedCount > 0, nil
}

// replaceCurrent inserts the range entries, then installs the new current
// document if the stored one is still at the expected version.
func (s *Store) replaceCurrent(ctx context.Context, w store.Write, res resourceDoc, ranges []rangeDoc) error {
	if len(ranges) > 0 {
		if _, err := s.ranges.InsertMany(ctx, ranges); err != nil {
			return fmt.Errorf("store: mongo: write %s/%s: insert range entries: %w", w.Type, w.ID, err)
		}
	}
	if w.Version == 1 {
		_, err := s.resources.InsertOne(ctx, res)
		switch {
		case driver.IsDuplicateKeyError(err):
			return conflict(w, -1)
		case err != nil:
			return fmt.Errorf("store: mongo: write %s/%s: insert current: %w", w.Type, w.ID, err)
		}
		return nil
	}
	r, err := s.resources.ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: res.Key}, {Key: "v", Value: w.Version - 1}}, res)
	switch {
	case err != nil:
		return fmt.Errorf("store: mongo: write %s/%s: replace current: %w", w.Type, w.ID, err)
	case r.MatchedCount == 0:
		return conflict(w, -1)
	}
	return nil
}

// landed reports whether the current document is res after all: a write
// whose reply was lost (network error, cancelled context) may have been applied.
func (s *Store) landed(ctx context.Context, res resourceDoc) bool {
	var doc struct {
		VersionKey string `bson:"vk"`
	}
	err := s.resources.FindOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: res.Key}},
		options.FindOne().SetProjection(bson.D{{Key: "vk", Value: 1}})).Decode(&doc)
	return err == nil && doc.VersionKey == res.VersionKey
}

// undo removes what a failed write inserted: its history document and, when
// vk is set, its range entries, both recognised by the write's nonce.
func (s *Store) undo(ctx context.Context, w store.Write, nonce, vk string) {
	ctx = context.WithoutCancel(ctx)
	_, err := s.history.DeleteOne(ctx, bson.D{
		{Key: "_id", Value: historyKey(w.Type, w.ID, w.Version)}, {Key: "n", Value: nonce},
	})
	if err != nil {
		slog.ErrorContext(ctx, "store: mongo: undo history insert", "type", w.Type, "id", w.ID, "version", w.Version, "err", err)
	}
	if vk == "" {
		return
	}
	if _, err := s.ranges.DeleteMany(ctx, bson.D{{Key: "vk", Value: vk}}); err != nil {
		slog.WarnContext(ctx, "store: mongo: undo range entries", "type", w.Type, "id", w.ID, "err", err)
	}
}

// conflict is the ErrConflict of w; current is the stored version when known
// (-1 otherwise).
func conflict(w store.Write, current int64) error {
	if current < 0 {
		return fmt.Errorf("store: mongo: write %s/%s version %d: another writer won: %w", w.Type, w.ID, w.Version, store.ErrConflict)
	}
	return fmt.Errorf("store: mongo: write %s/%s version %d: stored version is %d: %w", w.Type, w.ID, w.Version, current, store.ErrConflict)
}
