package dockerops

import (
	"context"
	"sync"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
)

// maxMemoPaths bounds the plans kept: one listing more paths than this is not kept, so
// that a project's memo stays small (an unchanged tree's plan lists none).
const maxMemoPaths = 1000

// planMemoMaxAge bounds how long a kept plan is reused, as pendingSafetyInterval bounds
// pending_changes: a change the kernel does not report (a file written through a
// mapping, or on a network filesystem by another machine) is seen within it.
const planMemoMaxAge = pendingSafetyInterval

// A file plan of a 10 000-file project reads 20 000 inodes; a dry run, then the
// deploy it confirms, then every dry run after, would read them all again although
// nothing changed. planMemo keeps each project's last file plan with what proves it
// still holds: the watch of the project's trees (pending_watch.go) and its change
// count, taken after a barrier (tree_barrier.go) at the plan's start, and the stamp of
// everything else the plan read (deployments.PlanStamp). A later plan with the same
// watch, count and stamp reuses it: no file under either tree changed in between. A
// kept plan is reused for at most planMemoMaxAge.
type planMemo struct {
	mu      sync.Mutex
	entries map[string]memoEntry
}

type memoEntry struct {
	watch   *treeWatch
	changes uint64
	stamp   string
	at      time.Time // when the plan started
	plan    *deployments.Plan
}

// filePlan plans the project's files, or reuses the plan kept when it still holds.
// A plan is never changed after it is made, so a kept one is shared.
func (s *Service) filePlan(ctx context.Context, p *projects.Project) (*deployments.Plan, error) {
	start := s.pendingNow()
	w, changes, watched := s.treesSettled(ctx, p)
	stamp, err := s.files.PlanStamp(p)
	if err != nil {
		watched = false
	}
	m := &s.planMemo
	if watched {
		m.mu.Lock()
		e, ok := m.entries[p.Name]
		m.mu.Unlock()
		age := start.Sub(e.at)
		if ok && e.watch == w && e.changes == changes && e.stamp == stamp && age >= 0 && age < planMemoMaxAge {
			return e.plan, nil
		}
	}
	plan, err := s.files.Plan(ctx, p)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil || !watched || plan.Paths() > maxMemoPaths {
		delete(m.entries, p.Name)
		return plan, err
	}
	if m.entries == nil {
		m.entries = make(map[string]memoEntry)
	}
	m.entries[p.Name] = memoEntry{watch: w, changes: changes, stamp: stamp, at: start, plan: plan}
	return plan, nil
}
