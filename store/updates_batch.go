package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// markUpdatesSQL records a JSON array of update ids with one time. Its text is the
// same for any number of ids, so it is prepared once (markUpdatesStmt): SQLite's
// parse of a statement with a VALUES row per id cost more than the insert itself.
// Ignored rows are not returned: what comes back is what was new.
const markUpdatesSQL = `INSERT OR IGNORE INTO telegram_updates(update_id, at)
	SELECT value, ? FROM json_each(?) RETURNING update_id`

// MarkUpdates records several Telegram update ids at once, as MarkUpdate records one:
// first[i] reports whether ids[i] was new (an id repeated within ids is new only the
// first time). It is one statement, so one transaction and one commit, which costs far
// more than an insert: a webhook taking many updates at once records them together
// (see handlers.GroupUpdates).
func (db *DB) MarkUpdates(ctx context.Context, ids []int64, at time.Time) ([]bool, error) {
	first := make([]bool, len(ids))
	if len(ids) == 0 {
		return first, nil
	}
	stmt, err := db.markUpdatesStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: mark %d updates: %w", len(ids), err)
	}
	list := make([]byte, 0, 1+len(ids)*20)
	list = append(list, '[')
	for i, id := range ids {
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, id, 10)
	}
	list = append(list, ']')
	rows, err := stmt.QueryContext(ctx, at.UnixNano(), string(list))
	if err != nil {
		return nil, fmt.Errorf("store: mark %d updates: %w", len(ids), err)
	}
	defer rows.Close()
	inserted := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: mark %d updates: %w", len(ids), err)
		}
		inserted[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mark %d updates: %w", len(ids), err)
	}
	db.wrote()
	for i, id := range ids {
		// The first of repeated ids takes the insert.
		first[i] = inserted[id]
		delete(inserted, id)
	}
	return first, nil
}

// markUpdatesStmt prepares markUpdatesSQL at its first use and keeps it until Close.
// A failed prepare is not kept: the next call tries again.
func (db *DB) markUpdatesStmt(ctx context.Context) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if db.markUpdates == nil {
		stmt, err := db.db.PrepareContext(ctx, markUpdatesSQL)
		if err != nil {
			return nil, err
		}
		db.markUpdates = stmt
	}
	return db.markUpdates, nil
}
