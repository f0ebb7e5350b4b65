package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scar-dev/scar/api"
	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// shutdownGrace is how long running requests and deploys get to finish or reach a safe
// point after SIGINT/SIGTERM; a deploy still running then is rolled back. A variable
// only so that tests can shorten it.
var shutdownGrace = 30 * time.Second

// serve builds every dependency and serves until ctx ends.
func serve(ctx context.Context, cfg *config, logOut io.Writer) error {
	logger := newLogger(cfg.LogFormat, logOut)

	projectStore, err := projects.NewStore(cfg.ProjectsFile, cfg.DefaultProject, logger,
		projects.WithCheckoutRoot(projects.CheckoutsDir(cfg.StateDir)))
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.StateDir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := privateBackups(cfg.StateDir); err != nil {
		return err
	}

	docker, err := dockerops.NewClient(cfg.DockerHost)
	if err != nil {
		return err
	}
	defer docker.Close()
	files, err := deployments.New(deployments.Config{StateDir: cfg.StateDir, Journal: db, Logger: logger})
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, currentVersion())
	m.TrackProjects(projectStore.Names) // every project's series at 0, also after a reload

	// Built before the Service so that its restarts, deploys and rollbacks (and the
	// recovery just below) are marked as scar's own from the start; it runs from
	// when scar serves until the end of the shutdown.
	watcher := newWatcher(cfg.DockerHost, docker.DaemonHost(), docker, projectStore, db, m, logger)
	ops := dockerops.New(docker, projectStore, m, logger,
		dockerops.WithWatcher(watcher),
		dockerops.WithDeploys(docker, files, db, dockerops.NewCompose(cfg.ComposeCommand, dockerops.ComposeDockerHost(cfg.DockerHost), dockerops.ComposeEnviron(cfg.environ))),
		dockerops.WithPendingChanges(pendingChanges(files)),
		dockerops.WithDockerHost(docker.DaemonHost()),
		dockerops.WithMutes(db),
		dockerops.WithIncidents(db),
		dockerops.WithGitSource(gitsource.New(gitsource.Config{
			Root: projects.CheckoutsDir(cfg.StateDir), Environ: cfg.environ, Timeout: cfg.GitTimeout,
		})),
	)
	if cfg.ContainerMetrics {
		reg.MustRegister(containerCollector(ops, projectStore, logger))
	}
	warnMisconfigured(ctx, projectStore.All(), logger)
	// A deploy that a crash cut short is undone before anything else runs.
	if err := ops.Recover(ctx); err != nil {
		logger.Error("recovering interrupted deploys", slog.Any("error", err))
	}

	stopRetention := startRetention(ctx, db, cfg.retention, logger)
	defer stopRetention()

	tokens, generated := apiTokens(cfg)
	if generated != "" {
		logger.Warn("no SCAR_API_TOKENS or SCAR_API_READ_TOKENS set: generated a full-access token for this run; set SCAR_API_TOKENS to keep one",
			slog.String("token", generated))
	}

	bot, err := newTelegram(cfg, ops, projectStore, db, m, logger)
	if err != nil {
		return err
	}

	deps := api.Deps{
		Logger:         logger,
		Metrics:        m,
		Ops:            ops,
		Projects:       projectStore,
		Audit:          db,
		Tokens:         tokens,
		Ready:          readiness(ops, projectStore),
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		TrustedProxies: cfg.trustedPrefixes,
		Events:         watcher,
		Incidents:      db,
		Deploys:        ops,
		Follows:        ops,
		FollowMax:      cfg.FollowMax,
		Pushes:         ops,
		Deliveries:     db,
		// Webhook secrets are read from the environment scar was started with, when a
		// push arrives, as git.secret_env names them.
		Getenv: envLookup(cfg.environ),
	}
	// The event streams end when the shutdown begins: http.Server.Shutdown waits for
	// every request, and a stream would otherwise last until its client hangs up.
	stopStreams := make(chan struct{})
	deps.Stop = stopStreams
	if bot != nil && cfg.TelegramMode == "webhook" {
		deps.Webhook, deps.WebhookPath = bot.WebhookHandler(), cfg.TelegramWebhookPath
	}
	srv := &http.Server{
		Handler:           api.NewServer(deps),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a restart extends its own deadline
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(stopStreams) })
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (SCAR_LISTEN_ADDR): %w", cfg.ListenAddr, err)
	}
	logger.Info("scar serving", slog.String("version", currentVersion()), slog.String("addr", ln.Addr().String()),
		slog.String("projects_file", cfg.ProjectsFile), slog.Any("projects", projectStore.Names()),
		slog.Bool("telegram", bot != nil), slog.String("telegram_mode", cfg.TelegramMode))

	stopWatcher := runWatcher(ctx, watcher)
	defer stopWatcher()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	go projectStore.Watch(ctx, 2*time.Second)
	go reloadOnHangup(ctx, projectStore, logger)
	if bot != nil {
		go startTelegram(ctx, bot, cfg.TelegramMode, logger)
		// Alerts go out as incidents happen; the notifier's sweep of the store every
		// few seconds is the safety net, not the path.
		stopPokes := startAlertPokes(ctx, watcher.Subscribe, bot.PokeAlerts)
		defer stopPokes()
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Duration("grace", shutdownGrace))
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if bot != nil {
		if err := bot.Shutdown(graceCtx); err != nil {
			logger.Warn("telegram shutdown", slog.Any("error", err))
		}
	}
	if err := srv.Shutdown(graceCtx); err != nil {
		logger.Warn("http shutdown", slog.Any("error", err))
	}
	ops.Shutdown(graceCtx)
	stopWatcher()
	logger.Info("stopped")
	return nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// apiTokens builds the token set. The API is never open: with no token configured, a
// random full token is made for this run and returned to be shown once.
func apiTokens(cfg *config) (*api.Tokens, string) {
	if len(cfg.APITokens)+len(cfg.APIReadTokens) > 0 {
		return api.NewTokens(cfg.APITokens, cfg.APIReadTokens), ""
	}
	b := make([]byte, 24)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	return api.NewTokens([]string{token}, nil), token
}

// readiness is /readyz: a config is loaded and Docker answers.
func readiness(ops *dockerops.Service, ps *projects.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		if ps.Current() == nil {
			return errors.New("no projects file loaded")
		}
		return ops.Ping(ctx)
	}
}

// reloadOnHangup reloads the projects file on SIGHUP; a bad file keeps the last good one.
func reloadOnHangup(ctx context.Context, ps *projects.Store, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := ps.Reload(); err == nil {
				logger.Info("projects file reloaded on SIGHUP")
			}
		}
	}
}

// pendingChanges tells status whether the workspace differs from production: the
// deploy plan, which compares sizes and mtimes first and hashes only what differs.
func pendingChanges(files *deployments.Engine) dockerops.PendingFunc {
	return func(ctx context.Context, p *projects.Project) (bool, error) {
		plan, err := files.Plan(ctx, p)
		if err != nil {
			return false, err
		}
		return !plan.Empty(), nil
	}
}

// envLookup reads a variable of environ ("KEY=value" entries; the last of a key wins),
// as os.Getenv reads the process's.
func envLookup(environ []string) func(string) string {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return func(name string) string { return vars[name] }
}
