package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the statement cache. Search SQL depends on the
// shape of a query (which operators, how many values), not on its values, so
// real traffic has few shapes; past the bound, statements are prepared for
// one use.
const maxCachedStatements = 1024

// stmtCache keeps the prepared statements of search and history queries:
// parsing and planning a query costs SQLite more than running it.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt)}
}

// get returns a statement for query and a function to call once done with it.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, func(), error) {
	c.mu.Lock()
	stmt, ok := c.stmts[query]
	c.mu.Unlock()
	if ok {
		return stmt, func() {}, nil
	}
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached, ok := c.stmts[query]; ok { // another goroutine was faster
		stmt.Close()
		return cached, func() {}, nil
	}
	if len(c.stmts) >= maxCachedStatements {
		return stmt, func() { stmt.Close() }, nil
	}
	c.stmts[query] = stmt
	return stmt, func() {}, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, stmt := range c.stmts {
		stmt.Close()
		delete(c.stmts, q)
	}
}

// snapshot holds the cached statements of one call, bound to a read
// transaction when the call runs several queries that must see the same
// state (a total and its page).
type snapshot struct {
	tx    *sql.Tx // nil: each query sees the latest state
	done  []func()
	cache *stmtCache
}

// query runs one more query in the snapshot: in its transaction, if any
// (on the transaction's connection: no other is taken from the pool), or
// else with a statement of the cache.
func (sn *snapshot) query(ctx context.Context, query string, args []any) (*sql.Rows, error) {
	if sn.tx != nil {
		return sn.tx.QueryContext(ctx, query, args...)
	}
	stmt, done, err := sn.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	sn.done = append(sn.done, done)
	return stmt.QueryContext(ctx, args...)
}

// snapshot prepares (or finds) the statements of queries, then begins the
// read transaction if consistent. Statements come first: preparing takes a
// pooled connection, and a caller holding a transaction must not wait for
// another connection, or a full pool would deadlock.
func (s *Store) snapshot(ctx context.Context, consistent bool, queries ...string) (*snapshot, []*sql.Stmt, error) {
	sn := &snapshot{cache: s.queries}
	stmts := make([]*sql.Stmt, len(queries))
	for i, q := range queries {
		stmt, done, err := s.queries.get(ctx, q)
		if err != nil {
			sn.close()
			return nil, nil, err
		}
		stmts[i] = stmt
		sn.done = append(sn.done, done)
	}
	if !consistent {
		return sn, stmts, nil
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		sn.close()
		return nil, nil, err
	}
	sn.tx = tx
	for i, stmt := range stmts {
		stmts[i] = tx.StmtContext(ctx, stmt)
	}
	return sn, stmts, nil
}

// close ends the transaction (it only read) and releases one-use statements;
// call it once every Rows is closed.
func (sn *snapshot) close() {
	if sn.tx != nil {
		sn.tx.Rollback()
	}
	for _, done := range sn.done {
		done()
	}
}
