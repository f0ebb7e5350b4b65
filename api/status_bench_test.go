package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// BenchmarkStatusREST is GET /api/v1/projects/{p}/status of a project with 10
// healthy containers, wired as scar serve wires it: the request log (JSON, info),
// metrics, the audit entry and the mutes in the state store, pending_changes from the
// file engine's plan of a small workspace and production, over a real HTTP
// connection kept alive. "service" is dockerops' Status alone, wired the same way;
// "raw-engine-calls" is the floor: the list and the 10
// inspects, concurrently, through the same client library.
func BenchmarkStatusREST(b *testing.B) {
	cp := dockertest.UniqueName(b, "benchrest")
	cli := dockertest.Client(b)
	image := dockertest.BuildAppImage(b)
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
	file := filepath.Join(dir, "projects.json")
	body := `{"app": {"workspace": "` + ws + `", "production": "` + prod + `", "compose_project": "` + cp + `", "auto_detect": true, "primary_container": "svc0", "health_timeout": "5s"}}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	ps, err := projects.NewStore(file, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := dockerops.NewClient("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { engine.Close() })
	d := testDeps(b, nil)
	db := mustOpenStore(b)
	d.Audit = db
	d.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	d.Projects = ps
	files, err := deployments.New(deployments.Config{StateDir: b.TempDir(), Journal: db})
	if err != nil {
		b.Fatal(err)
	}
	var planCalls atomic.Int64
	ops := dockerops.New(engine, ps, d.Metrics, d.Logger,
		dockerops.WithPendingChanges(func(ctx context.Context, p *projects.Project) (bool, error) {
			planCalls.Add(1)
			plan, err := files.Plan(ctx, p)
			if err != nil {
				return false, err
			}
			return !plan.Empty(), nil
		}),
		dockerops.WithMutes(db))
	b.Cleanup(func() { ops.Shutdown(context.Background()) })
	d.Ops = ops
	srv := httptest.NewServer(NewServer(d))
	b.Cleanup(srv.Close)

	var ids []string
	for i := range 10 {
		service := fmt.Sprintf("svc%d", i)
		ids = append(ids, dockertest.RunContainer(b, cli, dockertest.ContainerSpec{
			Name: dockertest.V2Name(cp, service, 1), Image: image,
			Labels: dockertest.ComposeLabels(cp, service, 1, ""), Env: []string{"LOG_LINES=5"},
			Publish: map[string]string{"8000/tcp": ""},
		}))
	}
	for _, id := range ids {
		dockertest.WaitHealth(b, cli, id, dockerops.HealthHealthy, 30*time.Second)
	}
	ctx := b.Context()
	hc := &http.Client{}

	b.Run("rest", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		cpu := processCPU(b)
		for b.Loop() {
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/projects/app/status", nil)
			req.Header.Set("Authorization", "Bearer "+readToken)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || len(data) < 1000 {
				b.Fatalf("status: %d %s %v", resp.StatusCode, data, err)
			}
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		// The trees are compared when the watch starts, not per status: about 2 in all.
		b.ReportMetric(float64(planCalls.Load()), "pending-walks")
	})

	b.Run("service", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		cpu := processCPU(b)
		for b.Loop() {
			start := time.Now()
			st, err := ops.Status(ctx, "app")
			if err != nil || len(st.Containers) != 10 {
				b.Fatalf("status: %v", err)
			}
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})

	b.Run("raw-engine-calls", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		cpu := processCPU(b)
		for b.Loop() {
			start := time.Now()
			list, err := engine.ContainerList(ctx, client.ContainerListOptions{
				All: true, Filters: client.Filters{}.Add("label", "com.docker.compose.project="+cp),
			})
			if err != nil || len(list.Items) != 10 {
				b.Fatalf("list: %v", err)
			}
			var wg sync.WaitGroup
			for _, c := range list.Items {
				wg.Go(func() {
					if _, err := engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// benchP50 adds the median of the iterations' durations to the benchmark's output.
func benchP50(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	}
}

// processCPU is the CPU time (user and system) the test process has used: on a
// shared machine it tells scar's own cost apart from the time spent waiting.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
