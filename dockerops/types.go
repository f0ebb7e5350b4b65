package dockerops

import "time"

// Actor is who asked for an operation: a Telegram user or an API token.
type Actor struct {
	// Name is what history, audit and busy messages show, e.g. "telegram:42 (@sam)" or "api:ci".
	Name string `json:"name"`
	// Source is where the request came from: a chat id or a client IP.
	Source string `json:"source,omitempty"`
}

// Health values of a container.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
	HealthStarting  = "starting"
	HealthNone      = "none"
)

// StateNotFound is the state of a listed container that does not exist.
const StateNotFound = "not_found"

// ContainerStatus is one container's state in a status answer.
type ContainerStatus struct {
	Name    string `json:"name"`
	ID      string `json:"id,omitempty"`
	Service string `json:"service,omitempty"`
	State   string `json:"state"` // running, exited, restarting, paused, created, dead, not_found
	// Health is the health check's verdict while the container runs; "none" when it
	// has no check or is not running (the engine's "unhealthy" of a stopped container
	// says nothing about its health).
	Health string `json:"health"`
	// Condition says in a few words what state, health and exit code add up to:
	// "running, healthy", "exited (code 3)", "exited (code 137, OOM killed)",
	// "restarting (5 restarts, last exit code 1)", "completed (exit 0)", "failed (exit 2)".
	Condition string `json:"condition"`
	// Job is set for a one-shot job: a container that has exited under a restart
	// policy that lets it stay stopped ("no", the default, or "on-failure").
	Job bool `json:"job"`
	// OOMKilled is set when the kernel killed the container's last run for memory.
	OOMKilled     bool      `json:"oom_killed"`
	StartedAt     time.Time `json:"started_at,omitzero"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	RestartCount  int       `json:"restart_count"`
	ExitCode      int       `json:"exit_code"`
	Ports         []string  `json:"ports"` // "8001→8000/tcp"
	Image         string    `json:"image,omitempty"`
	ImageID       string    `json:"image_id,omitempty"`
	Primary       bool      `json:"primary"`
}

// ProjectStatus is the answer of Status.
type ProjectStatus struct {
	Project        string            `json:"project"`
	Workspace      string            `json:"workspace"`
	Production     string            `json:"production"`
	ComposeProject string            `json:"compose_project,omitempty"`
	Containers     []ContainerStatus `json:"containers"`
	// PendingChanges is true when the workspace has files that differ from production.
	PendingChanges bool `json:"pending_changes"`
	// Problems says what is wrong with the project's configuration, each in words that
	// say what to fix (a missing workspace, a Compose project without containers, or
	// "no containers yet: deploy it"); absent when nothing is.
	Problems  []string  `json:"problems,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
	// MutedUntil is when the project's alerts stop being muted (/docker_mute); absent
	// when they are not.
	MutedUntil time.Time `json:"muted_until,omitzero"`
}

// Log limits.
const (
	DefaultLogLines = 50
	MaxLogLines     = 5000
)

// LogsRequest selects log lines. Zero values mean: primary container, 50 lines, no filter.
type LogsRequest struct {
	Container string
	Lines     int
	// Since is a duration ("15m") or an RFC 3339 time.
	Since string
	// Grep keeps lines containing it, case-insensitively.
	Grep string
	// Until, when set, keeps the lines written at or before it (an alert's 📜 Logs
	// shows the lines up to its event).
	Until time.Time
	// MaxBytes bounds the text of the lines kept (0: no bound); the oldest lines
	// go first and LogsResult.Truncated says so.
	MaxBytes int
}

// LogLine is one line of a container's output.
type LogLine struct {
	Time   time.Time `json:"time,omitzero"`
	Stream string    `json:"stream"` // stdout, stderr, or tty
	Text   string    `json:"text"`
}

// LogsResult is the answer of Logs.
type LogsResult struct {
	Project   string    `json:"project"`
	Container string    `json:"container"`
	Lines     []LogLine `json:"lines"`
	// Truncated is true when older lines were left out for LogsRequest.MaxBytes.
	Truncated bool `json:"truncated,omitempty"`
}

// RestartRequest names the containers to restart; empty means all of the project's.
type RestartRequest struct {
	Containers []string `json:"containers,omitempty"`
}

// ContainerResult is what happened to one container in a restart, deploy or rollback.
type ContainerResult struct {
	Name       string  `json:"name"`
	OK         bool    `json:"ok"`
	State      string  `json:"state"`
	Health     string  `json:"health"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Condition is the container's condition when its wait ended (see ContainerStatus).
	Condition string `json:"condition,omitempty"`
	// Job is set when the container is a one-shot job: it passes by exiting 0.
	Job bool `json:"job,omitempty"`
	// Skipped is set when a restart of the whole project left a completed job alone,
	// or when a stop or start found nothing to do (already stopped, already running).
	Skipped bool `json:"skipped,omitempty"`
}

// RestartResult is the answer of Restart.
type RestartResult struct {
	Project    string            `json:"project"`
	OK         bool              `json:"ok"`
	Containers []ContainerResult `json:"containers"`
	DurationMS float64           `json:"duration_ms"`
}

// Event is one step of a long operation, reported as it happens.
type Event struct {
	Time      time.Time `json:"time"`
	Stage     string    `json:"stage"` // restart: "restart"; deploy: plan, backup, sync, build, apply, health, done, rollback
	Container string    `json:"container,omitempty"`
	Message   string    `json:"message"`
	// Result is set when a container has finished its step.
	Result *ContainerResult `json:"result,omitempty"`
}

// Progress receives events of a running operation. It must not block for long.
type Progress func(Event)
