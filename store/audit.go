package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxAuditDetail is the most bytes an audit entry's detail keeps; a longer one is cut
// and ends with "…". Details carry error texts, which can be long, and the audit log
// is read by people.
const MaxAuditDetail = 512

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
	// DeploymentID names the deploy or rollback an entry is about. Such an entry's
	// outcome follows the deployment: "running" while it runs, then "ok" for success
	// or the deployment's final status (failed_rolled_back, rollback_failed), set by
	// the database when the deployment's record is finished, whoever finishes it (the
	// run itself, or the recovery at the next start).
	DeploymentID string `json:"deployment_id,omitempty"`
}

// deploymentOutcome is the outcome of an entry whose deployment has finished: the
// deployment's status, or "ok" for success. It is the same mapping as the trigger
// audit_follows_deployment (migration 3).
const deploymentOutcome = `(SELECT CASE status WHEN 'success' THEN 'ok' ELSE status END FROM deployments WHERE id = ? AND status != 'running')`

const recordAuditSQL = `INSERT INTO audit(at, who, source, action, project, outcome, detail, deployment_id)
	VALUES (?, ?, ?, ?, ?, COALESCE(` + deploymentOutcome + `, ?), ?, ?)`

// RecordAudit appends an entry; a zero At is set to now and the detail is clipped to
// MaxAuditDetail. An entry with a DeploymentID whose deployment has already finished
// takes the deployment's outcome; one still running is updated when it finishes.
func (db *DB) RecordAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	stmt, err := db.prepared(ctx, recordAuditSQL)
	if err == nil {
		_, err = stmt.ExecContext(ctx, e.At.UnixNano(), e.Who, e.Source, e.Action, e.Project, e.DeploymentID, e.Outcome, ClipDetail(e.Detail), e.DeploymentID)
	}
	if err != nil {
		return fmt.Errorf("store: record audit: %w", err)
	}
	return nil
}

// ClipDetail cuts s to at most MaxAuditDetail bytes at a rune boundary, marking the cut.
func ClipDetail(s string) string {
	if len(s) <= MaxAuditDetail {
		return s
	}
	const mark = "…"
	cut := MaxAuditDetail - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// Audit returns entries newest first, filtered by project (empty: all) and since
// (zero: no bound), at most limit of them.
func (db *DB) Audit(ctx context.Context, project string, since time.Time, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := db.db.QueryContext(ctx,
		`SELECT id, at, who, source, action, project, outcome, detail, deployment_id FROM audit
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
		if err := rows.Scan(&e.ID, &at, &e.Who, &e.Source, &e.Action, &e.Project, &e.Outcome, &e.Detail, &e.DeploymentID); err != nil {
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
