package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when a deployment does not exist.
var ErrNotFound = errors.New("not found")

// DeploymentRecord is one deploy or rollback as stored. Plan is the plan's JSON.
type DeploymentRecord struct {
	ID         string
	Project    string
	Kind       string
	Who        string
	StartedAt  time.Time
	FinishedAt time.Time
	Status     string
	Plan       []byte
	FailedStep string
	Error      string
	Undoes     string
	LogTail    []string
	// Bake is what the watch after a successful deploy came to (SetBake); "" when
	// there was none.
	Bake   string
	Events []EventRecord
}

// EventRecord is one stage event of a deployment.
type EventRecord struct {
	At        time.Time
	Stage     string
	Container string
	Message   string
}

// CreateDeployment inserts a deployment as it starts.
func (db *DB) CreateDeployment(ctx context.Context, d DeploymentRecord) error {
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO deployments(id, project, kind, who, started_at, status, plan, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Project, d.Kind, d.Who, d.StartedAt.UnixNano(), d.Status, string(orEmptyJSON(d.Plan)), d.Undoes)
	if err != nil {
		return fmt.Errorf("store: create deployment %s: %w", d.ID, err)
	}
	return nil
}

// AddEvent appends a stage event to a deployment.
func (db *DB) AddEvent(ctx context.Context, id string, e EventRecord) error {
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO deployment_events(deployment_id, at, stage, container, message) VALUES (?, ?, ?, ?, ?)`,
		id, e.At.UnixNano(), e.Stage, e.Container, e.Message)
	if err != nil {
		return fmt.Errorf("store: add event to %s: %w", id, err)
	}
	return nil
}

// FinishDeployment records a deployment's end; an empty Plan keeps the stored one.
func (db *DB) FinishDeployment(ctx context.Context, d DeploymentRecord) error {
	res, err := db.db.ExecContext(ctx,
		`UPDATE deployments SET finished_at = ?, status = ?, plan = COALESCE(NULLIF(?, ''), plan), failed_step = ?, error = ?, log_tail = ? WHERE id = ?`,
		d.FinishedAt.UnixNano(), d.Status, string(d.Plan), d.FailedStep, d.Error, strings.Join(d.LogTail, "\n"), d.ID)
	if err != nil {
		return fmt.Errorf("store: finish deployment %s: %w", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: finish deployment %s: %w", d.ID, ErrNotFound)
	}
	return nil
}

// SetBake records what a deploy's bake is at ("baking until …", "passed", the
// incident that rolled it back, "ended by …").
func (db *DB) SetBake(ctx context.Context, id, bake string) error {
	res, err := db.db.ExecContext(ctx, `UPDATE deployments SET bake = ? WHERE id = ?`, bake, id)
	if err != nil {
		return fmt.Errorf("store: set bake of deployment %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: set bake of deployment %s: %w", id, ErrNotFound)
	}
	return nil
}

// EndBakes records bake as the end of every bake still "baking until …": at start,
// the bakes a stop of scar (a crash, SIGKILL) cut short. It returns how many.
func (db *DB) EndBakes(ctx context.Context, bake string) (int, error) {
	res, err := db.db.ExecContext(ctx, `UPDATE deployments SET bake = ? WHERE bake LIKE 'baking until %'`, bake)
	if err != nil {
		return 0, fmt.Errorf("store: end the bakes cut short: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const deploymentColumns = `id, project, kind, who, started_at, COALESCE(finished_at, 0), status, plan, failed_step, error, undoes, log_tail, bake`

// Deployment returns one deployment with its events.
func (db *DB) Deployment(ctx context.Context, id string) (*DeploymentRecord, error) {
	row := db.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id)
	d, err := scanDeployment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("deployment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read deployment %s: %w", id, err)
	}
	rows, err := db.db.QueryContext(ctx,
		`SELECT at, stage, container, message FROM deployment_events WHERE deployment_id = ? ORDER BY at, rowid`, id)
	if err != nil {
		return nil, fmt.Errorf("store: read events of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e EventRecord
		var at int64
		if err := rows.Scan(&at, &e.Stage, &e.Container, &e.Message); err != nil {
			return nil, fmt.Errorf("store: read events of %s: %w", id, err)
		}
		e.At = time.Unix(0, at)
		d.Events = append(d.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read events of %s: %w", id, err)
	}
	return d, nil
}

// Deployments returns a project's deployments newest first, without events. With
// status set, only those with that status.
func (db *DB) Deployments(ctx context.Context, project, kind, status string, limit int) ([]DeploymentRecord, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := db.db.QueryContext(ctx,
		`SELECT `+deploymentColumns+` FROM deployments
		 WHERE project = ? AND (? = '' OR kind = ?) AND (? = '' OR status = ?)
		 ORDER BY started_at DESC, rowid DESC LIMIT ?`,
		project, kind, kind, status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read deployments of %s: %w", project, err)
	}
	defer rows.Close()
	var out []DeploymentRecord
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: read deployments of %s: %w", project, err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanDeployment(s scanner) (*DeploymentRecord, error) {
	var d DeploymentRecord
	var started, finished int64
	var plan, tail string
	if err := s.Scan(&d.ID, &d.Project, &d.Kind, &d.Who, &started, &finished, &d.Status, &plan, &d.FailedStep, &d.Error, &d.Undoes, &tail, &d.Bake); err != nil {
		return nil, err
	}
	d.StartedAt = time.Unix(0, started)
	if finished != 0 {
		d.FinishedAt = time.Unix(0, finished)
	}
	d.Plan = []byte(plan)
	if tail != "" {
		d.LogTail = strings.Split(tail, "\n")
	}
	return &d, nil
}

func orEmptyJSON(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// Running returns the deployments of every project still marked running: at start,
// those a crash cut short.
func (db *DB) Running(ctx context.Context) ([]DeploymentRecord, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE status = 'running' ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("store: read running deployments: %w", err)
	}
	defer rows.Close()
	var out []DeploymentRecord
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: read running deployments: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}
