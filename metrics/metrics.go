// Package metrics defines scar's Prometheus collectors. They are registered on the
// registerer passed to New, never on the global one.
package metrics

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcome label values.
const (
	OutcomeSuccess = "success"
	OutcomeError   = "error"
)

// Metrics holds every scar_* collector.
type Metrics struct {
	// OperationDuration times status, logs, restart, deploy and rollback.
	OperationDuration *prometheus.HistogramVec
	// OperationsInFlight counts operations running now.
	OperationsInFlight *prometheus.GaugeVec
	// DeploymentsTotal counts deploys by outcome: success, failed_rolled_back,
	// rollback_failed, nothing_to_do, cancelled (DeployOutcomes).
	DeploymentsTotal *prometheus.CounterVec
	// DeployStageDuration times each deploy stage.
	DeployStageDuration *prometheus.HistogramVec
	// TelegramUpdates counts incoming updates by kind and outcome.
	TelegramUpdates *prometheus.CounterVec
	// TelegramRequests counts outgoing Bot API calls by method and outcome.
	TelegramRequests *prometheus.CounterVec
	// HTTPRequests counts REST and webhook requests by route and status code.
	HTTPRequests *prometheus.CounterVec
	// BuildInfo is always 1 and carries the version labels.
	BuildInfo *prometheus.GaugeVec
	// ContainerEvents counts the container events the event watcher received, by
	// project ("" for a container of no configured project) and action.
	ContainerEvents *prometheus.CounterVec
	// EventStreamUp is 1 while the event watcher of a Docker host follows its event
	// stream, 0 while it is down or reconnecting.
	EventStreamUp *prometheus.GaugeVec

	// projectNames lists the projects whose series are made at 0 (TrackProjects).
	projectNames projectNamesFunc
}

// operationBuckets span a few milliseconds (status) to minutes (a deploy with a build).
var operationBuckets = []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// New creates the collectors on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		// Registered below through projectSeries, which makes each tracked project's
		// series at 0 before collecting.
		OperationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scar_operation_duration_seconds",
			Help:    "Duration of scar operations (status, logs, restart, deploy, rollback).",
			Buckets: operationBuckets,
		}, []string{"operation", "project", "outcome"}),
		OperationsInFlight: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scar_operations_in_flight",
			Help: "Operations running now.",
		}, []string{"operation"}),
		DeploymentsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scar_deployments_total",
			Help: "Deploys by project and outcome (success, failed_rolled_back, rollback_failed, nothing_to_do, cancelled).",
		}, []string{"project", "outcome"}),
		DeployStageDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scar_deploy_stage_duration_seconds",
			Help:    "Duration of each deploy stage.",
			Buckets: operationBuckets,
		}, []string{"stage"}),
		TelegramUpdates: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scar_telegram_updates_total",
			Help: "Incoming Telegram updates by kind and outcome (handled, duplicate, unauthorized, rejected_secret, malformed).",
		}, []string{"kind", "outcome"}),
		TelegramRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scar_telegram_requests_total",
			Help: "Outgoing Bot API requests by method and outcome.",
		}, []string{"method", "outcome"}),
		HTTPRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scar_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scar_build_info",
			Help: "Always 1; labels carry scar's version and the Go version.",
		}, []string{"version", "goversion"}),
		ContainerEvents: f.NewCounterVec(prometheus.CounterOpts{
			Name: "scar_container_events_total",
			Help: "Container events the event watcher received, by project (\"\" for containers of no project) and event.",
		}, []string{"project", "event"}),
		EventStreamUp: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scar_event_stream_up",
			Help: "1 while the event watcher follows the Docker host's event stream, 0 while it is down.",
		}, []string{"host"}),
	}
	reg.MustRegister(projectSeries{m})
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	m.BuildInfo.WithLabelValues(version, goVersion).Set(1)
	return m
}

// Outcome maps an error to the outcome label.
func Outcome(err error) string {
	if err != nil {
		return OutcomeError
	}
	return OutcomeSuccess
}
