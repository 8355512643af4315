package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync/atomic"
)

// checkpointEvery is how many commits pass between two background
// checkpoints (each commit appends a dozen pages to the WAL).
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
	commits atomic.Int64
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed counts one commit and wakes the checkpointer every
// checkpointEvery commits.
func (c *checkpointer) committed() {
	if c.commits.Add(1)%checkpointEvery != 0 {
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

// stop waits for a running checkpoint, then closes the connection.
func (c *checkpointer) stop() error {
	close(c.quit)
	<-c.done
	return c.db.Close()
}
