package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DefaultRetention is how long history, events and the audit log are kept by default.
const DefaultRetention = 90 * 24 * time.Hour

// Pruned counts what Prune removed.
type Pruned struct {
	Deployments int64
	Events      int64
	Audit       int64
}

// prunable are the deployments that retention may remove: finished, started before
// the cutoff, and not their project's newest (which rollback and the history's first
// line still read).
const prunable = `SELECT id FROM deployments d
	WHERE d.started_at < ?1 AND d.status != 'running'
	AND d.rowid != (SELECT n.rowid FROM deployments n WHERE n.project = d.project ORDER BY n.started_at DESC, n.rowid DESC LIMIT 1)`

// Prune removes audit entries, deployments and their events from before cutoff, in
// one transaction. A running deployment and each project's newest one are kept
// whatever their age.
func (db *DB) Prune(ctx context.Context, cutoff time.Time) (Pruned, error) {
	var n Pruned
	at := cutoff.UnixNano()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		exec := func(count *int64, q string) error {
			res, err := tx.ExecContext(ctx, q, at)
			if err != nil {
				return err
			}
			*count, err = res.RowsAffected()
			return err
		}
		if err := exec(&n.Events, `DELETE FROM deployment_events WHERE deployment_id IN (`+prunable+`)`); err != nil {
			return err
		}
		if err := exec(&n.Deployments, `DELETE FROM deployments WHERE id IN (`+prunable+`)`); err != nil {
			return err
		}
		return exec(&n.Audit, `DELETE FROM audit WHERE at < ?1`)
	})
	if err != nil {
		return Pruned{}, fmt.Errorf("store: prune before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return n, nil
}
