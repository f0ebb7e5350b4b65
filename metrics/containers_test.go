package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func TestContainerCollectorSeries(t *testing.T) {
	samples := []ContainerSample{
		{Project: "shop", Container: "shop-web-1", Service: "web", Found: true, Running: true, Health: "healthy", RestartCount: 2, CPUSeconds: 1.5, MemoryBytes: 4096},
		{Project: "shop", Container: "shop-web-1", Service: "web", Found: true, Running: true, Health: "healthy"}, // named twice
		{Project: "shop", Container: "shop-job-1", Service: "job", Found: true, Health: "none"},
		{Project: "shop", Container: "ghost", Health: "none"},
	}
	c := NewContainerCollector(func(context.Context) ([]ContainerSample, error) { return samples, nil }, time.Minute, nil)
	want := `
# HELP scar_container_cpu_seconds_total CPU time the running container has used since it started.
# TYPE scar_container_cpu_seconds_total counter
scar_container_cpu_seconds_total{container="shop-web-1",project="shop",service="web"} 1.5
# HELP scar_container_health The container's health: 1 on the series of its health now (healthy, unhealthy, starting, none), 0 on the others.
# TYPE scar_container_health gauge
scar_container_health{container="shop-job-1",health="healthy",project="shop",service="job"} 0
scar_container_health{container="shop-job-1",health="none",project="shop",service="job"} 1
scar_container_health{container="shop-job-1",health="starting",project="shop",service="job"} 0
scar_container_health{container="shop-job-1",health="unhealthy",project="shop",service="job"} 0
scar_container_health{container="shop-web-1",health="healthy",project="shop",service="web"} 1
scar_container_health{container="shop-web-1",health="none",project="shop",service="web"} 0
scar_container_health{container="shop-web-1",health="starting",project="shop",service="web"} 0
scar_container_health{container="shop-web-1",health="unhealthy",project="shop",service="web"} 0
# HELP scar_container_memory_bytes Memory the running container uses, less the inactive page cache, as docker stats shows it.
# TYPE scar_container_memory_bytes gauge
scar_container_memory_bytes{container="shop-web-1",project="shop",service="web"} 4096
# HELP scar_container_restarts_total Times the engine restarted the container (its restart count; a recreated container starts again at 0).
# TYPE scar_container_restarts_total counter
scar_container_restarts_total{container="shop-job-1",project="shop",service="job"} 0
scar_container_restarts_total{container="shop-web-1",project="shop",service="web"} 2
# HELP scar_container_up 1 while the container of a configured project is running, 0 when it is not or does not exist.
# TYPE scar_container_up gauge
scar_container_up{container="ghost",project="shop",service=""} 0
scar_container_up{container="shop-job-1",project="shop",service="job"} 0
scar_container_up{container="shop-web-1",project="shop",service="web"} 1
`
	if got := exposition(t, c); got != strings.TrimPrefix(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestContainerCollectorTimeout: a source that does not answer costs the scrape its
// timeout and these series, and the collector says why.
func TestContainerCollectorTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var heard error
	c := NewContainerCollector(func(ctx context.Context) ([]ContainerSample, error) {
		<-release // an engine that ignores even the cancellation
		return []ContainerSample{{Project: "late", Container: "late", Found: true}}, nil
	}, 50*time.Millisecond, func(err error) { heard = err })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 0 {
		t.Errorf("series after a timeout: %v", mfs)
	}
	if !errors.Is(heard, context.DeadlineExceeded) {
		t.Errorf("onError heard %v, want the deadline", heard)
	}
}

// TestContainerCollectorServesWhatItRead: a project that could not be read leaves
// the others' series.
func TestContainerCollectorServesWhatItRead(t *testing.T) {
	broken := errors.New("project b: docker unavailable")
	var heard error
	c := NewContainerCollector(func(context.Context) ([]ContainerSample, error) {
		return []ContainerSample{{Project: "a", Container: "a-web-1", Found: true, Running: true, Health: "none"}}, broken
	}, time.Minute, func(err error) { heard = err })
	if got := exposition(t, c); strings.Count(got, "scar_container_up{") != 1 {
		t.Errorf("want one scar_container_up series:\n%s", got)
	}
	if !errors.Is(heard, broken) {
		t.Errorf("onError heard %v", heard)
	}
}

// exposition gathers c on a pedantic registry and returns the text format.
func exposition(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
