package store

import (
	"context"
	"fmt"
	"time"
)

// MarkUpdate records a Telegram update id as taken for processing. It reports false
// when the id was recorded before, which is how a retried webhook delivery or a
// re-polled update is recognised, also after scar restarts.
func (db *DB) MarkUpdate(ctx context.Context, updateID int64, at time.Time) (bool, error) {
	res, err := db.db.ExecContext(ctx,
		`INSERT OR IGNORE INTO telegram_updates(update_id, at) VALUES (?, ?)`, updateID, at.UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: mark update %d: %w", updateID, err)
	}
	db.wrote()
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark update %d: %w", updateID, err)
	}
	return n == 1, nil
}

// PruneUpdates forgets update ids recorded before cutoff and returns how many it
// forgot. Telegram stops retrying an update long before the retention window ends.
func (db *DB) PruneUpdates(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM telegram_updates WHERE at < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: prune updates: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune updates: %w", err)
	}
	return n, nil
}

// ForgetUpdate removes a recorded update id, for an update that was recorded but could
// not be handled and is to be delivered again.
func (db *DB) ForgetUpdate(ctx context.Context, updateID int64) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM telegram_updates WHERE update_id = ?`, updateID); err != nil {
		return fmt.Errorf("store: forget update %d: %w", updateID, err)
	}
	return nil
}
