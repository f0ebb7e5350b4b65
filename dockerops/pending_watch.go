package dockerops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
)

const (
	// pendingDebounce is how long a watched project's trees must stay quiet after a
	// change before the comparison is run again in the background, so that the next
	// status usually finds a fresh answer instead of waiting for one.
	pendingDebounce = 200 * time.Millisecond
	// pendingSafetyInterval is how often a watched project's trees are compared again
	// in the background whatever the watch saw: a missed event cannot leave
	// pending_changes wrong for longer.
	pendingSafetyInterval = time.Minute
)

// treeWatch watches a project's workspace and production (every directory of both,
// with inotify) so that its cached pending_changes answer stays valid until a file
// under them changes. Its fields are guarded by pendingCache.mu.
type treeWatch struct {
	// key is the project's directories the watch is for (as pendingEntry.key).
	key string
	// ready: every directory is watched. Only an answer from a comparison that
	// started after that is kept until a change (pendingEntry.watched).
	ready bool
	// failed: watching was impossible; the project is served under the time bound.
	failed bool
	cancel context.CancelFunc
	// changes counts the events seen under the trees since the watch began: two
	// equal counts around a file plan, taken after a barrier, mean the trees did
	// not change in between (see plan_memo.go).
	changes uint64
	// barrier is the watch's own directory, outside the trees, on the same inotify
	// instance: a file made there is seen after every event that happened before it
	// (the kernel queues one instance's events in order). barrierSent numbers the
	// files made, barrierSeen the newest seen, barrierWake is closed when it moves.
	barrier                  string
	barrierSent, barrierSeen uint64
	barrierWake              chan struct{}
}

// watching tells whether the project's trees are watched under key (not yet, or not
// when watching failed); c.mu is held. The first call for a project starts its watch.
func (s *Service) watching(p *projects.Project, key string) bool {
	c := s.pendingCache
	w := c.watches[p.Name]
	if w != nil && w.key != key {
		// A reload moved the project's directories: watch the new ones.
		w.cancel()
		delete(c.watches, p.Name)
		w = nil
	}
	if w == nil {
		if s.watch.ctx.Err() != nil {
			return false // shutting down
		}
		ctx, cancel := context.WithCancel(s.watch.ctx)
		w = &treeWatch{key: key, cancel: cancel, barrierWake: make(chan struct{})}
		c.watches[p.Name] = w
		s.watch.wg.Go(func() { s.watchTrees(ctx, w, p) })
	}
	return w.ready && !w.failed && s.watch.ctx.Err() == nil
}

// watchTrees runs a project's watch until ctx ends or watching fails: every event
// under the trees drops the cached answer (see pendingCache.invalidate) and, after
// pendingDebounce of quiet, starts a fresh comparison in the background.
func (s *Service) watchTrees(ctx context.Context, w *treeWatch, p *projects.Project) {
	fw, err := s.newWatcher()
	if err != nil {
		s.watchFailed(w, p, fmt.Errorf("start watching: %w", err))
		return
	}
	defer fw.Close()
	barrier, err := os.MkdirTemp("", "scar-watch-")
	if err != nil {
		s.watchFailed(w, p, fmt.Errorf("make the watch's barrier directory: %w", err))
		return
	}
	defer os.RemoveAll(barrier)
	if err := fw.Add(barrier); err != nil {
		s.watchFailed(w, p, fmt.Errorf("watch %s: %w", barrier, err))
		return
	}
	roots := []string{p.Workspace, p.Production}
	addAll := func() error {
		for _, root := range roots {
			if err := watchTree(fw, root, root); err != nil {
				return err
			}
		}
		return nil
	}
	if err := addAll(); err != nil {
		s.watchFailed(w, p, err)
		return
	}
	c := s.pendingCache
	c.mu.Lock()
	w.ready, w.barrier = true, barrier
	c.mu.Unlock()
	// The answer cached so far came from a comparison that started before the
	// watch: compare again now, so that one that the watch keeps valid is ready.
	s.recomputePending(p, w.key, false)

	debounce := time.NewTimer(pendingDebounce)
	debounce.Stop()
	defer debounce.Stop()
	safety := time.NewTicker(pendingSafetyInterval)
	defer safety.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if filepath.Dir(ev.Name) == barrier {
				if ev.Has(fsnotify.Create) {
					w.passBarrier(c, ev.Name)
				}
				continue
			}
			root, inside := rootOf(ev.Name, roots)
			if inside && alwaysExcluded(root, ev.Name) {
				// Under .git or another path no deploy reads (a fetch writes .git
				// on every plan of a git project): no change to the plan.
				continue
			}
			if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && (ev.Name == p.Workspace || ev.Name == p.Production) {
				c.invalidate(p.Name)
				s.watchFailed(w, p, fmt.Errorf("%s was moved or removed", ev.Name))
				return
			}
			if ev.Has(fsnotify.Create) {
				// A new directory is watched, and what was made in it before it was
				// is covered by the invalidation below, which comes after.
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					if !inside {
						root = ev.Name
					}
					if err := watchTree(fw, root, ev.Name); err != nil {
						c.invalidate(p.Name)
						s.watchFailed(w, p, err)
						return
					}
				}
			}
			c.changed(p.Name, w)
			debounce.Reset(pendingDebounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				c.invalidate(p.Name)
				s.watchFailed(w, p, err)
				return
			}
			// Events were lost, among them perhaps a new directory's: watch every
			// directory again, then drop the answer.
			s.logger.Info("pending changes: watch overflowed; watching the trees again", "project", p.Name)
			if err := addAll(); err != nil {
				c.invalidate(p.Name)
				s.watchFailed(w, p, err)
				return
			}
			c.changed(p.Name, w)
			debounce.Reset(pendingDebounce)
		case <-debounce.C:
			s.recomputePending(p, w.key, true)
		case <-safety.C:
			s.recomputePending(p, w.key, false)
		}
	}
}

// watchTree adds dir and every directory under it to fw, but for those no deploy
// reads (alwaysExcluded); dir is root or under it.
func watchTree(fw *fsnotify.Watcher, root, dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walked: its removal is an event
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && alwaysExcluded(root, path) {
			return filepath.SkipDir
		}
		if err := fw.Add(path); err != nil && (path == dir || !errors.Is(err, fs.ErrNotExist)) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	return nil
}

// defaultExcludes matches what no deploy ever reads (deployments.DefaultExcludes).
var defaultExcludes = func() *deployments.Matcher {
	m, err := deployments.NewMatcher(deployments.DefaultExcludes)
	if err != nil {
		panic(err)
	}
	return m
}()

// alwaysExcluded tells whether path, under root, is one no deploy reads whatever the
// project's excludes say (.git, __pycache__, *.pyc): changes there change no plan.
func alwaysExcluded(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." {
		return false
	}
	return defaultExcludes.Excluded(filepath.ToSlash(rel), false)
}

// rootOf returns the root of roots that path is, or is under; inside is false when
// it is under none (the event then counts as a change).
func rootOf(path string, roots []string) (root string, inside bool) {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+string(filepath.Separator)) {
			return r, true
		}
	}
	return "", false
}

// watchFailed puts the project under the time bound for good (until its directories
// change) and says so once.
func (s *Service) watchFailed(w *treeWatch, p *projects.Project, err error) {
	c := s.pendingCache
	c.mu.Lock()
	w.failed = true
	c.mu.Unlock()
	s.logger.Warn("pending changes: cannot watch the project's files; pending_changes is now at most "+
		s.pendingMaxAge.String()+" stale", "project", p.Name, "error", err)
}

// recomputePending starts a comparison of the project's trees in the background,
// unless one runs or (skipBusy) a deploy or rollback holds the project: its end
// drops the answer anyway.
func (s *Service) recomputePending(p *projects.Project, key string, skipBusy bool) {
	if skipBusy {
		if _, busy := s.locks.Holder(p.Name); busy {
			return
		}
	}
	c := s.pendingCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[p.Name]; e != nil && e.key == key && e.running == nil {
		s.refreshPending(e, p)
	}
}

// filesChanged drops the project's cached answer after a deploy or rollback changed
// its files and, when the project is watched, compares the trees again at once.
func (s *Service) filesChanged(p *projects.Project) {
	c := s.pendingCache
	c.invalidate(p.Name)
	c.mu.Lock()
	w := c.watches[p.Name]
	watched := w != nil && w.ready && !w.failed && s.watch.ctx.Err() == nil
	c.mu.Unlock()
	if watched {
		s.recomputePending(p, w.key, false)
	}
}

// stopWatches stops every project's watch and waits for them. No watch starts after.
func (s *Service) stopWatches() {
	c := s.pendingCache
	c.mu.Lock()
	s.watch.cancel()
	c.mu.Unlock()
	s.watch.wg.Wait()
}
