package dockerops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// stepClock is a clock that stands still until a test advances it: a cached answer
// ages only when the test says so.
type stepClock struct{ offset atomic.Int64 }

var clockBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *stepClock) now() time.Time          { return clockBase.Add(time.Duration(c.offset.Load())) }
func (c *stepClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// countWalks makes the env's status compute pending_changes as scar serve does (by the
// deploy plan), counting the comparisons of the trees, and measure the cached answers'
// ages with a stepClock.
func countWalks(e *deployEnv) (*atomic.Int32, *stepClock) {
	var walks atomic.Int32
	e.svc.pending = func(ctx context.Context, p *projects.Project) (bool, error) {
		walks.Add(1)
		plan, err := e.svc.files.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}
	clock := &stepClock{}
	e.svc.pendingNow = clock.now
	e.t.Cleanup(func() { e.svc.Shutdown(context.Background()) })
	return &walks, clock
}

// pendingOf returns a function that asks the env's status for pending_changes.
func pendingOf(t *testing.T, e *deployEnv) func() bool {
	return func() bool {
		t.Helper()
		st, err := e.svc.Status(context.Background(), e.p.Name)
		if err != nil {
			t.Fatal(err)
		}
		return st.PendingChanges
	}
}

// watchSettled tells whether the project's trees are watched and its cached answer
// is one the watch keeps, with no comparison running.
func watchSettled(s *Service, project string) bool {
	c := s.pendingCache
	c.mu.Lock()
	defer c.mu.Unlock()
	e, w := c.entries[project], c.watches[project]
	return e != nil && w != nil && w.ready && !w.failed && e.ok && e.watched && e.running == nil
}

// TestPendingChangesWatchedUntilChange: once the project's trees are watched, status
// serves pending_changes without comparing the trees however long it was idle (the
// clock passes the time bound), and the answer turns true soon after an edit in the
// workspace, also in a directory made after the watch started, and false as soon as
// a deploy of the edit has finished. The clock stands still otherwise, so only the
// watch can have noticed the edits.
func TestPendingChangesWatchedUntilChange(t *testing.T) {
	e := newDeployEnv(t, nil)
	walks, clock := countWalks(e)
	pending := pendingOf(t, e)

	if pending() {
		t.Fatal("pending_changes true before any edit")
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return watchSettled(e.svc, e.p.Name) })
	n := walks.Load()
	clock.advance(3 * DefaultPendingMaxAge) // idle for longer than the time bound
	for range 20 {
		if pending() {
			t.Fatal("pending_changes true before any edit")
		}
	}
	if got := walks.Load(); got != n {
		t.Errorf("20 statuses after an idle period compared the trees %d times; want none (served from the watched cache)", got-n)
	}

	sub := filepath.Join(e.p.Workspace, "content", "new")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sub, "page.txt"), "new page\n")
	edited := time.Now()
	dockertest.WaitFor(t, 5*time.Second, pending)
	t.Logf("pending_changes turned true %s after a new directory and file", time.Since(edited))

	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	dockertest.WaitFor(t, 30*time.Second, func() bool { _, busy := e.svc.Locks().Holder(e.p.Name); return !busy })
	if pending() {
		t.Error("pending_changes still true right after the deploy: the deploy did not drop the cached answer")
	}

	// content/new was made after the watch started: it is watched too.
	dockertest.WaitFor(t, 10*time.Second, func() bool { return watchSettled(e.svc, e.p.Name) })
	clock.advance(3 * DefaultPendingMaxAge)
	if pending() {
		t.Fatal("pending_changes true after the deploy, with no edit since")
	}
	writeFile(t, filepath.Join(sub, "page.txt"), "new page, second version\n")
	edited = time.Now()
	dockertest.WaitFor(t, 5*time.Second, pending)
	t.Logf("pending_changes turned true %s after an edit in the new directory", time.Since(edited))
}

// TestPendingChangesTimeBoundWhenUnwatched: when the files cannot be watched, status
// serves the cached answer within DefaultPendingMaxAge only (a burst of statuses
// compares the trees once), compares afresh once the answer is older, and a deploy
// still drops the answer when it ends.
func TestPendingChangesTimeBoundWhenUnwatched(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.svc.newWatcher = func() (*fsnotify.Watcher, error) { return nil, errors.New("test: no inotify") }
	walks, clock := countWalks(e)
	pending := pendingOf(t, e)

	for range 20 {
		if pending() {
			t.Fatal("pending_changes true before any edit")
		}
	}
	if n := walks.Load(); n != 1 {
		t.Errorf("20 statuses within the bound compared the trees %d times; want 1", n)
	}

	e.edit("content/index.txt", "content v2\n")
	if pending() || walks.Load() != 1 {
		t.Errorf("after an edit, within the bound: %d comparisons; want the cached answer (false) served", walks.Load())
	}
	clock.advance(DefaultPendingMaxAge)
	if !pending() {
		t.Error("pending_changes false after an edit, from an answer older than the bound")
	}

	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	dockertest.WaitFor(t, 30*time.Second, func() bool { _, busy := e.svc.Locks().Holder(e.p.Name); return !busy })
	if pending() {
		t.Error("pending_changes still true right after the deploy: the deploy did not drop the cached answer")
	}
	if watchSettled(e.svc, e.p.Name) {
		t.Error("the project is watched though its watcher could not be made")
	}
}

// TestPendingWatchesStopOnShutdown: the watches that statuses start (one per project,
// however many statuses) end with Shutdown, leaving no goroutine or inotify
// descriptor behind.
func TestPendingWatchesStopOnShutdown(t *testing.T) {
	goroutines, fds := runtime.NumGoroutine(), countOpenFiles(t)
	ps := projectMap{}
	for _, name := range []string{"a", "b", "c"} {
		ws, prod := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(ws, "dir", "sub", "f.txt"), "x\n")
		ps[name] = &projects.Project{Name: name, Workspace: ws, Production: prod}
	}
	svc := New(nil, ps, nil, nil, WithPendingChanges(func(context.Context, *projects.Project) (bool, error) { return false, nil }))
	ctx := context.Background()
	for range 3 {
		for name, p := range ps {
			svc.pendingChanges(ctx, p)
			dockertest.WaitFor(t, 10*time.Second, func() bool { return watchSettled(svc, name) })
		}
	}
	if got := len(svc.pendingCache.watches); got != len(ps) {
		t.Errorf("%d watches for %d projects", got, len(ps))
	}
	svc.Shutdown(ctx)
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		return runtime.NumGoroutine() <= goroutines && countOpenFiles(t) <= fds
	})
}

// countOpenFiles counts the process's open file descriptors.
func countOpenFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}
