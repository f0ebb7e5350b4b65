package handlers

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// BatchUpdateLog is an UpdateLog that can also record many ids in one transaction;
// store.DB is one.
type BatchUpdateLog interface {
	UpdateLog
	MarkUpdates(ctx context.Context, ids []int64, at time.Time) ([]bool, error)
}

// maxGroup bounds the ids recorded in one transaction.
const maxGroup = 256

// GroupUpdates returns an UpdateLog whose MarkUpdate records the ids of updates that
// arrive together in one transaction (group commit): while one commit runs, the ids
// that come in wait and go in the next one, together. Each call still returns only
// once its id is committed, so an update is never answered before it is recorded.
// On a webhook under load, one SQLite commit per update would cost most of the time
// of its intake; with 100 connections, a commit now carries tens of ids.
func GroupUpdates(log BatchUpdateLog) UpdateLog {
	return &groupLog{BatchUpdateLog: log}
}

type groupLog struct {
	BatchUpdateLog

	mu      sync.Mutex
	pending []*mark
	// leading is set while some caller commits for everyone.
	leading bool
}

// mark is one id waiting to be recorded. done is closed when it has been, or when
// its caller is to lead the next commit (lead).
type mark struct {
	id    int64
	at    time.Time
	first bool
	err   error
	lead  bool
	done  chan struct{}
}

func (g *groupLog) MarkUpdate(ctx context.Context, updateID int64, at time.Time) (bool, error) {
	m := &mark{id: updateID, at: at, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, m)
	if g.leading {
		g.mu.Unlock()
		// No giving up on ctx: the id may be committed all the same, and an update
		// answered as not taken must not be found recorded when Telegram sends it again.
		<-m.done
		if !m.lead {
			return m.first, m.err
		}
		g.mu.Lock()
	}
	g.leading = true
	// Requests already running reach the queue while the leader yields once: batches
	// grow by a fifth under load, at the cost of one trip through the scheduler.
	g.mu.Unlock()
	runtime.Gosched()
	g.mu.Lock()
	batch := g.pending[:min(len(g.pending), maxGroup)]
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()

	// The batch holds other callers' ids: their requests must not fail with this one's.
	g.commit(context.WithoutCancel(ctx), batch)

	g.mu.Lock()
	if len(g.pending) > 0 {
		// The next commit is led by the first caller waiting, not by this one, so
		// that no caller waits longer than two commits.
		next := g.pending[0]
		next.lead = true
		close(next.done)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return m.first, m.err
}

// commit records the batch and wakes its callers (all but the leader, which is
// running it, and reads its own result when commit returns).
func (g *groupLog) commit(ctx context.Context, batch []*mark) {
	ids := make([]int64, len(batch))
	for i, m := range batch {
		ids[i] = m.id
	}
	// One time for the batch: the retention window is hours, the batch milliseconds.
	first, err := g.MarkUpdates(ctx, ids, batch[len(batch)-1].at)
	for i, m := range batch {
		if err != nil {
			m.err = err
		} else {
			m.first = first[i]
		}
		if i > 0 {
			close(m.done)
		}
	}
}
