// Package dockerops is scar's operations package: status, logs and restart of a
// project's containers (and deploy and rollback), done through the Docker Engine API
// and timed for Prometheus. It is the only package that talks to the engine; the REST
// API and the Telegram handlers are thin adapters over a Service.
package dockerops

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
)

// ProjectSource finds a project by name; "" means the default project.
// projects.Store satisfies it.
type ProjectSource interface {
	Resolve(name string) (*projects.Project, error)
}

var _ ProjectSource = (*projects.Store)(nil)

// PendingFunc reports whether a project's workspace has changes that production lacks.
type PendingFunc func(ctx context.Context, p *projects.Project) (bool, error)

// Service runs the operations on projects' containers.
type Service struct {
	docker Engine
	// lean makes the inspects of status and stats (inspect_lean.go); nil when docker
	// is not the client library's client.
	lean     *leanInspector
	projects ProjectSource
	metrics  *metrics.Metrics
	logger   *slog.Logger
	now      func() time.Time
	pending  PendingFunc
	// pendingMaxAge and pendingCache serve pending_changes without a walk of both
	// trees on every status (see pending.go).
	pendingMaxAge time.Duration
	pendingCache  *pendingCache
	// watch owns the watches of projects' trees that keep the cached answer valid
	// until a change; newWatcher makes one (a test makes it fail).
	watch      *background
	newWatcher func() (*fsnotify.Watcher, error)
	// pendingNow is the clock the cached answers' ages are measured with.
	pendingNow func() time.Time
	locks      *Locks
	// pollInterval is how often a restart looks at a container it waits for.
	pollInterval time.Duration
	// mutes, when set, tells status which projects' alerts are muted (WithMutes).
	mutes MuteReader
	// incidents, when set, gives the overview each project's open incidents.
	incidents IncidentReader
	// dockerHost names the Docker host the Service serves (WithDockerHost).
	dockerHost string
	// lister lists every project, for the overview; nil when the source cannot.
	lister ProjectLister

	// Deploys (see WithDeploys); nil when deploys are not configured.
	builder Builder
	files   *deployments.Engine
	// planMemo keeps each project's last file plan while its trees are unchanged.
	planMemo planMemo
	// statusIDs are the container ids of each project's last status (status_early.go).
	statusIDs statusIDs
	// git checks out git projects' commits (WithGitSource); nil when none.
	git *gitsource.Source
	// pushes are the git projects' push queues (git_push.go).
	pushes  pushQueues
	history History
	compose *Compose
	newID   func() string
	bg      *background
	// recovery owns the retries of a recovery waiting for Docker (see Recover).
	recovery *background
	// stageHook, set by tests only, runs after each deploy stage succeeds.
	stageHook func(stage string)
	// watcher follows the host's container events (see WithWatcher); nil when none.
	watcher *Watcher
	// bakes are the watches of deploys after their gate (bake.go).
	bakes bakery
	// live are the runs a follow of a deployment subscribes to (deploy_follow.go);
	// deployFollowBuffer and deployFollowPoll are 0 but in tests (the defaults there).
	live               liveRuns
	deployFollowBuffer int
	deployFollowPoll   time.Duration
	// followBuffer and followStall bound a log follow's reader (WithFollowBuffer);
	// 0 means the defaults.
	followBuffer int
	followStall  time.Duration
	// logTargets are the containers logs requests last resolved to (logs_early.go).
	logTargets logTargets
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock that uptimes, lock times and results are measured with.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithPendingChanges sets the check behind ProjectStatus.PendingChanges; without it
// the field is false. Its answers are cached until the project's files change
// (watched with inotify), or within a bound when they cannot be watched
// (WithPendingMaxAge).
func WithPendingChanges(f PendingFunc) Option { return func(s *Service) { s.pending = f } }

// WithLocks shares project locks with another user of them (deploys); by default the
// Service has its own.
func WithLocks(l *Locks) Option { return func(s *Service) { s.locks = l } }

// WithPollInterval sets how often a restart inspects a container while it waits for
// it to run and be healthy (default 200ms).
func WithPollInterval(d time.Duration) Option { return func(s *Service) { s.pollInterval = d } }

// New returns a Service that reaches the engine through docker and finds projects in
// projects. A nil m records metrics nowhere.
func New(docker Engine, projects ProjectSource, m *metrics.Metrics, logger *slog.Logger, opts ...Option) *Service {
	if m == nil {
		m = metrics.New(prometheus.NewRegistry(), "")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lister, _ := projects.(ProjectLister)
	s := &Service{
		docker:        docker,
		lean:          newLeanInspector(docker),
		projects:      projects,
		lister:        lister,
		metrics:       m,
		logger:        logger,
		now:           time.Now,
		pollInterval:  200 * time.Millisecond,
		newID:         newDeployID,
		bg:            newBackground(),
		recovery:      newBackground(),
		pendingMaxAge: DefaultPendingMaxAge,
		pendingCache:  newPendingCache(),
		watch:         newBackground(),
		newWatcher:    fsnotify.NewWatcher,
		pendingNow:    time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	if s.locks == nil {
		s.locks = NewLocks(s.now)
	}
	return s
}

// Locks returns the project locks, to be shared with deploys (see WithLocks).
func (s *Service) Locks() *Locks { return s.locks }

// Ping checks that the engine answers; the error matches ErrDockerUnavailable when not.
func (s *Service) Ping(ctx context.Context) error {
	if _, err := s.docker.Ping(ctx, client.PingOptions{}); err != nil {
		return &unavailableError{err: fmt.Errorf("ping: %w", err)}
	}
	return nil
}

// OutcomeUnknownProject is the outcome label of an operation asked for a project that
// does not resolve: the caller's mistake, counted apart from the errors that alerts
// count (outcome="error").
const OutcomeUnknownProject = "unknown_project"

// track counts an operation in flight and returns the function that ends it,
// observing its duration with the project and whether it failed. The project label
// is the resolved project's name, "" when the name did not resolve, so that unknown
// names cannot grow the label set; such a failure has outcome unknown_project.
func (s *Service) track(operation string) func(project string, failed bool) {
	start := time.Now()
	inFlight := s.metrics.OperationsInFlight.WithLabelValues(operation)
	inFlight.Inc()
	return func(project string, failed bool) {
		inFlight.Dec()
		outcome := metrics.OutcomeSuccess
		switch {
		case failed && project == "":
			outcome = OutcomeUnknownProject
		case failed:
			outcome = metrics.OutcomeError
		}
		s.metrics.OperationDuration.WithLabelValues(operation, project, outcome).Observe(time.Since(start).Seconds())
	}
}
