package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one read or change of production, or one refused attempt.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Who     string    `json:"who"`    // "telegram:42 (@sam)" or "api:ci"
	Source  string    `json:"source"` // chat id or client IP
	Action  string    `json:"action"` // status, logs, restart, deploy, rollback, history, audit, ...
	Project string    `json:"project,omitempty"`
	Outcome string    `json:"outcome"` // ok, error, refused, cancelled, ...
	Detail  string    `json:"detail,omitempty"`
}

// RecordAudit appends an entry; a zero At is set to now.
func (db *DB) RecordAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO audit(at, who, source, action, project, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.At.UnixNano(), e.Who, e.Source, e.Action, e.Project, e.Outcome, e.Detail)
	if err != nil {
		return fmt.Errorf("store: record audit: %w", err)
	}
	return nil
}

// Audit returns entries newest first, filtered by project (empty: all) and since
// (zero: no bound), at most limit of them.
func (db *DB) Audit(ctx context.Context, project string, since time.Time, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := db.db.QueryContext(ctx,
		`SELECT id, at, who, source, action, project, outcome, detail FROM audit
		 WHERE (? = '' OR project = ?) AND at >= ?
		 ORDER BY at DESC, id DESC LIMIT ?`,
		project, project, since.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Who, &e.Source, &e.Action, &e.Project, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: read audit: %w", err)
		}
		e.At = time.Unix(0, at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	return out, nil
}
