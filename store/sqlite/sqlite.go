// Package sqlite is TeleHub's embedded storage backend: a store.Store kept in
// one SQLite file (pure Go driver modernc.org/sqlite), the default for a
// single-node deployment.
//
// Layout: every version goes to the versions table, whose rowid (seq) is the
// global commit order; resources holds one row per resource pointing at its
// current version; idx_text and idx_range hold the search index entries of
// current versions, keyed by the resource's rowid (rid), except the
// full-text words, which idx_words holds (see words.go), and the entries of
// a wider parameter that a narrower one repeats (an Observation's subject
// that is its patient), which the narrower one's rows stand for (see
// shared.go); a range entry keeps
// its text (a quantity's unit) in the same row, so that a condition on both
// matches one entry. The index tables have no rowid: their primary key is
// the search index, so an entry costs one B-tree insert; idx_entries lists
// each resource's entries in one row, for updates (which may keep some:
// store.Write.PartialIndex) and sorts, and idx_parts those of a large
// resource that partial writes add, which they do not read again (see
// entries.go). A commit queues the
// entries of all its writes and inserts them at the end, sorted by primary
// key, in multi-row INSERTs.
//
// A search is one SELECT over resources r: each condition is a subquery on
// an index table yielding rowids (chains and _has nest whole searches the
// same way), and a cursor page starts strictly after the previous page's
// last (sort values, type, id), so paging by cursor is stable under writes.
// When every clause is such a list, the total and the page's matches come
// from the rowids alone (count.go); range conditions read short windows of
// idx_range, which range_shapes bounds (windows.go); and a page that can
// walk an index in its order (the type's ids, or a date's entries for a
// sort on it) stops after a page instead of sorting every match (walk.go).
// The read side's own indexes and tables are created at open, apart from
// the schema below.
//
// The file runs in WAL mode. One writer connection commits (BEGIN IMMEDIATE,
// so writers queue instead of deadlocking), and the Commits that queue while
// one runs are committed together, each all or nothing on its own (group.go);
// a pool of reader connections serves reads concurrently, and a background
// connection copies the WAL back into the database file.
//
// Durability: synchronous=NORMAL in WAL mode syncs the WAL at checkpoints,
// not at every commit. A committed write survives a crash of the process,
// but a power loss or an operating system crash may lose the last
// transactions committed before it (never corrupt the file).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/telehub/telehub/store"
)

// Store is a store.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	writer *sql.DB // one connection: SQLite has one writer at a time anyway
	reader *sql.DB // a pool of read-only connections
	stmts  statements
	// queries caches the prepared statements of searches and histories.
	queries     *stmtCache
	sizes       typeSizes // the number of resources of each type, for plans
	checkpoints *checkpointer
	commits     *committer
	// writerCache is the writer's cache size in bytes, and cacheLookedAt
	// the versions written when the file's size was last looked at; both
	// are the committing goroutine's (see resizeWriterCache).
	writerCache   int64
	cacheLookedAt int64
	// spillPages is the writer's cache_spill threshold as last set (see
	// spillAfter).
	spillPages int
}

var _ store.Store = (*Store)(nil)

// schema creates the tables and the indexes the queries use. Times are Unix
// milliseconds; bodies are the canonical JSON bytes.
const schema = `
CREATE TABLE IF NOT EXISTS versions (
	seq          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	body         BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_resource ON versions (type, id, version);
CREATE INDEX IF NOT EXISTS versions_by_type_time ON versions (type, last_updated, seq);
CREATE INDEX IF NOT EXISTS versions_by_time ON versions (last_updated, seq);

CREATE TABLE IF NOT EXISTS resources (
	rid          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	seq          INTEGER NOT NULL REFERENCES versions (seq),
	last_updated INTEGER NOT NULL,
	deleted      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_by_id ON resources (type, id);
CREATE INDEX IF NOT EXISTS resources_by_time ON resources (type, last_updated);

CREATE TABLE IF NOT EXISTS idx_text (
	param TEXT    NOT NULL,
	text  TEXT    NOT NULL,
	type  TEXT    NOT NULL,
	rid   INTEGER NOT NULL,
	PRIMARY KEY (param, text, type, rid)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS idx_range ` + rangeColumns + `;
`

// rangeColumns are idx_range's columns and key. Its key ends with (rid,
// text), not (text, rid): the variants of one quantity or composite (an
// Observation's code-value-quantity has four, with and without the code's
// system and the unit's) share param, type, low and high, so they are one
// run of the index, one page written, rather than one row in each
// variant's run of every resource of the same value. A condition bounds low or high, never
// text alone (text filters the rows of the range), so the order of the last
// columns changes no search. (About a fifth more resources/s through
// transaction Bundles of vital signs than with (text, rid).)
const rangeColumns = `(
	param TEXT    NOT NULL,
	type  TEXT    NOT NULL,
	low   REAL    NOT NULL,
	high  REAL    NOT NULL,
	text  TEXT    NOT NULL, -- a quantity's unit, a composite's first component, or ''
	rid   INTEGER NOT NULL,
	PRIMARY KEY (param, type, low, high, rid, text)
) WITHOUT ROWID`

// schemaVersion is stored in the file's user_version, so that a file written
// by another version of the layout is refused instead of misread. Version 2
// added idx_range.text; the index entries of a version 1 file cannot be
// rebuilt without the resources' parser, so such a file is refused. Version
// 3 moved the full-text words from idx_text to idx_words and replaced the
// (rid, …) indexes of idx_text and idx_range by idx_entries; a version 2
// file is converted when opened. Version 4 shares entries between
// parameters (shared.go): an entry a narrower parameter repeats has no row
// of its own, and idx_entries marks it, which a program reading version 3
// would take for a corrupt blob. A version 3 file has a row for every
// entry, which searches read the same way, so it is only marked version 4.
// Version 5 keeps range_shapes from the writer instead of triggers on
// idx_entries (windows.go): a program of version 4 would write the file
// without its triggers and leave range_shapes behind its entries, so the
// triggers of an older file are dropped and the file marked. Version 6
// lists the full-text words in idx_entries (entryWord), which a program of
// version 5 would take for a corrupt blob; the blobs of an older file do
// not list them, which a partial write detects (keepIndex), so it is only
// marked. Version 7 orders idx_range's key by (…, high, rid, text) (see
// rangeColumns); an older file's table is copied into the new order when
// opened (rekeyRanges). Version 8 adds idx_parts, the other parts of a
// resource's entries (entries.go), which a program of version 7 would
// neither read nor delete; an older file has none, so it is only marked.
const schemaVersion = 8

// migrate creates the schema in a new file, converts a file of version 2
// to 6, and checks the version of any other.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version != 0 && (version < 2 || version > schemaVersion) {
		return fmt.Errorf("file has schema version %d, this program knows version %d", version, schemaVersion)
	}
	if version == schemaVersion {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema+wordsSchema+entriesSchema+partsSchema+dropShapeTriggers); err != nil {
		return err
	}
	if version == 2 {
		if err := migrateWords(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 2: %w", err)
		}
		if err := migrateEntries(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 2: %w", err)
		}
	}
	if version != 0 && version < 7 {
		if err := rekeyRanges(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version %d: %w", version, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// rekeyRanges copies the range entries of a file older than version 7 into
// a table of rangeColumns' key, which takes its place. Dropping the old table
// drops its indexes: createReadSide makes idx_range_by_high again.
func rekeyRanges(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE idx_range_rekeyed `+rangeColumns+`;
		INSERT INTO idx_range_rekeyed (param, type, low, high, text, rid) SELECT param, type, low, high, text, rid FROM idx_range;
		DROP TABLE idx_range;
		ALTER TABLE idx_range_rekeyed RENAME TO idx_range;`)
	return err
}

// Open opens (creating if needed) the store in the file at path.
func Open(ctx context.Context, path string) (*Store, error) {
	writer, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: sqlite schema in %s: %w", path, err)
	}
	if err := createReadSide(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: sqlite search indexes in %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	checkpoints, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	checkpoints.SetMaxOpenConns(1)
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	reader.SetConnMaxLifetime(0)

	s := &Store{writer: writer, reader: reader, queries: newStmtCache(reader), checkpoints: startCheckpointer(checkpoints),
		// The first commit sizes the writer's cache for the file as opened.
		writerCache: writerCacheMin, cacheLookedAt: -writerCacheEvery,
		spillPages: 1} // SQLite's default: spill once the cache is full
	if err := s.stmts.prepare(ctx, writer, reader); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: prepare sqlite statements: %w", err)
	}
	s.commits = startCommitter(s)
	return s, nil
}

// dsn returns the driver's connection string: WAL journal, NORMAL sync
// (durable at checkpoints, never corrupt), a busy timeout so a reader never
// fails on a checkpoint, and immediate transactions on the writer.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	cache := writerCacheMin // the writer's grows with the file
	if readOnly {
		cache = readerCache
	}
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cache>>10))
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
	q.Add("_pragma", "journal_size_limit(67108864)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers map the file: every commit makes a reader drop its page
		// cache, and reading pages back through a mapping costs far less
		// than through read(2) (about 20% more reads/s as served, bench
		// --security, when the audit trail still committed to this store
		// several times a second).
		// Mapped pages count in the resident memory but are the operating
		// system's cache, reclaimable.
		q.Add("_pragma", "mmap_size(1073741824)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// SupportsTransactions reports true: a Commit is one SQLite transaction.
func (s *Store) SupportsTransactions() bool { return true }

// Ping checks both connection pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite reader: %w", err)
	}
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping sqlite writer: %w", err)
	}
	return nil
}

// Close closes the statements and both pools.
func (s *Store) Close() error {
	if s.commits != nil {
		s.commits.stop()
	}
	errC := s.checkpoints.stop()
	s.stmts.close()
	s.queries.close()
	errR := s.reader.Close()
	errW := s.writer.Close() // the last connection to close checkpoints the WAL
	if err := errors.Join(errC, errR, errW); err != nil {
		return fmt.Errorf("store: close sqlite: %w", err)
	}
	return nil
}
