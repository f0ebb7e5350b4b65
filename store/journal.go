package store

import (
	"context"
	"fmt"
	"time"
)

// JournalRecord is the journal of a deploy that has not finished: written before the
// deploy first touches production, deleted when it succeeded or was undone. One found
// at start is a deploy a crash interrupted.
type JournalRecord struct {
	DeployID  string
	Project   string
	CreatedAt time.Time
	// Data is the deploy's record, opaque to the store (JSON written by deployments).
	Data []byte
}

// PutJournal writes the journal of a deploy, replacing its data if it has one already
// (its creation time is kept).
func (db *DB) PutJournal(ctx context.Context, deployID, project string, data []byte) error {
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO journal(deploy_id, project, created_at, data) VALUES (?, ?, ?, ?)
		 ON CONFLICT(deploy_id) DO UPDATE SET project = excluded.project, data = excluded.data`,
		deployID, project, time.Now().UnixNano(), string(data))
	if err != nil {
		return fmt.Errorf("store: put journal %s: %w", deployID, err)
	}
	return nil
}

// DeleteJournal deletes the journal of a deploy; deleting one that is not there is not
// an error, so finishing a deploy twice is harmless.
func (db *DB) DeleteJournal(ctx context.Context, deployID string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM journal WHERE deploy_id = ?`, deployID); err != nil {
		return fmt.Errorf("store: delete journal %s: %w", deployID, err)
	}
	return nil
}

// Journals returns every journal, oldest first.
func (db *DB) Journals(ctx context.Context) ([]JournalRecord, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT deploy_id, project, created_at, data FROM journal ORDER BY created_at, deploy_id`)
	if err != nil {
		return nil, fmt.Errorf("store: read journals: %w", err)
	}
	defer rows.Close()
	var out []JournalRecord
	for rows.Next() {
		var r JournalRecord
		var at int64
		var data string
		if err := rows.Scan(&r.DeployID, &r.Project, &at, &data); err != nil {
			return nil, fmt.Errorf("store: read journals: %w", err)
		}
		r.CreatedAt = time.Unix(0, at)
		r.Data = []byte(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read journals: %w", err)
	}
	return out, nil
}
