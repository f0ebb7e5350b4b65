// Package store is scar's state: a SQLite database (pure Go, WAL mode) in the state
// directory holding deploy history and events, the audit log, processed Telegram update
// ids and deploy journals. Schema changes are numbered migrations run at Open.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is the state database.
type DB struct {
	db *sql.DB

	// markUpdates is MarkUpdates' statement, prepared at its first use (updates_batch.go).
	stmtMu      sync.Mutex
	markUpdates *sql.Stmt
	// prep keeps the other statements run on every request, prepared (prepared.go).
	prep preparedStmts

	// ckpt copies the WAL into the database in the background (checkpoint.go); set
	// by Open, nil for a read-only look.
	ckpt *checkpointer
}

// FileName is the database's name inside the state directory.
const FileName = "scar.db"

// migrations are applied in order; each runs once, recorded in schema_migrations.
// Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: deploy history, events, audit log, Telegram update ids, deploy journals.
	`CREATE TABLE deployments (
		id TEXT PRIMARY KEY,
		project TEXT NOT NULL,
		kind TEXT NOT NULL,            -- deploy | rollback
		who TEXT NOT NULL,
		started_at INTEGER NOT NULL,   -- unix nanoseconds
		finished_at INTEGER,
		status TEXT NOT NULL,          -- running | success | failed_rolled_back | rollback_failed | nothing_to_do
		plan TEXT NOT NULL DEFAULT '{}',
		failed_step TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		undoes TEXT NOT NULL DEFAULT '' -- for a rollback: the deploy it undoes
	);
	CREATE INDEX deployments_project ON deployments(project, started_at);
	CREATE TABLE deployment_events (
		deployment_id TEXT NOT NULL REFERENCES deployments(id),
		at INTEGER NOT NULL,
		stage TEXT NOT NULL,
		message TEXT NOT NULL
	);
	CREATE INDEX deployment_events_id ON deployment_events(deployment_id, at);
	CREATE TABLE audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at INTEGER NOT NULL,
		who TEXT NOT NULL,
		source TEXT NOT NULL,
		action TEXT NOT NULL,
		project TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_at ON audit(at);
	CREATE TABLE telegram_updates (
		update_id INTEGER PRIMARY KEY,
		at INTEGER NOT NULL
	);
	CREATE TABLE journal (
		deploy_id TEXT PRIMARY KEY,
		project TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		data TEXT NOT NULL
	);`,
	// 2: the failing container's log tail on a deploy, and the container of an event.
	`ALTER TABLE deployments ADD COLUMN log_tail TEXT NOT NULL DEFAULT '';
	ALTER TABLE deployment_events ADD COLUMN container TEXT NOT NULL DEFAULT '';`,
	// 3: an audit row of a deploy or rollback names it and follows its outcome (see
	// audit.go); retention deletes by start time.
	`ALTER TABLE audit ADD COLUMN deployment_id TEXT NOT NULL DEFAULT '';
	CREATE INDEX audit_deployment ON audit(deployment_id) WHERE deployment_id != '';
	CREATE INDEX deployments_started ON deployments(started_at);
	CREATE TRIGGER audit_follows_deployment AFTER UPDATE OF status ON deployments
	WHEN NEW.status != 'running'
	BEGIN
		UPDATE audit SET outcome = CASE NEW.status WHEN 'success' THEN 'ok' ELSE NEW.status END
		WHERE deployment_id = NEW.id;
	END;`,
	// 4: watching production (see incidents.go): incidents the event watcher opened,
	// the event stream's cursor per Docker host, what each alert chat was sent of an
	// incident (the notification log), and muted projects.
	`CREATE TABLE incidents (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		host TEXT NOT NULL DEFAULT '',
		project TEXT NOT NULL DEFAULT '',       -- '' for the Docker host itself
		container TEXT NOT NULL DEFAULT '',
		container_id TEXT NOT NULL DEFAULT '',
		service TEXT NOT NULL DEFAULT '',
		kind TEXT NOT NULL,                     -- died | oom | unhealthy | crash_loop | docker_unreachable | deploy_failed | rollback_failed | bake_failed
		state TEXT NOT NULL,                    -- open | resolved
		event_at INTEGER NOT NULL,              -- unix ns of the event that opened it
		opened_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		resolved_at INTEGER,
		summary TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT '',
		count INTEGER NOT NULL DEFAULT 1,
		version INTEGER NOT NULL DEFAULT 1,
		deployment_id TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX incidents_open ON incidents(host, project, container_id, kind) WHERE state = 'open';
	CREATE INDEX incidents_updated ON incidents(updated_at);
	CREATE INDEX incidents_project ON incidents(project, opened_at);
	CREATE TABLE watch_cursor (
		host TEXT PRIMARY KEY,
		at INTEGER NOT NULL,                    -- unix ns of the last event handled
		seen TEXT NOT NULL DEFAULT ''           -- keys of the events handled at that time, one a line
	);
	CREATE TABLE alert_messages (
		incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
		chat_id INTEGER NOT NULL,
		message_id INTEGER NOT NULL DEFAULT 0,  -- the Telegram message showing it; 0 while not sent
		sent_version INTEGER NOT NULL DEFAULT 0,
		sent_at INTEGER,
		outcome TEXT NOT NULL DEFAULT '',       -- '' | sent | muted | refused | summarised
		PRIMARY KEY (incident_id, chat_id)
	);
	CREATE INDEX alert_messages_message ON alert_messages(chat_id, message_id);
	CREATE TABLE mutes (
		project TEXT PRIMARY KEY,
		until INTEGER NOT NULL,
		who TEXT NOT NULL DEFAULT ''
	);`,
	// 5: the Telegram notifier's progress (see alert_messages.go): the version of an
	// incident up to which every alert chat it goes to has been handled (sent, muted,
	// refused or summarised). An incident whose version is ahead has work left.
	`ALTER TABLE incidents ADD COLUMN alerted_version INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX incidents_unalerted ON incidents(id) WHERE version > alerted_version;`,
	// 6: a deploy's bake (see deployments.go, SetBake): "baking until …", then
	// "passed", the incident that rolled it back, or what ended it.
	`ALTER TABLE deployments ADD COLUMN bake TEXT NOT NULL DEFAULT '';`,
	// 7: the delivery ids of git push webhooks (see git_deliveries.go), so that a
	// redelivered push is answered but not deployed twice.
	`CREATE TABLE git_deliveries (
		project TEXT NOT NULL,
		delivery TEXT NOT NULL,
		at INTEGER NOT NULL,                    -- unix ns when it was received
		PRIMARY KEY (project, delivery)
	);
	CREATE INDEX git_deliveries_at ON git_deliveries(at);`,
}

// Open opens (creating if needed) the database in dir and applies pending migrations.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if err := makePrivate(dir, path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(" + strconv.Itoa(walBackstopPages) + ")&_txlock=immediate"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One writer at a time is what SQLite allows; a single connection also makes
	// the pragmas apply everywhere and keeps writes ordered.
	sqldb.SetMaxOpenConns(1)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{db: sqldb}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	if db.ckpt, err = startCheckpointer(ctx, path); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: open %s for checkpoints: %w", path, err)
	}
	return db, nil
}

// makePrivate makes the state directory 0700 and the database 0600 at every open,
// also when an older scar, a restore or a chmod left them readable by others: they
// hold the audit log and backups of production files. The database is created here,
// before SQLite opens it, because SQLite gives its WAL files the database's mode.
func makePrivate(dir, path string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("store: make state dir %s private: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("store: make %s private: %w", p, err)
		}
	}
	return nil
}

// wrote wakes the checkpointer after a write to the WAL (checkpoint.go).
func (db *DB) wrote() {
	if db.ckpt != nil {
		db.ckpt.wrote()
	}
}

// Close closes the database.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	if db.markUpdates != nil {
		db.markUpdates.Close()
		db.markUpdates = nil
	}
	db.stmtMu.Unlock()
	db.prep.close()
	// The checkpointer's connection first: the last connection to close checkpoints
	// the whole WAL and removes it, as it did with one connection.
	if db.ckpt != nil {
		db.ckpt.close()
	}
	return db.db.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

// SchemaVersion returns the number of applied migrations.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	current, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this scar knows (%d)", current, len(migrations))
	}
	for i := current; i < len(migrations); i++ {
		version := i + 1
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES (?, strftime('%s','now'))`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", version, err)
		}
	}
	return nil
}

// tx runs fn in a transaction, committing when it returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
