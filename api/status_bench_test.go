package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// BenchmarkStatusREST is GET /api/v1/projects/{p}/status of a project with 10
// healthy containers, wired as scar serve wires it (benchServed), with the mutes in
// the state store and pending_changes from the file engine's plan of a small
// workspace and production. "service" is dockerops' Status alone, wired the same way;
// "raw-engine-calls" is the floor: the list and the 10 inspects, concurrently,
// through the same client library.
func BenchmarkStatusREST(b *testing.B) {
	dir := b.TempDir()
	ws, prod := filepath.Join(dir, "ws"), filepath.Join(dir, "prod")
	for _, d := range []string{ws, prod} {
		if err := os.MkdirAll(filepath.Join(d, "app"), 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 20 {
			if err := os.WriteFile(filepath.Join(d, "app", fmt.Sprintf("f%d.txt", i)), []byte("same\n"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Same times on both sides, as after a deploy: no pending changes.
	at := time.Now().Add(-time.Hour)
	for _, d := range []string{ws, prod} {
		filepath.WalkDir(d, func(path string, _ os.DirEntry, _ error) error { return os.Chtimes(path, at, at) })
	}
	var planCalls atomic.Int64
	s := newBenchServed(b, "benchrest", ws, prod, func(_ int, cs *dockertest.ContainerSpec) {
		cs.Env = []string{"LOG_LINES=5"}
		cs.Publish = map[string]string{"8000/tcp": ""}
	}, func(db *store.DB) []dockerops.Option {
		files, err := deployments.New(deployments.Config{StateDir: b.TempDir(), Journal: db})
		if err != nil {
			b.Fatal(err)
		}
		return []dockerops.Option{
			dockerops.WithPendingChanges(func(ctx context.Context, p *projects.Project) (bool, error) {
				planCalls.Add(1)
				plan, err := files.Plan(ctx, p)
				if err != nil {
					return false, err
				}
				return !plan.Empty(), nil
			}),
			dockerops.WithMutes(db),
		}
	})
	ctx := b.Context()
	hc := &http.Client{}

	b.Run("rest", func(b *testing.B) {
		benchLoop(b, func() { s.get(b, hc, "/api/v1/projects/app/status", 1000) })
		// The trees are compared when the watch starts, not per status: about 2 in all.
		b.ReportMetric(float64(planCalls.Load()), "pending-walks")
	})

	b.Run("service", func(b *testing.B) {
		benchLoop(b, func() {
			st, err := s.ops.Status(ctx, "app")
			if err != nil || len(st.Containers) != 10 {
				b.Fatalf("status: %v", err)
			}
		})
	})

	b.Run("raw-engine-calls", func(b *testing.B) {
		benchLoop(b, func() {
			list, err := s.engine.ContainerList(ctx, client.ContainerListOptions{
				All: true, Filters: client.Filters{}.Add("label", "com.docker.compose.project="+s.cp),
			})
			if err != nil || len(list.Items) != 10 {
				b.Fatalf("list: %v", err)
			}
			var wg sync.WaitGroup
			for _, c := range list.Items {
				wg.Go(func() {
					if _, err := s.engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		})
	})
}

// BenchmarkOverviewREST is GET /api/v1/overview of the same project of 10 healthy
// containers beside GET …/status of it: the overview is one list call a host.
func BenchmarkOverviewREST(b *testing.B) {
	dir := b.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	s := newBenchServed(b, "benchov", filepath.Join(dir, "ws"), filepath.Join(dir, "prod"), func(int, *dockertest.ContainerSpec) {},
		func(db *store.DB) []dockerops.Option {
			return []dockerops.Option{dockerops.WithMutes(db), dockerops.WithIncidents(db)}
		})
	hc := &http.Client{}
	b.Run("overview", func(b *testing.B) { benchLoop(b, func() { s.get(b, hc, "/api/v1/overview", 200) }) })
	b.Run("status", func(b *testing.B) { benchLoop(b, func() { s.get(b, hc, "/api/v1/projects/app/status", 1000) }) })
}
