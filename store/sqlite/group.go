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
// SQLite transaction, each inside a savepoint of its own: a Commit that
// fails (a compare-and-set conflict) is rolled back to its savepoint and
// fails alone, and the others commit. A Commit that waits for no other
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
					req.done <- c.s.commitGroup([]*commitRequest{req})
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
		if len(group) == 1 {
			group[0].done <- c.s.commitGroup(group)
			continue
		}
		c.s.commitGroup(group)
	}
}

// commitGroup commits the group's requests in one transaction and answers
// each on its done channel. Alone, a request's error is returned too.
func (s *Store) commitGroup(group []*commitRequest) error {
	live := group[:0:0]
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.done <- fmt.Errorf("store: commit: %w", err)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return nil
	}
	// The transaction serves several callers: no one's context may end it.
	ctx := context.WithoutCancel(live[0].ctx)
	fail := func(err error) error {
		for _, req := range live {
			req.done <- err
		}
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("store: commit: begin: %w", err))
	}
	bound := make(map[*sql.Stmt]*sql.Stmt, 16)
	results := make([]error, len(live))
	written := 0
	for i, req := range live {
		w := txWriter{ctx: ctx, tx: tx, st: &s.stmts, bound: bound}
		if len(live) == 1 {
			results[i] = w.apply(req.writes)
			break
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT request"); err != nil {
			tx.Rollback()
			return fail(fmt.Errorf("store: commit: savepoint: %w", err))
		}
		if results[i] = w.apply(req.writes); results[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO request"); err != nil {
				tx.Rollback()
				return fail(fmt.Errorf("store: commit: roll back a failed request (%v): %w", results[i], err))
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE request"); err != nil {
			tx.Rollback()
			return fail(fmt.Errorf("store: commit: release savepoint: %w", err))
		}
		if results[i] == nil {
			written += len(req.writes)
		}
	}
	if len(live) == 1 && results[0] != nil {
		tx.Rollback()
		live[0].done <- results[0]
		return results[0]
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("store: commit %d writes: %w", written, err))
	}
	s.checkpoints.committed(max(written, 1))
	for i, req := range live {
		req.done <- results[i]
	}
	return results[0]
}
