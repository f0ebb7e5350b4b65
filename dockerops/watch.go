package dockerops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// WatchEngine is the part of the Docker Engine API the event watcher uses.
// *client.Client satisfies it.
type WatchEngine interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
}

var _ WatchEngine = (*client.Client)(nil)

// ProjectLister lists every configured project; projects.Store satisfies it (and
// follows reloads of the projects file).
type ProjectLister interface {
	All() []*projects.Project
}

var _ ProjectLister = (*projects.Store)(nil)

// IncidentLog is where the watcher keeps incidents and its place in the event
// stream; *store.DB satisfies it.
type IncidentLog interface {
	OpenIncident(ctx context.Context, in store.Incident) (store.Incident, error)
	UpdateIncident(ctx context.Context, in store.Incident) (store.Incident, error)
	OpenIncidents(ctx context.Context, host string) ([]store.Incident, error)
	WatchCursor(ctx context.Context, host string) (at time.Time, seen []string, err error)
	SetWatchCursor(ctx context.Context, host string, at time.Time, seen []string) error
}

var _ IncidentLog = (*store.DB)(nil)

// Defaults of the watcher's tunables.
const (
	DefaultCrashLoopRestarts   = 3
	DefaultCrashLoopWindow     = 10 * time.Minute
	DefaultStablePeriod        = 60 * time.Second
	DefaultUnreachableAfter    = time.Minute
	DefaultReconnectBackoff    = 250 * time.Millisecond
	DefaultReconnectBackoffMax = 30 * time.Second
)

// WatcherConfig is what a Watcher needs; the zero tunables take their defaults.
type WatcherConfig struct {
	// Host names the Docker host in incidents, the cursor and the metrics' host
	// label; "" is the local default.
	Host      string
	Engine    WatchEngine
	Projects  ProjectLister
	Incidents IncidentLog
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	// Now stamps the incidents' OpenedAt and UpdatedAt. Everything compared with the
	// Engine's times (event times, quiet windows, StartedAt, ResolvedAt) is the wall
	// clock, as the Engine's.
	Now func() time.Time

	// CrashLoopRestarts restarts of one container within CrashLoopWindow make its
	// died incident a crash loop.
	CrashLoopRestarts int
	CrashLoopWindow   time.Duration
	// StablePeriod is how long a container runs after a died, oom or crash loop
	// incident before the incident is resolved as recovered.
	StablePeriod time.Duration
	// UnreachableAfter is how long the event stream may stay down before a
	// docker_unreachable incident opens.
	UnreachableAfter time.Duration
	// ReconnectBackoff is the first wait before reconnecting; it doubles up to
	// ReconnectBackoffMax, with jitter.
	ReconnectBackoff    time.Duration
	ReconnectBackoffMax time.Duration
}

// Watcher follows one Docker host's container events, turns the ones that matter
// into incidents in the store and publishes container events and incident changes
// to its subscribers.
//
// One goroutine, Run's, does all the work: it reads the stream, writes the store,
// publishes and runs the recovery checks, so the state below needs no lock except
// the quiet windows, which the Service's operations set from their own goroutines.
type Watcher struct {
	cfg    WatcherConfig
	logger *slog.Logger
	feed   feed

	quietMu sync.Mutex
	quiet   map[string][]*quietWindow

	// Owned by Run's goroutine.
	cursor      cursor
	containers  map[string]*tracked
	unreachable *store.Incident // the open docker_unreachable incident
	stream      streamHealth
	warned      map[string]bool // what was logged once
}

// NewWatcher returns a Watcher; Run starts it.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(prometheus.NewRegistry(), "")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CrashLoopRestarts <= 0 {
		cfg.CrashLoopRestarts = DefaultCrashLoopRestarts
	}
	if cfg.CrashLoopWindow <= 0 {
		cfg.CrashLoopWindow = DefaultCrashLoopWindow
	}
	if cfg.StablePeriod <= 0 {
		cfg.StablePeriod = DefaultStablePeriod
	}
	if cfg.UnreachableAfter <= 0 {
		cfg.UnreachableAfter = DefaultUnreachableAfter
	}
	if cfg.ReconnectBackoff <= 0 {
		cfg.ReconnectBackoff = DefaultReconnectBackoff
	}
	if cfg.ReconnectBackoffMax <= 0 {
		cfg.ReconnectBackoffMax = DefaultReconnectBackoffMax
	}
	return &Watcher{
		cfg:        cfg,
		logger:     cfg.Logger.With("host", cfg.Host),
		quiet:      map[string][]*quietWindow{},
		containers: map[string]*tracked{},
		warned:     map[string]bool{},
	}
}

// warnOnce logs a fault of a kind (a malformed event, a store that fails) the first
// time only: a stream of garbage must not flood the log.
func (w *Watcher) warnOnce(kind, msg string, args ...any) {
	if w.warned[kind] {
		return
	}
	w.warned[kind] = true
	w.logger.Warn(msg, args...)
}

// Subscribe returns the events of project ("" for every project) and the function
// that ends the subscription. The channel is closed when the subscription ends: by
// that function, or because the subscriber fell too far behind.
func (w *Watcher) Subscribe(project string) (<-chan WatchEvent, func()) {
	return w.feed.subscribe(project)
}

// WithWatcher gives the Service the event watcher of its Docker host: its restarts,
// deploys and rollbacks mark their time as scar's own (Quiet), so that what they do
// to the containers is not alerted.
func WithWatcher(w *Watcher) Option { return func(s *Service) { s.watcher = w } }
