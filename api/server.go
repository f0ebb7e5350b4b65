// Package api is scar's HTTP surface: the REST API under /api/v1, the health, readiness
// and metrics endpoints, and the mount point of the Telegram webhook. Handlers are thin:
// each turns a request into one dockerops call and its result into JSON.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Operations are the dockerops calls the REST API makes.
type Operations interface {
	Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error)
	Logs(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error)
	Restart(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
	// PlanDeploy and Deploy check out, for a git project, the ref of dockerops.WithRef
	// and record the promotion of dockerops.WithPromotion.
	PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error)
	Deploy(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	Rollback(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	History(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error)
	Deployment(ctx context.Context, id string) (*dockerops.Deployment, error)
	CancelDeployment(ctx context.Context, id string, who dockerops.Actor) (*dockerops.Deployment, error)
	PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error)
}

// Projects lists the configured projects.
type Projects interface {
	Current() *projects.Config
}

// Auditor records and reads the audit log.
type Auditor interface {
	RecordAudit(ctx context.Context, e store.AuditEntry) error
	Audit(ctx context.Context, project string, since time.Time, limit int) ([]store.AuditEntry, error)
}

// Deps is everything the HTTP server needs, built in cmd/scar.
type Deps struct {
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	Ops      Operations
	Projects Projects
	Audit    Auditor
	Tokens   *Tokens
	// Ready answers nil when scar can serve: Docker answers and a config is loaded.
	Ready func(ctx context.Context) error
	// MetricsHandler serves /metrics.
	MetricsHandler http.Handler
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Webhook, when not nil, is mounted at WebhookPath (outside /api/v1 and its tokens:
	// it checks Telegram's secret itself).
	Webhook     http.Handler
	WebhookPath string
	// MaxBodyBytes caps request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxInFlightPerToken bounds the REST requests one token has running at once;
	// 0 means DefaultMaxInFlightPerToken.
	MaxInFlightPerToken int
	// MaxLogBytes caps the log text of one logs answer; 0 means DefaultMaxLogBytes.
	MaxLogBytes int
	// Events is the event watcher's feed behind GET /events and Incidents the store
	// behind GET /alerts; nil when production is not watched (both answer 503).
	Events    Events
	Incidents Incidents
	// EventsKeepAlive is how often an idle event stream sends a comment; 0 means
	// DefaultEventsKeepAlive.
	EventsKeepAlive time.Duration
	// Deploys follows deploys and rollbacks: GET /deployments/{id}/events and
	// ?wait=true of a deploy or rollback; nil answers those 503.
	Deploys DeploymentFollower
	// Follows starts the log follows of GET /projects/{project}/logs?follow=true; nil
	// means Ops when it can (a *dockerops.Service can).
	Follows LogFollower
	// FollowMax is how long one follow lasts at most (SCAR_FOLLOW_MAX); 0 means
	// dockerops.DefaultFollowMax.
	FollowMax time.Duration
	// Pushes deploys the pushes POST /hooks/git/{project} is told of; nil answers them
	// 503. Deliveries remembers their delivery ids; nil means Audit when it can (a
	// *store.DB can).
	Pushes     Pushes
	Deliveries Deliveries
	// Getenv reads the webhook secrets named by git.secret_env; nil means os.Getenv.
	Getenv func(string) string
	// SameRepository tells whether a push payload's repository URL names a project's
	// git.remote; nil means gitsource.SameRepository.
	SameRepository func(a, b string) bool
	// Stop, closed when scar begins to shut down, ends the event streams and follows, which
	// http.Server.Shutdown would otherwise wait for. nil: they end with their clients.
	Stop <-chan struct{}
}

// NewServer returns scar's whole HTTP handler.
func NewServer(d Deps) http.Handler {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.MaxInFlightPerToken <= 0 {
		d.MaxInFlightPerToken = DefaultMaxInFlightPerToken
	}
	if d.MaxLogBytes <= 0 {
		d.MaxLogBytes = DefaultMaxLogBytes
	}
	if d.EventsKeepAlive <= 0 {
		d.EventsKeepAlive = DefaultEventsKeepAlive
	}
	if d.Follows == nil {
		d.Follows, _ = d.Ops.(LogFollower)
	}
	if d.FollowMax <= 0 {
		d.FollowMax = dockerops.DefaultFollowMax
	}
	r := chi.NewRouter()
	r.Use(requestID)
	r.Use(clientIP(d.TrustedProxies))
	r.Use(logRequests(d.Logger, d.Metrics))
	r.Use(recoverPanics(d.Logger))

	// A push webhook's body has a limit of its own (HookMaxBodyBytes): git hosts send
	// the commits' details.
	r.Method(http.MethodPost, "/hooks/git/{project}", newGitHooks(d)) // git push webhooks; the project's secret authenticates (git_hooks.go)
	r.Group(func(r chi.Router) {
		r.Use(limitBody(d.MaxBodyBytes))
		r.Get("/healthz", handleHealthz())                     // process alive
		r.Get("/readyz", handleReadyz(d.Ready))                // Docker answers and config loaded
		r.Method(http.MethodGet, "/metrics", d.MetricsHandler) // Prometheus
		if d.Webhook != nil {
			r.Method(http.MethodPost, d.WebhookPath, d.Webhook) // Telegram updates
		}
		r.Mount("/api/v1", v1Routes(d))
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
	})
	return r
}

// v1Routes is the REST API; every route needs a bearer token, writes a full one. Every
// request is audited, reads included.
func v1Routes(d Deps) chi.Router {
	r := chi.NewRouter()
	audit := newAuditLog(d.Audit, d.Logger)
	r.Use(requireToken(d.Tokens, audit))
	r.Use(limitInFlight(newTokenLimiter(d.MaxInFlightPerToken)))
	r.Get("/projects", handleProjects(d.Projects, audit))                                                                         // list projects
	r.Get("/overview", handleOverview(d.Ops, audit))                                                                              // every project of every host at a glance (overview.go)
	r.Get("/projects/{project}/status", handleStatus(d.Ops, audit))                                                               // status as JSON
	r.Get("/projects/{project}/logs", handleLogs(d.Ops, d.Follows, d.FollowMax, d.EventsKeepAlive, d.Stop, audit, d.MaxLogBytes)) // logs, JSON or text/plain; ?follow=true streams new lines (logs_follow.go)
	r.Get("/projects/{project}/stats", handleStats(d.Ops, audit))                                                                 // CPU, memory, network, block I/O and PIDs per container
	r.With(requireFull(audit, "restart")).Post("/projects/{project}/restart", handleRestart(d.Ops, audit))                        // restart all or named containers
	r.With(requireFull(audit, "stop")).Post("/projects/{project}/stop", handleStopStart(d.Ops, audit, dockerops.OpStop))          // stop all or named containers
	r.With(requireFull(audit, "start")).Post("/projects/{project}/start", handleStopStart(d.Ops, audit, dockerops.OpStart))       // start them again, waiting for health
	follow := deployFollow{follower: d.Deploys, keepAlive: d.EventsKeepAlive, stop: d.Stop}
	r.Post("/projects/{project}/deploy", handleDeploy(d.Ops, follow, audit))                                          // plan (dry_run, any token) or start a deploy (full token); ?wait=true answers at its end
	r.With(requireFull(audit, "rollback")).Post("/projects/{project}/rollback", handleRollback(d.Ops, follow, audit)) // undo the last deploy; ?wait=true answers at its end
	r.Post("/projects/{project}/promote", handlePromote(d.Ops, follow, audit))                                        // deploy the commit another git project runs (promote.go); dry_run like deploy
	r.Get("/projects/{project}/deployments", handleHistory(d.Ops, audit))                                             // deploy history
	r.Get("/deployments/{id}", handleDeployment(d.Ops))                                                               // one deploy with its events
	r.Get("/deployments/{id}/events", handleDeploymentEvents(follow))                                                 // its events as they happen, then its end, Server-Sent Events
	r.With(requireFull(audit, "cancel")).Post("/deployments/{id}/cancel", handleCancel(d.Ops, audit))                 // cancel a running deploy: it rolls back
	r.With(requireFull(audit, "audit")).Get("/audit", handleAudit(d.Audit, audit))                                    // the audit log
	r.Get("/events", handleEvents(d.Projects, d.Events, d.EventsKeepAlive, d.Stop, audit))                            // container events and incidents, Server-Sent Events
	r.Get("/alerts", handleAlerts(d.Projects, d.Incidents, audit))                                                    // incidents, open first
	r.Get("/openapi.json", handleOpenAPI())                                                                           // this API's OpenAPI 3.1 description
	return r
}

func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func handleReadyz(ready func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
