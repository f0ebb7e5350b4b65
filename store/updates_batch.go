package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

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
	var q strings.Builder
	q.WriteString(`INSERT OR IGNORE INTO telegram_updates(update_id, at) VALUES `)
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?)")
		args = append(args, id, at.UnixNano())
	}
	// Ignored rows are not returned: what comes back is what was new.
	q.WriteString(` RETURNING update_id`)
	rows, err := db.db.QueryContext(ctx, q.String(), args...)
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
	for i, id := range ids {
		// The first of repeated ids takes the insert.
		first[i] = inserted[id]
		delete(inserted, id)
	}
	return first, nil
}
