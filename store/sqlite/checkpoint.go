package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
)

// checkpointEvery is how many written versions pass between two background
// checkpoints. A version of an indexed Observation appends about a dozen
// pages to the WAL even in a large commit (its index entries land on as
// many leaves), so 1,024 versions start a checkpoint before the WAL reaches
// the writer's backstop. Checkpointing more often copies the hot pages
// (B-tree interiors, the ends of the time indexes) more often: at 512, a
// benchmark of transaction-sized commits wrote 4% more pages in all.
const checkpointEvery = 1024

// walBackstopPages makes the writer checkpoint by itself should the
// background checkpointer fall behind (about 64 MB of WAL).
const walBackstopPages = 16384

// checkpointer copies the WAL back into the database file on its own
// connection, so that commits do not wait for the copy and its fsync.
// PASSIVE checkpoints never block readers or the writer.
type checkpointer struct {
	db      *sql.DB
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	stopped sync.Once
	written atomic.Int64 // versions committed
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed counts n committed versions and wakes the checkpointer every
// checkpointEvery versions.
func (c *checkpointer) committed(n int) {
	after := c.written.Add(int64(n))
	if (after-int64(n))/checkpointEvery == after/checkpointEvery {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default: // a checkpoint is already pending
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		}
		if _, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			slog.Warn("sqlite checkpoint failed", "err", err)
		}
	}
}

// stop waits for a running checkpoint, then closes the connection. Calls
// after the first do nothing.
func (c *checkpointer) stop() error {
	var err error
	c.stopped.Do(func() {
		close(c.quit)
		<-c.done
		err = c.db.Close()
	})
	return err
}
