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

// snapshot runs cached statements, inside a read transaction when a call
// needs several queries to see the same state (a total and its page).
type snapshot struct {
	cache *stmtCache
	tx    *sql.Tx // nil: each query sees the latest state
	done  []func()
}

func (s *Store) snapshot(ctx context.Context, consistent bool) (*snapshot, error) {
	sn := &snapshot{cache: s.queries}
	if consistent {
		tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		sn.tx = tx
	}
	return sn, nil
}

func (sn *snapshot) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	stmt, done, err := sn.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	sn.done = append(sn.done, done)
	if sn.tx != nil {
		stmt = sn.tx.StmtContext(ctx, stmt)
	}
	return stmt, nil
}

func (sn *snapshot) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := sn.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

func (sn *snapshot) count(ctx context.Context, query string, args ...any) (int, error) {
	stmt, err := sn.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	var n int
	err = stmt.QueryRowContext(ctx, args...).Scan(&n)
	return n, err
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
