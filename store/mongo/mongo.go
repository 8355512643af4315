// Package mongo is the MongoDB backend of store.Store, for production and
// scale-out. It is written against the subset of MongoDB that FerretDB v1 also
// implements (its tests run on FerretDB in-process): single-document writes,
// find with sort/skip/limit, countDocuments and plain query operators.
// It needs no $elemMatch on sub-documents, $lookup, change streams or, except
// for multi-write commits, transactions.
//
// # Collections
//
// resources holds the current version of each resource, one document per
// type and id (_id "Type/id"): version, lastUpdated (Unix ms), deleted flag,
// method, the canonical JSON body, and the search index of that version:
//
//   - tx: one string per text entry (token, string, reference, uri, ...),
//     "param\x1fvalue", matched with equality (exact) or an anchored regular
//     expression (prefix, contains); on MongoDB the (type, tx) multikey index
//     bounds equality and prefix to their value, contains to its param;
//   - ps: the params that have at least one entry (":missing");
//   - sk: per param, the smallest and largest value, so that sorting by a
//     multi-valued param is a plain sort on one field (ascending sorts on the
//     smallest value, descending on the largest);
//   - vk: the version key "Type/id/version/nonce", see ranges.
//
// history holds every version, one document per version, with _id
// "Type/id/version": that unique key is what makes concurrent writers of the
// same version collide.
//
// ranges holds the date, number and quantity entries, one document per
// (resource version, entry): param, low, high and the entry's Text (a
// quantity's unit); a composite entry is stored both there, for range
// conditions, and in tx, for text conditions. A range condition needs low,
// high and Text of the same entry (e.g. "eq" is low >= L and high <= H);
// without $elemMatch on sub-documents, keeping each entry in its own
// document is what keeps them together. A search first asks ranges for the
// version keys that match, then matches them against resources.vk: an entry
// of a superseded version or index, or of a write that lost its
// compare-and-set, carries a version key that no current document has, so
// it can never match, even before it is cleaned up.
//
// records holds the store.Records, TeleHub's own state, one document per
// (kind, key) with _id kind+"\x1f"+key: generation (drawn anew at each
// creation), version, value and expiry (a date, for MongoDB's TTL index;
// FerretDB has none and keeps expired records, which reads skip). As with
// history, an insert decides between writers: a change of a stored record
// first inserts into recordclaims a document whose _id names the record's
// state (_id, generation, version) and its successor, and only the writer
// whose claim went in updates or deletes the record, with a filter on that
// state, then removes its claim. A claim left by a writer that died is
// removed once older than a minute.
//
// Sorting reads resources.sk.<param>, a field per param: on MongoDB such a
// sort is done in memory after the filter, not from an index.
//
// # Search plans
//
// Without $lookup, whatever a search needs from other documents is fetched
// first and carried into the final query as a list of keys:
//
//   - a range condition: the version keys of the matching range entries;
//   - a chain (subject:Patient.name=x): the keys "Type/id" of the current
//     resources matching the chained query (which may hold chains, _has and
//     range conditions itself, run the same way), matched as the text
//     entries "param\x1fType/id" of the references;
//   - a reverse chain (_has): the resources matching its query that have an
//     entry for its param; the "Type/id" of their references are then
//     matched as resource keys.
//
// This keeps every query a plain filter, index-friendly on MongoDB, at the
// price of bounds: a chain or _has query may match at most 10,000 resources,
// and one search may carry at most 100,000 keys in all (a MongoDB command
// is limited to 16 MB). Beyond either, Search fails with ErrTooManyMatches
// instead of sending a huge filter: add a more selective condition. Range
// entries are read in batches, so the limit is hit before any reply is too
// large.
//
// Paging by cursor is a keyset filter: the cursor holds the sort values,
// type and id of the last resource of a page (and a digest of the search it
// belongs to), and the next page is the resources strictly after it in the
// search's total order, whatever was written in between. A resource without
// a value for a sort param sorts last; its sort fields are missing, which
// MongoDB orders as null, and the filter says so explicitly. All values of
// one sort param must be of one kind (text or range), as the index of one
// param is.
//
// # Reads
//
// Read and VRead are one lookup by _id each. A search's total and its page
// are two queries without a common snapshot: under concurrent writes they may
// differ by the writes in between. History at an instant reads the keys
// (not the bodies) of the scope's versions up to that instant, keeps the
// latest per resource in the client (FerretDB has no $group accumulator that
// would), and then fetches the bodies of the page.
//
// # Writes
//
// A single write is compare-and-set without a transaction: read the current
// version and check it is Version-1; insert the history document (the unique
// key lets only one writer of a version through: the others get
// store.ErrConflict); insert the range entries; replace (or, for version 1,
// insert) the current document with a filter on the expected previous
// version; then delete the range entries of older versions. Only the history
// insert decides who wins: the filtered replace merely confirms it, which
// matters on FerretDB, whose filtered updates are not atomic. A failure after
// the history insert undoes that insert. If the process dies in between, the
// orphaned history document is recognised by the next writer of that version
// (the current document is still at the previous version and the orphan is
// older than a minute) and removed.
//
// Reindex replaces the index of the current version in place: new range
// entries under a fresh version key, then one update of the current
// document filtered on the version and the old key, then the old entries
// are removed. On FerretDB, whose filtered updates are not atomic, a
// reindex racing a write of the next version of the same resource can in
// principle overwrite it; on MongoDB the filtered update is atomic.
//
// Several writes in one Commit run the same steps inside a multi-document
// transaction, which MongoDB offers on replica sets and sharded clusters
// only. On a standalone server (and FerretDB) such a Commit returns
// store.ErrTransactionsUnsupported and writes nothing.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/telehub/telehub/store"
)

// DefaultDatabase is the database used when the URI names none.
const DefaultDatabase = "telehub"

// Collection names.
const (
	resourcesCollection = "resources"
	historyCollection   = "history"
	rangesCollection    = "ranges"
)

// Store is a store.Store on a MongoDB database. It is safe for concurrent use.
type Store struct {
	client       *driver.Client
	resources    *driver.Collection
	history      *driver.Collection
	ranges       *driver.Collection
	transactions bool
	limits       limits
}

var _ store.Store = (*Store)(nil)

// Open connects to the MongoDB server at uri, checks it answers, and creates
// the collections and indexes the store needs. The database is the URI's
// path ("mongodb://host/dbname"), DefaultDatabase when it has none.
func Open(ctx context.Context, uri string) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("store: mongo: parse URI: %w", err)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = DefaultDatabase
	}

	// The URI's own appName, if any, wins over ours.
	client, err := driver.Connect(options.Client().SetAppName("telehub").ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("store: mongo: connect: %w", err)
	}
	s, err := open(ctx, client, client.Database(dbName))
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, client *driver.Client, db *driver.Database) (*Store, error) {
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		return nil, fmt.Errorf("store: mongo: ping: %w", err)
	}
	transactions, err := supportsTransactions(ctx, client)
	if err != nil {
		return nil, err
	}
	s := &Store{
		client:       client,
		resources:    db.Collection(resourcesCollection),
		history:      db.Collection(historyCollection),
		ranges:       db.Collection(rangesCollection),
		transactions: transactions,
		limits:       defaultLimits(),
	}
	if err := s.createIndexes(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// supportsTransactions asks the server whether it is a replica set member or
// a mongos, the two deployments that run multi-document transactions.
func supportsTransactions(ctx context.Context, client *driver.Client) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	admin := client.Database("admin")
	err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello)
	if err != nil {
		// Servers older than 4.4.2 know the command as isMaster.
		err = admin.RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Decode(&hello)
	}
	if err != nil {
		return false, fmt.Errorf("store: mongo: hello: %w", err)
	}
	return hello.SetName != "" || hello.Msg == "isdbgrid", nil
}

// createIndexes creates the indexes the writes and queries rely on; it is
// idempotent, so every Open runs it.
func (s *Store) createIndexes(ctx context.Context) error {
	asc := func(keys ...string) bson.D {
		d := bson.D{}
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: 1})
		}
		return d
	}
	unique := options.Index().SetUnique(true)
	sets := []struct {
		coll    *driver.Collection
		indexes []driver.IndexModel
	}{
		{s.resources, []driver.IndexModel{
			{Keys: asc("t", "i"), Options: unique},
			{Keys: asc("t", "lu")},
			{Keys: asc("t", "tx")},
			{Keys: asc("t", "ps")},
			{Keys: asc("vk")},
		}},
		// _id, "Type/id/version", is the unique key of versions.
		{s.history, []driver.IndexModel{
			{Keys: bson.D{{Key: "lu", Value: -1}, {Key: "w", Value: -1}}},
			{Keys: bson.D{{Key: "t", Value: 1}, {Key: "lu", Value: -1}, {Key: "w", Value: -1}}},
			{Keys: bson.D{{Key: "t", Value: 1}, {Key: "i", Value: 1}, {Key: "lu", Value: -1}, {Key: "w", Value: -1}}},
		}},
		{s.ranges, []driver.IndexModel{
			{Keys: asc("p", "t", "lo")},
			{Keys: asc("p", "t", "hi")},
			{Keys: asc("r", "v")},
			{Keys: asc("vk")},
		}},
	}
	// One index per command: FerretDB v1 drops the connection when a
	// createIndexes of several indexes finds them all existing.
	for _, set := range sets {
		for _, index := range set.indexes {
			if _, err := set.coll.Indexes().CreateOne(ctx, index); err != nil {
				return fmt.Errorf("store: mongo: create index %v on %s: %w", index.Keys, set.coll.Name(), err)
			}
		}
	}
	return s.createRecordIndexes(ctx)
}

// SupportsTransactions reports whether Commit accepts several writes: true on
// a replica set or sharded cluster.
func (s *Store) SupportsTransactions() bool { return s.transactions }

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("store: mongo: ping: %w", err)
	}
	return nil
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, driver.ErrClientDisconnected) {
		return fmt.Errorf("store: mongo: close: %w", err)
	}
	return nil
}

// DropDatabase deletes the store's database and everything in it. Tests use
// it to clean up; nothing else should.
func (s *Store) DropDatabase(ctx context.Context) error {
	if err := s.resources.Database().Drop(ctx); err != nil {
		return fmt.Errorf("store: mongo: drop database: %w", err)
	}
	return nil
}
