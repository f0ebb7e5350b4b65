package store

import (
	"context"
	"database/sql"
	"sync"
)

// preparedStmts keeps the statements run on every request or event, prepared once:
// the audit entry and the mutes read of every status (SQLite's prepare was half of
// their cost), and the event watcher's cursor, written after each event it handles
// (two thirds of the watcher's CPU while health checks ran, in a profile of scar under
// the bench's status row). database/sql prepares a kept statement again on each pooled
// connection it first runs on, by itself.
type preparedStmts struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// prepared returns query prepared, preparing it at its first use; a failed prepare is
// not kept, so the next call tries again.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	p := &db.prep
	p.mu.Lock()
	defer p.mu.Unlock()
	if stmt, ok := p.stmts[query]; ok {
		return stmt, nil
	}
	stmt, err := db.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = make(map[string]*sql.Stmt)
	}
	p.stmts[query] = stmt
	return stmt, nil
}

// close closes the kept statements.
func (p *preparedStmts) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, stmt := range p.stmts {
		stmt.Close()
		delete(p.stmts, q)
	}
}
