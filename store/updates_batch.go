package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MarkUpdates records several Telegram update ids in one transaction, as MarkUpdate
// records one: first[i] reports whether ids[i] was new (an id repeated within ids is
// new only the first time). A commit costs far more than an insert, so a webhook
// taking many updates at once records them together (see handlers.GroupUpdates).
func (db *DB) MarkUpdates(ctx context.Context, ids []int64, at time.Time) ([]bool, error) {
	first := make([]bool, len(ids))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO telegram_updates(update_id, at) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, id := range ids {
			res, err := stmt.ExecContext(ctx, id, at.UnixNano())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			first[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: mark %d updates: %w", len(ids), err)
	}
	return first, nil
}
