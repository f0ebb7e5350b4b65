package dockerops

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// TestPendingChangesCachedWithinBound: status does not compare the trees on every
// call (a burst of statuses walks them at most twice), yet pending_changes turns true
// within the stated bound after a workspace edit, and false as soon as a deploy of
// the edit has finished.
func TestPendingChangesCachedWithinBound(t *testing.T) {
	e := newDeployEnv(t, nil)
	var walks atomic.Int32
	e.svc.pending = func(ctx context.Context, p *projects.Project) (bool, error) {
		walks.Add(1)
		plan, err := e.svc.files.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}
	ctx := context.Background()
	pending := func() bool {
		t.Helper()
		st, err := e.svc.Status(ctx, e.p.Name)
		if err != nil {
			t.Fatal(err)
		}
		return st.PendingChanges
	}

	start := time.Now()
	for range 20 {
		if pending() {
			t.Fatal("pending_changes true before any edit")
		}
	}
	if n, took := walks.Load(), time.Since(start); n > 2 || (n == 2 && took < DefaultPendingMaxAge/2) {
		t.Errorf("20 statuses in %s compared the trees %d times; want them served from the cache", took, n)
	}

	e.edit("content/index.txt", "content v2\n")
	edited := time.Now()
	dockertest.WaitFor(t, DefaultPendingMaxAge+2*time.Second, pending)
	t.Logf("pending_changes turned true %s after the edit (bound %s)", time.Since(edited), DefaultPendingMaxAge)

	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	dockertest.WaitFor(t, 30*time.Second, func() bool { _, busy := e.svc.Locks().Holder(e.p.Name); return !busy })
	if pending() {
		t.Error("pending_changes still true right after the deploy: the deploy did not drop the cached answer")
	}
}
