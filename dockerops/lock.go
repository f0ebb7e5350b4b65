package dockerops

import (
	"sync"
	"time"
)

// Operation names: the operation label of scar_operation_duration_seconds and what a
// busy answer says is running.
const (
	OpStatus   = "status"
	OpLogs     = "logs"
	OpRestart  = "restart"
	OpDeploy   = "deploy"
	OpRollback = "rollback"
	// OpPlan holds a git project's lock while a plan moves its checkout.
	OpPlan = "plan"
	// OpFetch times fetching and checking out a git project's commit.
	OpFetch = "fetch"
	// OpRecover holds a project whose interrupted deploy is being undone at start and
	// waits for Docker to come back.
	OpRecover = "recovering"
	// OpOverview times the overview of every project.
	OpOverview = "overview"
)

// Locks holds one lock per project for the operations that change it (restart,
// deploy, rollback): a second one of the same project is refused at once with who
// holds it, rather than queued behind a deploy that may take minutes. Different
// projects never wait on each other.
type Locks struct {
	mu   sync.Mutex
	held map[string]BusyError
	now  func() time.Time
}

// NewLocks returns an empty set of locks; now stamps when a lock was taken (nil = time.Now).
func NewLocks(now func() time.Time) *Locks {
	if now == nil {
		now = time.Now
	}
	return &Locks{held: make(map[string]BusyError), now: now}
}

// TryLock takes project's lock for operation on behalf of who. When the project is
// already locked it returns a *BusyError naming the running operation, its actor and
// since when. Call unlock exactly once when the operation ends.
func (l *Locks) TryLock(project, operation string, who Actor) (unlock func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[project]; ok {
		return nil, &h
	}
	l.held[project] = BusyError{Project: project, Operation: operation, Who: who.Name, Since: l.now()}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, project)
			l.mu.Unlock()
		})
	}, nil
}

// Holder reports what holds project's lock, if anything.
func (l *Locks) Holder(project string) (BusyError, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[project]
	return h, ok
}
