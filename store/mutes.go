package store

import (
	"context"
	"fmt"
	"time"
)

// Mute silences a project's alerts until a time: its incidents are recorded in the
// notification log as muted instead of sent.
type Mute struct {
	Project string
	Until   time.Time
	Who     string
}

// SetMute mutes a project until m.Until, replacing an earlier mute of it.
func (db *DB) SetMute(ctx context.Context, m Mute) error {
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO mutes(project, until, who) VALUES (?, ?, ?)
		ON CONFLICT(project) DO UPDATE SET until = excluded.until, who = excluded.who`,
		m.Project, m.Until.UnixNano(), m.Who)
	if err != nil {
		return fmt.Errorf("store: mute %s: %w", m.Project, err)
	}
	return nil
}

// Unmute ends a project's mute; it reports whether one was in force at now.
func (db *DB) Unmute(ctx context.Context, project string, now time.Time) (bool, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM mutes WHERE project = ? AND until > ?`, project, now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("store: unmute %s: %w", project, err)
	}
	if _, err := db.db.ExecContext(ctx, `DELETE FROM mutes WHERE project = ?`, project); err != nil {
		return false, fmt.Errorf("store: unmute %s: %w", project, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: unmute %s: %w", project, err)
	}
	return n > 0, nil
}

// Mutes returns the mutes in force at now, by project.
func (db *DB) Mutes(ctx context.Context, now time.Time) (map[string]Mute, error) {
	stmt, err := db.prepared(ctx, `SELECT project, until, who FROM mutes WHERE until > ?`)
	if err != nil {
		return nil, fmt.Errorf("store: mutes: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: mutes: %w", err)
	}
	defer rows.Close()
	out := make(map[string]Mute)
	for rows.Next() {
		var m Mute
		var until int64
		if err := rows.Scan(&m.Project, &until, &m.Who); err != nil {
			return nil, fmt.Errorf("store: mutes: %w", err)
		}
		m.Until = time.Unix(0, until)
		out[m.Project] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mutes: %w", err)
	}
	return out, nil
}
