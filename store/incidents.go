package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// States of an incident.
const (
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// Kinds of incident. The event watcher opens the container and host kinds; a deploy
// opens the deploy kinds.
const (
	KindDied              = "died"
	KindOOM               = "oom"
	KindUnhealthy         = "unhealthy"
	KindCrashLoop         = "crash_loop"
	KindDockerUnreachable = "docker_unreachable"
	KindDeployFailed      = "deploy_failed"
	KindRollbackFailed    = "rollback_failed"
	KindBakeFailed        = "bake_failed"
	// KindPushStarted and KindPushDeployed tell the alert chats that a git push
	// started a deploy and that it succeeded (a failed one is a deploy_failed).
	KindPushStarted  = "push_started"
	KindPushDeployed = "push_deployed"
)

// Incident is one thing in production that went wrong, from the event that opened it
// until it ended: a container that died, was OOM-killed, turned unhealthy or restarts
// in a loop, the Docker host unreachable, a deploy that failed. Every change to it
// bumps Version; an alert chat whose message shows an older version is sent the new
// one (see alert_messages).
type Incident struct {
	ID          int64
	Host        string // the Docker host the watcher serves ("" is the local one)
	Project     string // "" for the Docker host itself
	Container   string // the container's name, without the leading slash
	ContainerID string
	Service     string // the Compose service, when there is one
	Kind        string
	State       string
	// EventAt is the Engine's time of the event that opened the incident; an alert's
	// delay is measured from it.
	EventAt    time.Time
	OpenedAt   time.Time
	UpdatedAt  time.Time
	ResolvedAt time.Time // zero while open
	// Summary is one line ("exited with code 3"); Detail is what scar knows more (the
	// log tail, the health check's output, the memory limit), one item a line.
	Summary string
	Detail  string
	// Count is how often it happened while open (the restarts of a crash loop).
	Count        int
	Version      int
	DeploymentID string
}

// Open reports whether the incident has not ended.
func (in *Incident) Open() bool { return in.State != IncidentResolved }

const incidentColumns = `id, host, project, container, container_id, service, kind, state, event_at, opened_at,
	updated_at, COALESCE(resolved_at, 0), summary, detail, count, version, deployment_id`

// OpenIncident records a new open incident and returns it with its id and version 1.
func (db *DB) OpenIncident(ctx context.Context, in Incident) (Incident, error) {
	in.State, in.Version = IncidentOpen, 1
	if in.Count < 1 {
		in.Count = 1
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.OpenedAt
	}
	res, err := db.db.ExecContext(ctx,
		`INSERT INTO incidents(host, project, container, container_id, service, kind, state, event_at, opened_at,
			updated_at, summary, detail, count, version, deployment_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.Host, in.Project, in.Container, in.ContainerID, in.Service, in.Kind, in.State, in.EventAt.UnixNano(),
		in.OpenedAt.UnixNano(), in.UpdatedAt.UnixNano(), in.Summary, in.Detail, in.Count, in.Version, in.DeploymentID)
	if err != nil {
		return in, fmt.Errorf("store: open %s incident of %s: %w", in.Kind, in.Project, err)
	}
	if in.ID, err = res.LastInsertId(); err != nil {
		return in, fmt.Errorf("store: open %s incident of %s: %w", in.Kind, in.Project, err)
	}
	return in, nil
}

// UpdateIncident writes an incident's changed fields (kind, state, times, summary,
// detail, count) and returns it with its version bumped. Resolving it is an update
// with State IncidentResolved and ResolvedAt set.
func (db *DB) UpdateIncident(ctx context.Context, in Incident) (Incident, error) {
	var resolved any
	if !in.ResolvedAt.IsZero() {
		resolved = in.ResolvedAt.UnixNano()
	}
	row := db.db.QueryRowContext(ctx,
		`UPDATE incidents SET kind = ?, state = ?, updated_at = ?, resolved_at = ?, summary = ?, detail = ?,
			count = ?, container_id = ?, deployment_id = ?, version = version + 1
		WHERE id = ? RETURNING version`,
		in.Kind, in.State, in.UpdatedAt.UnixNano(), resolved, in.Summary, in.Detail, in.Count, in.ContainerID,
		in.DeploymentID, in.ID)
	if err := row.Scan(&in.Version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return in, fmt.Errorf("store: update incident %d: %w", in.ID, ErrNotFound)
		}
		return in, fmt.Errorf("store: update incident %d: %w", in.ID, err)
	}
	return in, nil
}

// Incident returns one incident.
func (db *DB) Incident(ctx context.Context, id int64) (*Incident, error) {
	row := db.db.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id)
	in, err := scanIncident(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: incident %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	return &in, nil
}

// IncidentQuery selects incidents: of one project ("" all), opened or changed at or
// after Since (zero: any time), at most Limit (0: 100).
type IncidentQuery struct {
	Project string
	Since   time.Time
	Limit   int
	// OpenOnly leaves out the resolved ones.
	OpenOnly bool
}

// Incidents returns the incidents q selects, open ones first, then newest first.
func (db *DB) Incidents(ctx context.Context, q IncidentQuery) ([]Incident, error) {
	var where []string
	var args []any
	if q.Project != "" {
		where, args = append(where, "project = ?"), append(args, q.Project)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "updated_at >= ?"), append(args, q.Since.UnixNano())
	}
	if q.OpenOnly {
		where = append(where, "state = 'open'")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	query := `SELECT ` + incidentColumns + ` FROM incidents`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY state = 'open' DESC, opened_at DESC, id DESC LIMIT ?`
	return db.queryIncidents(ctx, "list incidents", query, append(args, q.Limit)...)
}

// OpenIncidents returns the open incidents of a Docker host, oldest first: what the
// watcher takes up again when scar starts.
func (db *DB) OpenIncidents(ctx context.Context, host string) ([]Incident, error) {
	return db.queryIncidents(ctx, fmt.Sprintf("open incidents of host %q", host),
		`SELECT `+incidentColumns+` FROM incidents WHERE host = ? AND state = 'open' ORDER BY opened_at, id`, host)
}

// queryIncidents runs a query of incidentColumns; what names it in errors.
func (db *DB) queryIncidents(ctx context.Context, what, query string, args ...any) ([]Incident, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func scanIncident(row interface{ Scan(...any) error }) (Incident, error) {
	var in Incident
	var eventAt, openedAt, updatedAt, resolvedAt int64
	err := row.Scan(&in.ID, &in.Host, &in.Project, &in.Container, &in.ContainerID, &in.Service, &in.Kind, &in.State,
		&eventAt, &openedAt, &updatedAt, &resolvedAt, &in.Summary, &in.Detail, &in.Count, &in.Version, &in.DeploymentID)
	if err != nil {
		return in, err
	}
	in.EventAt, in.OpenedAt, in.UpdatedAt = time.Unix(0, eventAt), time.Unix(0, openedAt), time.Unix(0, updatedAt)
	if resolvedAt != 0 {
		in.ResolvedAt = time.Unix(0, resolvedAt)
	}
	return in, nil
}

// WatchCursor returns where the event watcher of a Docker host stopped: the time of
// the last event it handled and the keys of the events it handled at that very time
// (several events can share a nanosecond; a resume with since = at sees them again).
// A host never watched has a zero time.
func (db *DB) WatchCursor(ctx context.Context, host string) (at time.Time, seen []string, err error) {
	var ns int64
	var keys string
	err = db.db.QueryRowContext(ctx, `SELECT at, seen FROM watch_cursor WHERE host = ?`, host).Scan(&ns, &keys)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil, nil
	}
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("store: watch cursor of host %q: %w", host, err)
	}
	if keys != "" {
		seen = strings.Split(keys, "\n")
	}
	return time.Unix(0, ns), seen, nil
}

// SetWatchCursor records where the event watcher of a Docker host is.
func (db *DB) SetWatchCursor(ctx context.Context, host string, at time.Time, seen []string) error {
	stmt, err := db.prepared(ctx, `INSERT INTO watch_cursor(host, at, seen) VALUES (?, ?, ?)
		ON CONFLICT(host) DO UPDATE SET at = excluded.at, seen = excluded.seen`)
	if err == nil {
		_, err = stmt.ExecContext(ctx, host, at.UnixNano(), strings.Join(seen, "\n"))
	}
	if err != nil {
		return fmt.Errorf("store: set watch cursor of host %q: %w", host, err)
	}
	return nil
}
