package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
)

// checkpointEvery is how many written versions pass between two background
// checkpoints: a version appends a few pages to the WAL in a large commit,
// a dozen in a commit of its own.
const checkpointEvery = 256

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
