package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
)

// TestContainerMetrics serves /metrics from a real scar with SCAR_CONTAINER_METRICS
// on and off. On: promtool accepts the exposition, and it has the series of the
// configured project's containers (a running one with CPU and memory, a stopped one)
// and none of a container of a project scar does not manage. Off: no per-container
// series. With the engine stalling, the scrape still answers, without them.
func TestContainerMetrics(t *testing.T) {
	promtool := promtoolPath(t)
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	ours, theirs := dockertest.UniqueName(t, "cmours"), dockertest.UniqueName(t, "cmtheirs")
	web := dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: dockertest.V2Name(ours, "web", 1), Image: image,
		Labels: dockertest.ComposeLabels(ours, "web", 1, "")})
	done := dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: dockertest.V2Name(ours, "job", 1), Image: image,
		Labels: dockertest.ComposeLabels(ours, "job", 1, ""), Env: []string{"EXIT_AT_START=1"}})
	dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: dockertest.V2Name(theirs, "web", 1), Image: image,
		Labels: dockertest.ComposeLabels(theirs, "web", 1, "")})
	dockertest.WaitHealth(t, cli, web, dockerops.HealthHealthy, 30*time.Second)
	dockertest.WaitExited(t, cli, done, 30*time.Second)

	dir := t.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	projects := projectsFile(t, fmt.Sprintf(`{"shop": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true}}`,
		filepath.Join(dir, "ws"), filepath.Join(dir, "prod"), ours))
	var stall atomic.Bool
	proxy := engineproxy.New(t, engineproxy.WithHook(func(ctx context.Context, r engineproxy.Request) {
		if stall.Load() && strings.HasPrefix(r.Path, "/containers/") {
			<-ctx.Done() // an engine that takes no notice of the scrape's deadline
		}
	}))
	containerMetricsTimeout = 2 * time.Second
	t.Cleanup(func() { containerMetricsTimeout = 5 * time.Second })

	webName, jobName := dockertest.V2Name(ours, "web", 1), dockertest.V2Name(ours, "job", 1)
	t.Run("on", func(t *testing.T) {
		s := startServe(t, "SCAR_PROJECTS_FILE="+projects, "SCAR_API_TOKENS="+e2eToken, "DOCKER_HOST="+proxy.Host(), "SCAR_CONTAINER_METRICS=true")
		body := scrapeMetrics(t, s)
		checkMetrics(t, promtool, body)
		labels := func(name, service string) string {
			return fmt.Sprintf(`{container=%q,project="shop",service=%q}`, name, service)
		}
		for _, want := range []string{
			"scar_container_up" + labels(webName, "web") + " 1",
			"scar_container_up" + labels(jobName, "job") + " 0",
			`scar_container_health{container="` + webName + `",health="healthy",project="shop",service="web"} 1`,
			`scar_container_health{container="` + jobName + `",health="none",project="shop",service="job"} 1`,
			"scar_container_restarts_total" + labels(webName, "web") + " 0",
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("no %s", want)
			}
		}
		for _, name := range []string{"scar_container_cpu_seconds_total", "scar_container_memory_bytes"} {
			if v := seriesValue(t, body, name+labels(webName, "web")); v <= 0 {
				t.Errorf("%s of web = %v, want > 0", name, v)
			}
			if strings.Contains(body, name+labels(jobName, "job")) {
				t.Errorf("%s of the stopped job", name)
			}
		}
		if strings.Contains(body, theirs) {
			t.Errorf("series of a project scar does not manage (%s)", theirs)
		}

		stall.Store(true)
		defer stall.Store(false)
		start := time.Now()
		body = scrapeMetrics(t, s)
		t.Logf("scrape with the engine stalled answered in %v (timeout %v)", time.Since(start).Round(time.Millisecond), containerMetricsTimeout)
		if strings.Contains(body, "scar_container_up") || !strings.Contains(body, "scar_operation_duration_seconds") {
			t.Errorf("with the engine stalled, want scar's other series and no per-container ones")
		}
		checkMetrics(t, promtool, body)
	})
	t.Run("off", func(t *testing.T) {
		s := startServe(t, "SCAR_PROJECTS_FILE="+projects, "SCAR_API_TOKENS="+e2eToken, "DOCKER_HOST="+proxy.Host())
		body := scrapeMetrics(t, s)
		// scar_container_events_total is the watcher's, always on: it counts the
		// engine's events, which other tests' containers make too.
		for _, name := range []string{"scar_container_up", "scar_container_health", "scar_container_restarts_total",
			"scar_container_cpu_seconds_total", "scar_container_memory_bytes"} {
			if strings.Contains(body, name) {
				t.Errorf("%s without SCAR_CONTAINER_METRICS", name)
			}
		}
	})
}

// promtoolPath finds Prometheus's promtool; a run that requires Docker requires it too.
func promtoolPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("SCAR_TEST_DOCKER") == "required" {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	t.Skipf("promtool not found (apt-get install prometheus); skipping: %v", err)
	return ""
}

// scrapeMetrics GETs /metrics, giving up long after any scrape timeout of scar's.
func scrapeMetrics(t *testing.T, s *server) string {
	t.Helper()
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

// checkMetrics runs promtool check metrics on an exposition.
func checkMetrics(t *testing.T, promtool, body string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

// seriesValue is the value of the series written exactly as series, -1 when absent.
func seriesValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}
