package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DeliveryRetention is how long a git push webhook's delivery id is remembered. The
// git hosts redeliver within hours (GitHub and Gitea by hand, GitLab on its retries);
// a week covers a redelivery someone clicks the next working day.
const DeliveryRetention = 7 * 24 * time.Hour

// MarkDelivery records a push webhook's delivery id for the project. It reports false
// when the id was recorded before (a redelivery), also after scar restarts. Ids older
// than DeliveryRetention are forgotten on the way.
func (db *DB) MarkDelivery(ctx context.Context, project, delivery string, at time.Time) (bool, error) {
	var fresh bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM git_deliveries WHERE at < ?`, at.Add(-DeliveryRetention).UnixNano()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO git_deliveries(project, delivery, at) VALUES (?, ?, ?)`, project, delivery, at.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: mark delivery %s of %s: %w", delivery, project, err)
	}
	return fresh, nil
}

// ForgetDelivery removes a recorded delivery id, for a push that was recorded but
// could not be handed on: its redelivery is to run.
func (db *DB) ForgetDelivery(ctx context.Context, project, delivery string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM git_deliveries WHERE project = ? AND delivery = ?`, project, delivery); err != nil {
		return fmt.Errorf("store: forget delivery %s of %s: %w", delivery, project, err)
	}
	return nil
}
