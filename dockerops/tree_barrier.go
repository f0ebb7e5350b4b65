package dockerops

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scar-dev/scar/projects"
)

// barrierTimeout bounds the wait for a barrier file's event; a watch that does not
// answer in time is treated as no watch (the caller reads the trees).
const barrierTimeout = time.Second

// changed counts one change under the project's trees and drops its cached
// pending_changes answer.
func (c *pendingCache) changed(project string, w *treeWatch) {
	c.mu.Lock()
	w.changes++
	c.mu.Unlock()
	c.invalidate(project)
}

// passBarrier records that the barrier file name was seen: every event queued before
// it has been counted.
func (w *treeWatch) passBarrier(c *pendingCache, name string) {
	n, err := strconv.ParseUint(filepath.Base(name), 10, 64)
	_ = os.Remove(name)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > w.barrierSeen {
		w.barrierSeen = n
		close(w.barrierWake)
		w.barrierWake = make(chan struct{})
	}
}

// treesSettled returns the project's watch and its change count once every change
// made to the trees before the call has been counted. ok is false when the trees are
// not watched (yet, or any more), or the watch did not answer within barrierTimeout:
// the count then proves nothing. The first call for a project starts its watch.
func (s *Service) treesSettled(ctx context.Context, p *projects.Project) (w *treeWatch, changes uint64, ok bool) {
	if s.pendingMaxAge <= 0 {
		return nil, 0, false // watching is off
	}
	c := s.pendingCache
	key := p.Workspace + "\x00" + p.Production
	c.mu.Lock()
	if !s.watching(p, key) {
		c.mu.Unlock()
		return nil, 0, false
	}
	w = c.watches[p.Name]
	w.barrierSent++
	n, dir := w.barrierSent, w.barrier
	c.mu.Unlock()

	if err := os.WriteFile(filepath.Join(dir, strconv.FormatUint(n, 10)), nil, 0o600); err != nil {
		return nil, 0, false
	}
	timeout := time.NewTimer(barrierTimeout)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		if w.barrierSeen >= n {
			changes, ok = w.changes, w.ready && !w.failed && c.watches[p.Name] == w
			c.mu.Unlock()
			return w, changes, ok
		}
		wake := w.barrierWake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-timeout.C:
			return nil, 0, false
		case <-ctx.Done():
			return nil, 0, false
		}
	}
}
