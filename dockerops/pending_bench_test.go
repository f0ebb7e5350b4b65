package dockerops

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scar-dev/scar/bench/files/gentree"
	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// BenchmarkStatus10kFiles is the status of a project with 10 containers whose
// workspace and production hold the same 10 000 files (as after a deploy), with
// pending_changes computed as scar serve does: by the deploy plan of the file engine.
// "burst" is statuses back to back; "after-3s-idle" is the first status after 3 s
// without one (run it with -benchtime=5x: each iteration idles 3 s, untimed).
func BenchmarkStatus10kFiles(b *testing.B) {
	f := status10kFixture(b)
	ctx := b.Context()
	status := func(b *testing.B) {
		st, err := f.svc.Status(ctx, "bench")
		if err != nil || len(st.Containers) != 10 || st.PendingChanges {
			b.Fatalf("status: %+v, %v", st, err)
		}
	}
	b.Run("burst", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			status(b)
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})
	b.Run("after-3s-idle", func(b *testing.B) {
		status(b)
		var ds []time.Duration
		for b.Loop() {
			b.StopTimer()
			time.Sleep(3 * time.Second) // the idle period measured, not a wait for a condition
			b.StartTimer()
			start := time.Now()
			status(b)
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})
}

// status10kFixture is BenchmarkStatus10kFiles's project: 10 containers, and the same
// 10 000 files in workspace and production.
func status10kFixture(b *testing.B) *fixture {
	b.Helper()
	ws, prod := b.TempDir(), b.TempDir()
	for _, root := range []string{ws, prod} {
		if _, err := gentree.Generate(root, 10000, 1); err != nil {
			b.Fatal(err)
		}
	}
	sameTimes(b, ws, prod)
	db, err := store.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	fe, err := deployments.New(deployments.Config{StateDir: b.TempDir(), Journal: db})
	if err != nil {
		b.Fatal(err)
	}
	cp := dockertest.UniqueName(b, "bench")
	ps := projectMap{"bench": {Name: "bench", Workspace: ws, Production: prod, ComposeProject: cp, PrimaryContainer: "svc0"}}
	f := newFixture(b, ps, WithPendingChanges(func(ctx context.Context, p *projects.Project) (bool, error) {
		plan, err := fe.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}))
	b.Cleanup(func() { f.svc.Shutdown(context.Background()) })
	for i := range 10 {
		f.run(b, cp, fmt.Sprintf("svc%d", i), dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	}
	return f
}
