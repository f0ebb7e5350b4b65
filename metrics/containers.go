package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ContainerSample is what the per-container series (SCAR_CONTAINER_METRICS) say of
// one container of a configured project.
type ContainerSample struct {
	Project   string
	Container string
	Service   string // the Compose service, "" for a plain container
	// Found is false for a container the project lists that does not exist: it has
	// scar_container_up 0 and no other series.
	Found        bool
	Running      bool
	Health       string // healthy, unhealthy, starting or none
	RestartCount int
	// CPUSeconds is the CPU time the container has used since it started.
	CPUSeconds float64
	// MemoryBytes is its memory use less the inactive page cache, as docker stats shows.
	MemoryBytes uint64
}

// ContainerSource reads the samples of the configured projects' containers. It
// returns what it could read with an error for the rest.
type ContainerSource func(ctx context.Context) ([]ContainerSample, error)

// healthValues are the values of scar_container_health's health label; each
// container has one series per value, 1 for its health now, so that a change shows
// as a value rather than as a series that appears and one that goes stale.
var healthValues = []string{"healthy", "unhealthy", "starting", "none"}

// ContainerCollector serves per-container series of the configured projects,
// read from the engine at scrape time within a timeout: an engine that is slow or
// down costs the scrape the timeout and these series, never the rest of /metrics.
type ContainerCollector struct {
	source  ContainerSource
	timeout time.Duration
	onError func(error)

	up, health, restarts, cpu, memory *prometheus.Desc
}

// NewContainerCollector returns a collector of source's samples; onError (may be
// nil) hears of a collection that failed or ran out of time.
func NewContainerCollector(source ContainerSource, timeout time.Duration, onError func(error)) *ContainerCollector {
	labels := []string{"project", "container", "service"}
	return &ContainerCollector{
		source:  source,
		timeout: timeout,
		onError: onError,
		up: prometheus.NewDesc("scar_container_up",
			"1 while the container of a configured project is running, 0 when it is not or does not exist.", labels, nil),
		health: prometheus.NewDesc("scar_container_health",
			"The container's health: 1 on the series of its health now (healthy, unhealthy, starting, none), 0 on the others.",
			append(labels, "health"), nil),
		restarts: prometheus.NewDesc("scar_container_restarts_total",
			"Times the engine restarted the container (its restart count; a recreated container starts again at 0).", labels, nil),
		cpu: prometheus.NewDesc("scar_container_cpu_seconds_total",
			"CPU time the running container has used since it started.", labels, nil),
		memory: prometheus.NewDesc("scar_container_memory_bytes",
			"Memory the running container uses, less the inactive page cache, as docker stats shows it.", labels, nil),
	}
}

// Describe sends the descriptions of every series the collector can serve.
func (c *ContainerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.health, c.restarts, c.cpu, c.memory} {
		ch <- d
	}
}

// Collect reads the samples and sends their series. When the source has not
// answered within the timeout it sends nothing; the source's calls are cancelled and
// it finishes on its own.
func (c *ContainerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type answer struct {
		samples []ContainerSample
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		s, err := c.source(ctx)
		done <- answer{s, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		a.err = context.Cause(ctx)
	}
	if a.err != nil && c.onError != nil {
		c.onError(a.err)
	}
	// A container that two entries of a project designate is served once: a
	// duplicate series would make the whole scrape fail.
	seen := make(map[[2]string]bool, len(a.samples))
	for _, s := range a.samples {
		key := [2]string{s.Project, s.Container}
		if seen[key] {
			continue
		}
		seen[key] = true
		labels := []string{s.Project, s.Container, s.Service}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(s.Running), labels...)
		if !s.Found {
			continue
		}
		for _, h := range healthValues {
			ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, boolValue(s.Health == h), append(labels, h)...)
		}
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(s.RestartCount), labels...)
		if s.Running {
			ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, s.CPUSeconds, labels...)
			ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(s.MemoryBytes), labels...)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
