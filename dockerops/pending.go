package dockerops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/scar-dev/scar/projects"
)

// DefaultPendingMaxAge bounds how stale status's pending_changes may be while the
// project's files cannot be watched (or before their watch is in place): the answer
// then comes from a comparison of the trees that started at most this long before the
// status call. Walking both trees of a 10k-file project takes 40–70 ms of disk, too
// much for every status. A watched project's answer is kept until a file changes
// (see pending_watch.go).
const DefaultPendingMaxAge = 2 * time.Second

// pendingWalkTimeout bounds one comparison of the trees run in the background.
const pendingWalkTimeout = time.Minute

// WithPendingMaxAge sets the bound on pending_changes' staleness when the files are
// not watched (default DefaultPendingMaxAge); 0 or less compares the trees on every
// status, and watches nothing.
func WithPendingMaxAge(d time.Duration) Option { return func(s *Service) { s.pendingMaxAge = d } }

// pendingCache holds the last pending_changes answer of each project. The first
// status of a project starts watching its trees; once they are watched, an answer
// from a comparison that started after the watch was in place is served until a
// change under the trees drops it (and pendingSafetyInterval re-verifies it in the
// background). Otherwise an answer younger than half the bound is served as it is;
// one younger than the bound is served while a fresh comparison starts in the
// background; an older one (or none) waits for a fresh comparison. One comparison per project runs at a time, shared by
// every status that needs it (singleflight). A deploy or rollback of the project
// drops the answer, and a comparison that started before the drop is not kept.
type pendingCache struct {
	mu      sync.Mutex
	entries map[string]*pendingEntry
	watches map[string]*treeWatch
}

type pendingEntry struct {
	// key is what the answer was computed for; a reload that moves the project's
	// directories starts afresh.
	key   string
	value bool
	ok    bool
	// at is when the comparison that gave value started.
	at time.Time
	// watched: that comparison started while the trees were watched.
	watched bool
	// gen counts invalidations; a comparison keeps its answer only when it has not changed.
	gen uint64
	// running is closed when the comparison in flight ends; nil when none runs.
	running chan struct{}
	err     error
}

func newPendingCache() *pendingCache {
	return &pendingCache{entries: make(map[string]*pendingEntry), watches: make(map[string]*treeWatch)}
}

// invalidate drops the project's cached answer: its files changed.
func (c *pendingCache) invalidate(project string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[project]; ok {
		e.gen++
		e.ok = false
	}
}

// pendingChanges tells status whether the project's workspace has changes production
// lacks, from the cache when its answer is within the bound (see pendingCache).
func (s *Service) pendingChanges(ctx context.Context, p *projects.Project) bool {
	if s.pending == nil {
		return false
	}
	if p.IsGit() {
		if _, err := os.Stat(p.Workspace); errors.Is(err, fs.ErrNotExist) {
			// No checkout yet: nothing was fetched, so nothing is known to be pending.
			return false
		}
	}
	changed, err := s.cachedPending(ctx, p)
	if err != nil {
		// Status still answers: the containers matter more than this hint.
		s.logger.WarnContext(ctx, "pending changes check failed", "project", p.Name, "error", err)
		return false
	}
	return changed
}

func (s *Service) cachedPending(ctx context.Context, p *projects.Project) (bool, error) {
	if s.pendingMaxAge <= 0 {
		return s.pending(ctx, p)
	}
	c := s.pendingCache
	key := p.Workspace + "\x00" + p.Production
	// A comparison in flight may be invalidated before it ends; its waiters then
	// wait for the next one. Three rounds are plenty; after them, compare here.
	for range 3 {
		c.mu.Lock()
		e := c.entries[p.Name]
		if e == nil || e.key != key {
			e = &pendingEntry{key: key}
			if old := c.entries[p.Name]; old != nil {
				e.gen = old.gen + 1
			}
			c.entries[p.Name] = e
		}
		watched := s.watching(p, key)
		if e.ok && e.watched && watched {
			// No file changed since the comparison started: the watch would have
			// dropped the answer.
			value := e.value
			c.mu.Unlock()
			return value, nil
		}
		age := s.pendingNow().Sub(e.at)
		if e.ok && age >= 0 && age < s.pendingMaxAge {
			value := e.value
			// An answer from before the watch was in place is replaced by one the
			// watch keeps valid.
			if (age >= s.pendingMaxAge/2 || watched) && e.running == nil {
				s.refreshPending(e, p)
			}
			c.mu.Unlock()
			return value, nil
		}
		if e.running == nil {
			s.refreshPending(e, p)
		}
		running := e.running
		c.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		c.mu.Lock()
		value, ok, err := e.value, e.ok && c.entries[p.Name] == e, e.err
		c.mu.Unlock()
		if err != nil {
			return false, err
		}
		if ok {
			return value, nil
		}
	}
	return s.pending(ctx, p)
}

// refreshPending starts a comparison of the project's trees for e; c.mu is held. The
// comparison is the Service's, not the caller's: a status that goes away does not
// cancel what other statuses wait for. Shutdown waits for it.
func (s *Service) refreshPending(e *pendingEntry, p *projects.Project) {
	c := s.pendingCache
	running := make(chan struct{})
	e.running = running
	gen := e.gen
	start := s.pendingNow()
	// Started while the trees are watched, the comparison's answer is kept until a
	// change (or until watching fails).
	watched := s.watching(p, e.key)
	s.bg.wg.Go(func() {
		ctx, cancel := context.WithTimeout(s.bg.ctx, pendingWalkTimeout)
		defer cancel()
		changed, err := s.pending(ctx, p)
		c.mu.Lock()
		defer c.mu.Unlock()
		e.err = err
		if err == nil && e.gen == gen {
			e.value, e.ok, e.at, e.watched = changed, true, start, watched
		}
		e.running = nil
		close(running)
		if err == nil && e.gen == gen && !watched && s.watching(p, e.key) {
			// The watch came into place while this comparison ran: compare again,
			// for an answer the watch keeps valid.
			s.refreshPending(e, p)
		}
	})
}
