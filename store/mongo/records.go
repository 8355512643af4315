package mongo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

var _ store.Records = (*Store)(nil)

// Collection names of store.Records.
const (
	recordsCollection      = "records"
	recordClaimsCollection = "recordclaims"
)

const (
	// recordSep joins a record's kind and key into its _id; kinds may not
	// contain it, so the _id is unambiguous whatever the key holds.
	recordSep = "\x1f"
	// createAttempts bounds the retries of a first write that finds an
	// expired record removed or replaced under its feet.
	createAttempts = 3
	// changeTimeout bounds a change made under a claim; the change runs to
	// its end even when the caller gives up, so that the claim is released.
	changeTimeout = 10 * time.Second
	// claimTTL is how long MongoDB keeps a claim before its TTL index removes
	// it; only claims of crashed writers live that long.
	claimTTL = time.Hour
	// codeNotImplemented is the server error FerretDB answers to options it
	// lacks, such as TTL indexes.
	codeNotImplemented = 238
)

var (
	// errClaimed: another writer holds the claim on the record's state.
	errClaimed = errors.New("another writer is changing the record")
	// errMoved: the record is no longer in the state the change expected.
	errMoved = errors.New("the record changed")
)

// recordDoc is a document of the records collection: the current state of
// one record. Generation is drawn anew whenever the record is created, so
// that a state (generation, version) never comes back once left.
type recordDoc struct {
	ID         string     `bson:"_id"` // kind + recordSep + key
	Kind       string     `bson:"k"`
	Key        string     `bson:"key"`
	Generation string     `bson:"g"`
	Version    int64      `bson:"v"`
	Value      []byte     `bson:"b"`
	Expires    *time.Time `bson:"e,omitempty"` // absent: never; a date for the TTL index
}

// claimDoc is a document of the recordclaims collection: the right to move
// a record out of one state. Its _id names the state's successor, so only
// one writer gets it; Nonce tells its owner, At an abandoned claim.
type claimDoc struct {
	ID    string    `bson:"_id"` // record _id, generation, next version
	Nonce string    `bson:"n"`
	At    time.Time `bson:"at"`
}

func (s *Store) records() *driver.Collection {
	return s.resources.Database().Collection(recordsCollection)
}

func (s *Store) recordClaims() *driver.Collection {
	return s.resources.Database().Collection(recordClaimsCollection)
}

// createRecordIndexes creates the indexes of the records collections: key
// order within a kind for ListRecords, and TTL indexes where the server has
// them (MongoDB removes expired records and abandoned claims; FerretDB keeps
// them, which costs space but not correctness: reads skip expired records).
func (s *Store) createRecordIndexes(ctx context.Context) error {
	indexes := []struct {
		coll  *driver.Collection
		model driver.IndexModel
		ttl   bool
	}{
		{s.records(), driver.IndexModel{Keys: bson.D{{Key: "k", Value: 1}, {Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)}, false},
		{s.records(), driver.IndexModel{Keys: bson.D{{Key: "e", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}, true},
		{s.recordClaims(), driver.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(int32(claimTTL.Seconds()))}, true},
	}
	for _, index := range indexes {
		_, err := index.coll.Indexes().CreateOne(ctx, index.model)
		var serverErr driver.ServerError
		if index.ttl && errors.As(err, &serverErr) && serverErr.HasErrorCode(codeNotImplemented) {
			slog.DebugContext(ctx, "store: mongo: server has no TTL indexes; expired records stay until overwritten",
				"collection", index.coll.Name())
			continue
		}
		if err != nil {
			return fmt.Errorf("store: mongo: create index %v on %s: %w", index.model.Keys, index.coll.Name(), err)
		}
	}
	return nil
}

// GetRecord returns the unexpired record kind/key, or store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, kind, key string) (*store.Record, error) {
	id, err := recordID(kind, key)
	if err != nil {
		return nil, err
	}
	doc, err := s.currentRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if doc == nil || !doc.live(time.Now()) {
		return nil, fmt.Errorf("store: mongo: get record %s/%s: %w", kind, key, store.ErrNotFound)
	}
	r := doc.record()
	return &r, nil
}

// PutRecord writes r when the stored version is r.Version-1, else it fails
// with store.ErrConflict. A first write (Version 1) replaces an expired
// record.
//
// Without transactions, and on FerretDB without atomic filtered updates,
// the decision is an insert: every change of a stored record first inserts
// a claim whose unique _id names the record's state and its successor, and
// only the writer whose claim went in may change it (see the package
// comment).
func (s *Store) PutRecord(ctx context.Context, r store.Record) error {
	if r.Version < 1 {
		return fmt.Errorf("store: mongo: put record %s/%s: version %d, want 1 or more", r.Kind, r.Key, r.Version)
	}
	if _, err := recordID(r.Kind, r.Key); err != nil {
		return err
	}
	if r.Version == 1 {
		return s.createRecord(ctx, r)
	}
	return s.updateRecord(ctx, r)
}

// createRecord inserts the first version of r, or replaces an expired one.
func (s *Store) createRecord(ctx context.Context, r store.Record) error {
	for range createAttempts {
		doc := newRecordDoc(r, rand.Text())
		_, err := s.records().InsertOne(ctx, doc)
		if err == nil {
			return nil
		}
		if !driver.IsDuplicateKeyError(err) {
			return fmt.Errorf("store: mongo: put record %s/%s: insert: %w", r.Kind, r.Key, err)
		}
		cur, err := s.currentRecord(ctx, doc.ID)
		switch {
		case err != nil:
			return err
		case cur == nil:
			continue // deleted since the insert
		case cur.live(time.Now()):
			return recordConflict(r, cur.Version)
		}
		err = s.changeRecord(ctx, cur, &doc)
		switch {
		case errors.Is(err, errMoved):
			continue // removed (or replaced) since it was read
		case errors.Is(err, errClaimed):
			return recordConflict(r, -1)
		case err != nil:
			return fmt.Errorf("store: mongo: put record %s/%s: %w", r.Kind, r.Key, err)
		}
		return nil
	}
	return recordConflict(r, -1)
}

// updateRecord writes r over the live record at version r.Version-1.
func (s *Store) updateRecord(ctx context.Context, r store.Record) error {
	id, _ := recordID(r.Kind, r.Key)
	cur, err := s.currentRecord(ctx, id)
	switch {
	case err != nil:
		return err
	case cur == nil || !cur.live(time.Now()):
		return recordConflict(r, 0)
	case cur.Version != r.Version-1:
		return recordConflict(r, cur.Version)
	}
	next := newRecordDoc(r, cur.Generation)
	err = s.changeRecord(ctx, cur, &next)
	switch {
	case errors.Is(err, errMoved), errors.Is(err, errClaimed):
		return recordConflict(r, -1)
	case err != nil:
		return fmt.Errorf("store: mongo: put record %s/%s: %w", r.Kind, r.Key, err)
	}
	return nil
}

// DeleteRecord removes kind/key; an absent record is no error. A delete
// that meets a change in progress waits for it, then deletes its result.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	id, err := recordID(kind, key)
	if err != nil {
		return err
	}
	for wait := time.Millisecond; ; {
		cur, err := s.currentRecord(ctx, id)
		if err != nil || cur == nil {
			return err
		}
		err = s.changeRecord(ctx, cur, nil)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errMoved):
			continue
		case !errors.Is(err, errClaimed):
			return fmt.Errorf("store: mongo: delete record %s/%s: %w", kind, key, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: mongo: delete record %s/%s: %w", kind, key, ctx.Err())
		case <-time.After(wait):
			wait = min(2*wait, 100*time.Millisecond)
		}
	}
}

// ListRecords returns up to limit unexpired records of kind with keys after
// after, in key order.
func (s *Store) ListRecords(ctx context.Context, kind, after string, limit int) ([]store.Record, error) {
	if _, err := recordID(kind, after); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	filter := bson.D{
		{Key: "k", Value: kind},
		{Key: "key", Value: bson.D{{Key: "$gt", Value: after}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "e", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "e", Value: bson.D{{Key: "$gt", Value: time.Now()}}}},
		}},
	}
	opts := options.Find().SetSort(bson.D{{Key: "key", Value: 1}}).SetLimit(int64(limit))
	cursor, err := s.records().Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("store: mongo: list records %s: %w", kind, err)
	}
	var docs []recordDoc
	if err := cursor.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: mongo: list records %s: %w", kind, err)
	}
	out := make([]store.Record, len(docs))
	for i, doc := range docs {
		out[i] = doc.record()
	}
	return out, nil
}

// currentRecord reads the stored document of a record, expired or not; nil
// when there is none.
func (s *Store) currentRecord(ctx context.Context, id string) (*recordDoc, error) {
	var doc recordDoc
	err := s.records().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return nil, nil
	case err != nil:
		kind, key, _ := strings.Cut(id, recordSep)
		return nil, fmt.Errorf("store: mongo: read record %s/%s: %w", kind, key, err)
	}
	return &doc, nil
}

// changeRecord moves the record from the state cur to next (nil: deleted)
// under a claim on cur. While the claim is held nothing else moves the
// record out of cur, except MongoDB's TTL monitor removing it, so the
// filtered write below cannot land on a newer state even where the server
// evaluates its filter and writes in two steps. It fails with errClaimed
// when another writer holds the claim, and errMoved when the record has
// left cur (or, for an update within a generation, expired) meanwhile.
func (s *Store) changeRecord(ctx context.Context, cur, next *recordDoc) error {
	release, err := s.claimRecord(ctx, cur)
	if err != nil {
		return err
	}
	// Once claimed, finish even if the caller gives up: an abandoned claim
	// blocks the record until it is old enough to be removed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), changeTimeout)
	defer cancel()
	if next != nil && next.Generation == cur.Generation && !cur.live(time.Now()) {
		release(ctx)
		return errMoved
	}
	filter := bson.D{{Key: "_id", Value: cur.ID}, {Key: "g", Value: cur.Generation}, {Key: "v", Value: cur.Version}}
	var matched int64
	if next == nil {
		res, err := s.records().DeleteOne(ctx, filter)
		if err != nil {
			return fmt.Errorf("delete: %w", err) // the claim stays: the delete may still land
		}
		matched = res.DeletedCount
	} else {
		res, err := s.records().ReplaceOne(ctx, filter, next)
		if err != nil {
			return fmt.Errorf("replace: %w", err) // the claim stays: the replace may still land
		}
		matched = res.MatchedCount
	}
	release(ctx)
	if matched == 0 {
		return errMoved
	}
	return nil
}

// claimRecord inserts the claim on moving the record out of the state cur,
// and returns the function that releases it. A claim abandoned by a writer
// that died is removed once it is older than orphanAge, and claimed again.
func (s *Store) claimRecord(ctx context.Context, cur *recordDoc) (release func(context.Context), err error) {
	claim := claimDoc{
		ID:    claimID(cur),
		Nonce: rand.Text(),
		At:    time.Now(),
	}
	own := bson.D{{Key: "_id", Value: claim.ID}, {Key: "n", Value: claim.Nonce}}
	release = func(ctx context.Context) {
		if _, err := s.recordClaims().DeleteOne(ctx, own); err != nil {
			slog.WarnContext(ctx, "store: mongo: release record claim", "record", cur.Kind+"/"+cur.Key, "err", err)
		}
	}
	for attempt := 0; ; attempt++ {
		_, err := s.recordClaims().InsertOne(ctx, claim)
		switch {
		case err == nil:
			return release, nil
		case !driver.IsDuplicateKeyError(err):
			release(context.WithoutCancel(ctx)) // the insert may have landed
			return nil, fmt.Errorf("claim: %w", err)
		case attempt > 0:
			return nil, errClaimed
		}
		removed, err := s.removeAbandonedClaim(ctx, cur, claim.ID)
		if err != nil {
			return nil, err
		}
		if !removed {
			return nil, errClaimed
		}
	}
}

// removeAbandonedClaim deletes the claim id on the state cur if its writer
// evidently died: the claim is older than orphanAge and the record is still
// in that state.
func (s *Store) removeAbandonedClaim(ctx context.Context, cur *recordDoc, id string) (bool, error) {
	var found claimDoc
	err := s.recordClaims().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&found)
	switch {
	case errors.Is(err, driver.ErrNoDocuments):
		return true, nil // just released
	case err != nil:
		return false, fmt.Errorf("read claim: %w", err)
	case time.Since(found.At) < orphanAge:
		return false, nil
	}
	now, err := s.currentRecord(ctx, cur.ID)
	if err != nil || now == nil || now.Generation != cur.Generation || now.Version != cur.Version {
		return false, err
	}
	res, err := s.recordClaims().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: found.Nonce}})
	if err != nil {
		return false, fmt.Errorf("remove abandoned claim: %w", err)
	}
	if res.DeletedCount > 0 {
		slog.WarnContext(ctx, "store: mongo: removed abandoned record claim", "record", cur.Kind+"/"+cur.Key, "version", cur.Version)
	}
	return res.DeletedCount > 0, nil
}

// claimID is the _id of the claim on moving a record out of the state cur:
// the generation and version hold no recordSep, so it is unambiguous.
func claimID(cur *recordDoc) string {
	return cur.ID + recordSep + cur.Generation + recordSep + strconv.FormatInt(cur.Version+1, 10)
}

// recordID is the _id of the record kind/key.
func recordID(kind, key string) (string, error) {
	if strings.Contains(kind, recordSep) {
		return "", fmt.Errorf("store: mongo: record kind %q: contains the byte 0x1f", kind)
	}
	return kind + recordSep + key, nil
}

func newRecordDoc(r store.Record, generation string) recordDoc {
	id, _ := recordID(r.Kind, r.Key)
	doc := recordDoc{ID: id, Kind: r.Kind, Key: r.Key, Generation: generation, Version: r.Version, Value: r.Value}
	if doc.Value == nil {
		doc.Value = []byte{}
	}
	if !r.Expires.IsZero() {
		// MongoDB keeps milliseconds; round up, so the record never expires early.
		e := r.Expires.Add(time.Millisecond - time.Nanosecond).Truncate(time.Millisecond).UTC()
		doc.Expires = &e
	}
	return doc
}

// live reports whether the record has not expired at now.
func (d *recordDoc) live(now time.Time) bool {
	return d.Expires == nil || now.Before(*d.Expires)
}

func (d *recordDoc) record() store.Record {
	r := store.Record{Kind: d.Kind, Key: d.Key, Version: d.Version, Value: d.Value}
	if d.Expires != nil {
		r.Expires = d.Expires.UTC()
	}
	if r.Value == nil {
		r.Value = []byte{}
	}
	return r
}

// recordConflict is the ErrConflict of r; stored is the stored version when
// known (0: none, -1: unknown).
func recordConflict(r store.Record, stored int64) error {
	if stored < 0 {
		return fmt.Errorf("store: mongo: put record %s/%s version %d: another writer won: %w", r.Kind, r.Key, r.Version, store.ErrConflict)
	}
	return fmt.Errorf("store: mongo: put record %s/%s version %d: stored version is %d: %w", r.Kind, r.Key, r.Version, stored, store.ErrConflict)
}
