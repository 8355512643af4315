package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/telehub/telehub/store"
)

// Group commit. SQLite has one writer at a time, and a transaction's commit
// costs about the same whether it carries one resource or several hundred:
// the pages it dirtied go to the WAL once, and the hot pages (the B-tree
// interior, the entries of common codes) are shared by all its writes. So
// the Commits that queue while one runs are committed together, in one
// SQLite transaction. Each stays all or nothing on its own: should one fail
// (a compare-and-set conflict), the group is committed again with each
// Commit in a savepoint of its own, so that the failed one fails alone and
// the others commit (see commitGroup). A Commit that waits for no other
// runs alone, as it would without grouping.

// maxGroupWrites bounds the writes of one group, so that a group's commit
// (and the latency of its first caller) stays bounded.
const maxGroupWrites = 2000

// commitRequest is one caller's Commit waiting for the committer.
type commitRequest struct {
	ctx    context.Context
	writes []store.Write
	done   chan error
}

// committer owns the writer connection's resource commits.
type committer struct {
	s       *Store
	queue   chan *commitRequest
	quit    chan struct{}
	once    sync.Once
	stopped chan struct{}
}

func startCommitter(s *Store) *committer {
	c := &committer{s: s, queue: make(chan *commitRequest, 256), quit: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// commit hands writes to the committer and waits for their outcome. Once
// its group has begun, a Commit waits for the group's end even if ctx is
// cancelled: whether its writes were stored must be known when it returns.
func (c *committer) commit(ctx context.Context, writes []store.Write) error {
	closed := errors.New("store: commit: the store is closed")
	select {
	case <-c.quit:
		return closed
	default:
	}
	req := &commitRequest{ctx: ctx, writes: writes, done: make(chan error, 1)}
	select {
	case c.queue <- req:
	case <-ctx.Done():
		return fmt.Errorf("store: commit: %w", ctx.Err())
	case <-c.quit:
		return closed
	}
	select {
	case err := <-req.done:
		return err
	case <-c.stopped:
		// Queued as the store closed: answered, or never to be.
		select {
		case err := <-req.done:
			return err
		default:
			return closed
		}
	}
}

// stop answers the requests already queued, then ends the committer.
// Calls after the first do nothing.
func (c *committer) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	var group []*commitRequest
	for {
		group = group[:0]
		select {
		case req := <-c.queue:
			group = append(group, req)
		case <-c.quit:
			// Callers that got their request in before quit still get an answer.
			for {
				select {
				case req := <-c.queue:
					c.s.commitGroup([]*commitRequest{req})
				default:
					return
				}
			}
		}
		n := len(group[0].writes)
	drain:
		for n < maxGroupWrites {
			select {
			case req := <-c.queue:
				group = append(group, req)
				n += len(req.writes)
			default:
				break drain
			}
		}
		c.s.commitGroup(group)
	}
}

// commitGroup commits the group's requests and answers each on its done
// channel. It first commits them all in one transaction without
// savepoints: a savepoint makes SQLite copy every page it is the first to
// change into a statement journal, about a tenth of a group's CPU, for the
// rare Commit that fails (a compare-and-set conflict). Should one fail, the
// transaction is rolled back and the group committed again, each request in
// a savepoint of its own, so that the failed one fails alone.
func (s *Store) commitGroup(group []*commitRequest) {
	live := group[:0:0]
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.done <- fmt.Errorf("store: commit: %w", err)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	// The transaction serves several callers: no one's context may end it.
	ctx := context.WithoutCancel(live[0].ctx)
	s.spillAfter(ctx, live)
	results, err := s.commitTogether(ctx, live)
	if errors.Is(err, errRetryApart) {
		results, err = s.commitApart(ctx, live)
	}
	if err == nil {
		s.resizeWriterCache(ctx)
	}
	for i, req := range live {
		if err != nil {
			req.done <- err
		} else {
			req.done <- results[i]
		}
	}
}

// errRetryApart reports that a request of a group failed in commitTogether:
// nothing was committed, and the group must be committed apart.
var errRetryApart = errors.New("store: commit: a request of the group failed")

// commitTogether commits the requests' writes in one transaction, without
// savepoints. A lone request's failure is its result (nothing committed);
// a failure in a group of several is errRetryApart.
func (s *Store) commitTogether(ctx context.Context, live []*commitRequest) ([]error, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: commit: begin: %w", err)
	}
	bound := make(map[*sql.Stmt]*sql.Stmt, 16)
	written := 0
	for _, req := range live {
		w := txWriter{ctx: ctx, tx: tx, st: &s.stmts, bound: bound}
		if err := w.apply(req.writes); err != nil {
			tx.Rollback()
			if len(live) == 1 {
				return []error{err}, nil
			}
			return nil, errRetryApart
		}
		written += len(req.writes)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit %d writes: %w", written, err)
	}
	s.checkpoints.committed(written)
	return make([]error, len(live)), nil
}

// commitApart commits the requests in one transaction, each in a savepoint
// of its own: a request that fails is rolled back to its savepoint and
// fails alone, and the others commit.
func (s *Store) commitApart(ctx context.Context, live []*commitRequest) ([]error, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: commit: begin: %w", err)
	}
	abort := func(err error) ([]error, error) {
		tx.Rollback()
		return nil, err
	}
	bound := make(map[*sql.Stmt]*sql.Stmt, 16)
	results := make([]error, len(live))
	written := 0
	for i, req := range live {
		w := txWriter{ctx: ctx, tx: tx, st: &s.stmts, bound: bound}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT request"); err != nil {
			return abort(fmt.Errorf("store: commit: savepoint: %w", err))
		}
		if results[i] = w.apply(req.writes); results[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO request"); err != nil {
				return abort(fmt.Errorf("store: commit: roll back a failed request (%v): %w", results[i], err))
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE request"); err != nil {
			return abort(fmt.Errorf("store: commit: release savepoint: %w", err))
		}
		if results[i] == nil {
			written += len(req.writes)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit %d writes: %w", written, err)
	}
	s.checkpoints.committed(max(written, 1))
	return results, nil
}
