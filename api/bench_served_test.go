package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// benchServed is project "app" of 10 healthy containers (svc0 … svc9 of a Compose
// project, svc0 primary) served as scar serve serves it: the request log (JSON,
// info), metrics, the audit entry in the state store, over a real HTTP server.
type benchServed struct {
	srv    *httptest.Server
	ops    *dockerops.Service
	engine *client.Client
	db     *store.DB
	cp     string
	ids    []string
}

// newBenchServed starts it: spec(i) completes container i's spec (its env, ports);
// options gives the Service's options, given the store.
func newBenchServed(b *testing.B, prefix, ws, prod string, spec func(i int, s *dockertest.ContainerSpec), options func(db *store.DB) []dockerops.Option) *benchServed {
	b.Helper()
	s := &benchServed{cp: dockertest.UniqueName(b, prefix)}
	cli := dockertest.Client(b)
	image := dockertest.BuildAppImage(b)
	file := filepath.Join(b.TempDir(), "projects.json")
	body := `{"app": {"workspace": "` + ws + `", "production": "` + prod + `", "compose_project": "` + s.cp + `", "auto_detect": true, "primary_container": "svc0", "health_timeout": "5s"}}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	ps, err := projects.NewStore(file, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	if s.engine, err = dockerops.NewClient(""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.engine.Close() })
	d := testDeps(b, nil)
	s.db = mustOpenStore(b)
	d.Audit = s.db
	d.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	d.Projects = ps
	s.ops = dockerops.New(s.engine, ps, d.Metrics, d.Logger, options(s.db)...)
	b.Cleanup(func() { s.ops.Shutdown(context.Background()) })
	d.Ops = s.ops
	s.srv = httptest.NewServer(NewServer(d))
	b.Cleanup(s.srv.Close)

	for i := range 10 {
		service := "svc" + string(rune('0'+i))
		cs := dockertest.ContainerSpec{Name: dockertest.V2Name(s.cp, service, 1), Image: image, Labels: dockertest.ComposeLabels(s.cp, service, 1, "")}
		spec(i, &cs)
		s.ids = append(s.ids, dockertest.RunContainer(b, cli, cs))
	}
	for _, id := range s.ids {
		dockertest.WaitHealth(b, cli, id, dockerops.HealthHealthy, 30*time.Second)
	}
	return s
}

// get asks path of the server with a read token, failing unless the answer is 200
// and at least minLen bytes long.
func (s *benchServed) get(b *testing.B, hc *http.Client, path string, minLen int) {
	req, _ := http.NewRequestWithContext(b.Context(), "GET", s.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(data) < minLen {
		b.Fatalf("GET %s: %d %.300s %v", path, resp.StatusCode, data, err)
	}
}

// benchLoop runs op for each iteration and reports, beside ns/op and allocations,
// the median iteration (p50-µs) and the CPU the process used per iteration
// (cpu-µs/op): on a shared machine that tells scar's own cost from the waiting.
func benchLoop(b *testing.B, op func()) {
	b.ReportAllocs()
	var ds []time.Duration
	cpu := processCPU(b)
	for b.Loop() {
		start := time.Now()
		op()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	}
	b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
