package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// newWatcher builds the event watcher of the Docker host scar serves (one host
// today: the environment's DOCKER_HOST), for the projects of that host (daemonHost,
// as the Service compares docker_host with it). Its host label is the setting as
// given, "" for the default.
//
// The watcher is the source the other parts of watching production take their
// events from, with Subscribe(project): the Telegram alert notifier (to be woken
// when an incident changes; it also sweeps the store) and the REST event stream.
func newWatcher(host, daemonHost string, engine dockerops.WatchEngine, ps *projects.Store, db *store.DB, m *metrics.Metrics, logger *slog.Logger) *dockerops.Watcher {
	cfg := dockerops.WatcherConfig{
		Host:      host,
		Engine:    engine,
		Projects:  dockerops.ProjectsOfHost(ps, daemonHost),
		Incidents: db,
		Metrics:   m,
		Logger:    logger,
	}
	if tuneWatcher != nil {
		tuneWatcher(&cfg)
	}
	return dockerops.NewWatcher(cfg)
}

// tuneWatcher, set only by tests of a serve run in-process, shortens the watcher's
// tunables (the unreachable threshold, the stable period), which are minutes in
// production and no user setting.
var tuneWatcher func(*dockerops.WatcherConfig)

// runWatcher runs w until stop is called (not until serve's context ends: a
// shutdown keeps watching while deploys finish) and returns the function that stops
// it and waits until it has.
func runWatcher(ctx context.Context, w *dockerops.Watcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
