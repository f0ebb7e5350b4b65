package store

import (
	"context"
	"database/sql"
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
// (its creation time is kept). The write is durable before it returns, power loss
// included: the database runs with synchronous=NORMAL, which in WAL mode may lose the
// last commits on a power cut — fine for update ids and history, not for the record
// of what a deploy is about to change in production.
func (db *DB) PutJournal(ctx context.Context, deployID, project string, data []byte) error {
	err := db.durably(ctx, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx,
			`INSERT INTO journal(deploy_id, project, created_at, data) VALUES (?, ?, ?, ?)
			 ON CONFLICT(deploy_id) DO UPDATE SET project = excluded.project, data = excluded.data`,
			deployID, project, time.Now().UnixNano(), string(data))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put journal %s: %w", deployID, err)
	}
	return nil
}

// durably runs fn on the store's one connection with synchronous=FULL, so that its
// commit is fsynced before fn returns.
func (db *DB) durably(ctx context.Context, fn func(*sql.Conn) error) error {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`)
	return fn(conn)
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
