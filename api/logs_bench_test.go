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
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// BenchmarkLogsREST is GET /api/v1/projects/{p}/logs?lines=1000 (JSON) of the primary
// container of a project of 10, as the bench row asks it, wired as scar serve wires it:
// the request log (JSON, info), metrics, the audit entry in the state store, over a
// real HTTP connection kept alive. "service" is dockerops' Logs alone; "raw-engine-call"
// is the floor: the engine's logs call through the same client library, its body read.
func BenchmarkLogsREST(b *testing.B) {
	cp := dockertest.UniqueName(b, "benchlogs")
	cli := dockertest.Client(b)
	image := dockertest.BuildAppImage(b)
	dir := b.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	file := filepath.Join(dir, "projects.json")
	body := `{"app": {"workspace": "` + dir + `/ws", "production": "` + dir + `/prod", "compose_project": "` + cp + `", "auto_detect": true, "primary_container": "svc0", "health_timeout": "5s"}}`
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
	d.Audit = mustOpenStore(b)
	d.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	d.Projects = ps
	ops := dockerops.New(engine, ps, d.Metrics, d.Logger)
	b.Cleanup(func() { ops.Shutdown(context.Background()) })
	d.Ops = ops
	srv := httptest.NewServer(NewServer(d))
	b.Cleanup(srv.Close)

	var ids []string
	for i := range 10 {
		lines := "LOG_LINES=5"
		if i == 0 {
			lines = "LOG_LINES=500" // 500 to stdout and 500 to stderr
		}
		service := fmt.Sprintf("svc%d", i)
		ids = append(ids, dockertest.RunContainer(b, cli, dockertest.ContainerSpec{
			Name: dockertest.V2Name(cp, service, 1), Image: image,
			Labels: dockertest.ComposeLabels(cp, service, 1, ""), Env: []string{lines},
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
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/projects/app/logs?lines=1000", nil)
			req.Header.Set("Authorization", "Bearer "+readToken)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || len(data) < 50_000 {
				b.Fatalf("logs: %d %.300s %v", resp.StatusCode, data, err)
			}
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})

	b.Run("service", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		cpu := processCPU(b)
		for b.Loop() {
			start := time.Now()
			res, err := ops.Logs(ctx, "app", dockerops.LogsRequest{Lines: 1000, MaxBytes: DefaultMaxLogBytes})
			if err != nil || len(res.Lines) != 1000 {
				b.Fatalf("logs: %v", err)
			}
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})

	b.Run("raw-engine-call", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		cpu := processCPU(b)
		for b.Loop() {
			start := time.Now()
			rc, err := engine.ContainerLogs(ctx, ids[0], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: "1000"})
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n < 50_000 {
				b.Fatalf("logs: %d bytes, %v", n, err)
			}
			ds = append(ds, time.Since(start))
		}
		benchP50(b, ds)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}
