package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/scar-dev/scar/metrics"
)

// containerMetricsTimeout bounds the engine reads of one scrape's per-container
// series (SCAR_CONTAINER_METRICS), well under Prometheus's default scrape timeout of
// 10s: an engine that is slow or down costs the scrape these series, not the scrape.
// A variable only so that tests can shorten it.
var containerMetricsTimeout = 5 * time.Second

// containerSampler reads the per-container samples of named projects;
// *dockerops.Service satisfies it.
type containerSampler interface {
	ContainerSamples(ctx context.Context, projectNames []string) ([]metrics.ContainerSample, error)
}

// containerCollector serves the per-container series of every configured project,
// as the projects file is at each scrape (a reload adds and drops projects).
func containerCollector(ops containerSampler, projectNames interface{ Names() []string }, logger *slog.Logger) *metrics.ContainerCollector {
	source := func(ctx context.Context) ([]metrics.ContainerSample, error) {
		return ops.ContainerSamples(ctx, projectNames.Names())
	}
	return metrics.NewContainerCollector(source, containerMetricsTimeout, func(err error) {
		logger.Warn("container metrics: some series left out of this scrape", slog.Any("error", err))
	})
}
