package store

import (
	"context"
	"database/sql"
	"time"
)

// The WAL is copied into the database (a checkpoint) by a connection of its own, in
// the background, rather than by whichever commit happens to cross SQLite's threshold.
// A checkpoint writes the database file and syncs it and the WAL twice; run by a
// commit, it held the one writing connection for that long, and every write queued
// behind it: a webhook's update ids wait for their commit before the 200 (see
// handlers.GroupUpdates), so each checkpoint was a stall of every ack in flight. A
// commit itself does not sync in WAL mode with synchronous=NORMAL, so moving the
// checkpoint out changes neither what a commit guarantees nor what is on disk once a
// checkpoint has run.
const (
	// checkpointEvery is how often the checkpointer runs. A run with nothing to copy
	// costs a few system calls; under load the WAL holds at most this long of writes.
	checkpointEvery = 200 * time.Millisecond
	// walBackstopPages is the WAL size, in pages, at which a commit checkpoints by
	// itself after all (SQLite's own rule, its default 1000 raised): only when the
	// checkpointer cannot keep up, or has stopped, so that the WAL stays bounded.
	walBackstopPages = 4000
)

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) every checkpointEvery on its own
// connection until stopped. PASSIVE copies what it can without waiting for the
// writer, which goes on committing meanwhile.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

// startCheckpointer opens a second connection to the database at path and starts
// checkpointing.
func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	// synchronous(NORMAL), as the writer's: a checkpoint syncs the WAL before it copies
	// and the database after (OFF would skip both).
	sqldb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(1)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	c := &checkpointer{db: sqldb, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		// A failure (SQLITE_BUSY while a backstop checkpoint runs, a full disk) is
		// left to the next run; the backstop bounds the WAL meanwhile.
		c.checkpoint()
	}
}

// checkpoint runs one passive checkpoint and reports the WAL's frames and those
// copied into the database (both -1 when the database is not in WAL mode).
func (c *checkpointer) checkpoint() (frames, copied int, err error) {
	var busy int
	err = c.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, copied, err
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
