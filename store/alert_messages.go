package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outcomes of an incident in one alert chat (alert_messages.outcome).
const (
	AlertSent       = "sent"       // shown in the chat's message MessageID
	AlertMuted      = "muted"      // the project was muted: recorded, not sent
	AlertRefused    = "refused"    // Telegram refused the chat (bot removed, chat not found)
	AlertSummarised = "summarised" // older than the alerts' max age when it could be sent: one line of a summary
	AlertFailed     = "failed"     // the Bot API refused the message itself (not the chat): not retried
)

// AlertMessage is one row of the notification log: what an alert chat was sent of an
// incident. An incident is due in a chat when its row is missing or SentVersion is
// below the incident's Version (and the chat did not refuse).
type AlertMessage struct {
	IncidentID int64
	ChatID     int64
	// MessageID is the Telegram message showing the incident; 0 while not placed. A
	// row can name a message before the message shows the incident (the notifier
	// claims the place, then edits): such a row has SentVersion 0.
	MessageID   int
	SentVersion int
	// SentAt is when the incident was first placed in MessageID (or muted, refused).
	SentAt  time.Time
	Outcome string
}

// PendingAlerts returns up to limit incidents with changes the notifier has not
// handled in every alert chat (Version above the alerted version), oldest first.
func (db *DB) PendingAlerts(ctx context.Context, limit int) ([]Incident, error) {
	return db.queryIncidents(ctx, "pending alerts",
		`SELECT `+incidentColumns+` FROM incidents WHERE version > alerted_version ORDER BY event_at, id LIMIT ?`, limit)
}

// MarkAlerted records that every alert chat of an incident has been handled up to
// version. It never goes back: a slower sweep cannot undo a newer one.
func (db *DB) MarkAlerted(ctx context.Context, incidentID int64, version int) error {
	_, err := db.db.ExecContext(ctx,
		`UPDATE incidents SET alerted_version = MAX(alerted_version, ?) WHERE id = ?`, version, incidentID)
	if err != nil {
		return fmt.Errorf("store: mark incident %d alerted: %w", incidentID, err)
	}
	return nil
}

const alertColumns = `incident_id, chat_id, message_id, sent_version, COALESCE(sent_at, 0), outcome`

func scanAlert(row interface{ Scan(...any) error }) (AlertMessage, error) {
	var a AlertMessage
	var at int64
	if err := row.Scan(&a.IncidentID, &a.ChatID, &a.MessageID, &a.SentVersion, &at, &a.Outcome); err != nil {
		return a, err
	}
	if at != 0 {
		a.SentAt = time.Unix(0, at)
	}
	return a, nil
}

// AlertMessagesOf returns the notification log rows of the given incidents.
func (db *DB) AlertMessagesOf(ctx context.Context, incidentIDs []int64) ([]AlertMessage, error) {
	if len(incidentIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(incidentIDs))
	for i, id := range incidentIDs {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(args)), ",")
	return db.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alert_messages WHERE incident_id IN (`+marks+`)`, args...)
}

// MessageAlerts returns the incidents one Telegram message shows (or has claimed), in
// the order they were placed there, each with its row.
func (db *DB) MessageAlerts(ctx context.Context, chatID int64, messageID int) ([]Incident, []AlertMessage, error) {
	as, err := db.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alert_messages WHERE chat_id = ? AND message_id = ?
		ORDER BY sent_at, incident_id`, chatID, messageID)
	if err != nil {
		return nil, nil, err
	}
	ins := make([]Incident, 0, len(as))
	for _, a := range as {
		in, err := db.Incident(ctx, a.IncidentID)
		if err != nil {
			return nil, nil, err
		}
		ins = append(ins, *in)
	}
	return ins, as, nil
}

func (db *DB) queryAlerts(ctx context.Context, query string, args ...any) ([]AlertMessage, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alert messages: %w", err)
	}
	defer rows.Close()
	var out []AlertMessage
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: alert messages: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alert messages: %w", err)
	}
	return out, nil
}

// RecordAlerts writes notification log rows, each replacing the row of its incident
// and chat, in one transaction.
func (db *DB) RecordAlerts(ctx context.Context, as ...AlertMessage) error {
	if len(as) == 0 {
		return nil
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record alerts: %w", err)
	}
	defer tx.Rollback()
	for _, a := range as {
		var at any
		if !a.SentAt.IsZero() {
			at = a.SentAt.UnixNano()
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO alert_messages(incident_id, chat_id, message_id, sent_version, sent_at, outcome)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(incident_id, chat_id) DO UPDATE SET message_id = excluded.message_id,
				sent_version = excluded.sent_version, sent_at = excluded.sent_at, outcome = excluded.outcome`,
			a.IncidentID, a.ChatID, a.MessageID, a.SentVersion, at, a.Outcome)
		if err != nil {
			return fmt.Errorf("store: record alert of incident %d in chat %d: %w", a.IncidentID, a.ChatID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record alerts: %w", err)
	}
	return nil
}

// LatestAlertMessage returns the newest message the notifier opened in a chat for
// incidents of outcome (sent or summarised) and when it opened it; 0 when none. A notifier that starts again folds into it while it
// is young.
func (db *DB) LatestAlertMessage(ctx context.Context, chatID int64, outcome string) (int, time.Time, error) {
	var id int
	var at int64
	err := db.db.QueryRowContext(ctx,
		`SELECT message_id, MIN(sent_at) AS opened FROM alert_messages
		WHERE chat_id = ? AND message_id != 0 AND outcome = ? AND sent_at IS NOT NULL
		GROUP BY message_id ORDER BY opened DESC LIMIT 1`, chatID, outcome).Scan(&id, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: latest alert message in chat %d: %w", chatID, err)
	}
	return id, time.Unix(0, at), nil
}

// RefusedAlertChats returns the chats whose latest alert Telegram refused, with when:
// no alert reached them since.
func (db *DB) RefusedAlertChats(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := db.db.QueryContext(ctx,
		`SELECT r.chat_id, MAX(r.sent_at) AS refused FROM alert_messages r
		WHERE r.outcome = ? AND r.sent_at IS NOT NULL
		GROUP BY r.chat_id
		HAVING refused > COALESCE((SELECT MAX(s.sent_at) FROM alert_messages s
			WHERE s.chat_id = r.chat_id AND s.outcome = ?), 0)`, AlertRefused, AlertSent)
	if err != nil {
		return nil, fmt.Errorf("store: refused alert chats: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]time.Time)
	for rows.Next() {
		var chat, at int64
		if err := rows.Scan(&chat, &at); err != nil {
			return nil, fmt.Errorf("store: refused alert chats: %w", err)
		}
		out[chat] = time.Unix(0, at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: refused alert chats: %w", err)
	}
	return out, nil
}
