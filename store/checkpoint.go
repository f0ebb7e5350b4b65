package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// The WAL is copied into the database (a checkpoint) by a connection of its own, in
// the background, rather than by whichever commit happens to cross SQLite's threshold.
// A checkpoint writes the database file and syncs the WAL and the database; run by a
// commit, it held the one writing connection for that long, and every write queued
// behind it: a webhook's update ids wait for their commit before the 200 (see
// handlers.GroupUpdates), so each checkpoint was a stall of every ack in flight. A
// commit itself does not sync in WAL mode with synchronous=NORMAL, so moving the
// checkpoint out changes neither what a commit guarantees nor what is on disk once a
// checkpoint has run.
const (
	// checkpointAfter is how long after a write the checkpointer runs, so that one
	// checkpoint copies a burst's commits. Under load it runs about this often; idle,
	// it sleeps (no timer: the idle scar's wakeups are a benchmark row).
	checkpointAfter = 200 * time.Millisecond
	// walBackstopPages is the WAL size, in pages, at which a commit checkpoints by
	// itself after all (SQLite's own rule, its default 1000 raised): for writes that
	// do not wake the checkpointer, and should it fall behind, so that the WAL stays
	// bounded (16 MB at 4 KiB pages).
	walBackstopPages = 4000
)

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) on its own connection
// checkpointAfter after it is woken (wrote), until stopped. PASSIVE copies what it can
// without waiting for the writer, which goes on committing meanwhile. The update-id
// log wakes it (MarkUpdate, MarkUpdates): the writes with a caller waiting on each
// commit; the others, seldom, are left to the next wake or the backstop.
type checkpointer struct {
	db    *sql.DB
	woken chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startCheckpointer opens a second connection to the database at path and starts
// the checkpointer.
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
	c := &checkpointer{db: sqldb, woken: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// wrote tells the checkpointer that the WAL has grown; it never blocks. Wakes while
// a checkpoint is pending or running make one more run, not one each.
func (c *checkpointer) wrote() {
	select {
	case c.woken <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTimer(checkpointAfter)
	t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.woken:
		}
		t.Reset(checkpointAfter)
		select {
		case <-c.stop:
			t.Stop()
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

// close stops the checkpointer and closes its connection; later calls do nothing.
func (c *checkpointer) close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.db.Close()
	})
}
