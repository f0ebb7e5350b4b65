// Package projects loads and validates the projects file (.scar-projects.json) that maps
// each project's workspace to its production directory and its containers.
package projects

import (
	"errors"
	"time"
)

// Rebuild policies of a project.
const (
	RebuildAuto   = "auto"
	RebuildAlways = "always"
	RebuildNever  = "never"
)

// DefaultHealthTimeout is how long a restarted or deployed container may take to become healthy.
const DefaultHealthTimeout = 60 * time.Second

// ErrUnknownProject is returned when a name matches no project.
var ErrUnknownProject = errors.New("unknown project")

// ErrNoDefault is returned when no project was named and none is the default.
var ErrNoDefault = errors.New("no project named and no default project")

// Project is one entry of the projects file, with defaults applied.
type Project struct {
	Name             string        `json:"name"`
	Workspace        string        `json:"workspace"`
	Production       string        `json:"production"`
	ComposeProject   string        `json:"compose_project,omitempty"`
	Containers       []string      `json:"containers,omitempty"`
	PrimaryContainer string        `json:"primary_container,omitempty"`
	AutoDetect       bool          `json:"auto_detect"`
	Default          bool          `json:"default"`
	Exclude          []string      `json:"exclude,omitempty"`
	Rebuild          string        `json:"rebuild"`
	RebuildOn        []string      `json:"rebuild_on,omitempty"`
	Services         []string      `json:"services,omitempty"`
	DeleteRemoved    bool          `json:"delete_removed"`
	HealthTimeout    time.Duration `json:"health_timeout"`
	HealthURL        string        `json:"health_url,omitempty"`
	DockerHost       string        `json:"docker_host,omitempty"`
	AllowedUsers     []int64       `json:"allowed_users,omitempty"`

	// DeployEnvFiles deploys the workspace's .env, .env.* and *.env files, which are
	// production's own and kept by default.
	DeployEnvFiles bool `json:"deploy_env_files"`
	// DeploySetuid deploys the setuid and setgid bits of workspace files, which are
	// stripped on copy by default.
	DeploySetuid bool `json:"deploy_setuid"`
	// BuildTimeout and ApplyTimeout bound a deploy's build and apply stages.
	BuildTimeout time.Duration `json:"build_timeout"`
	ApplyTimeout time.Duration `json:"apply_timeout"`

	// AlertChats are chats that get the project's alerts besides SCAR_ALERT_CHATS.
	AlertChats []int64 `json:"alert_chats,omitempty"`
	// Alerts is false when the project's alerts are turned off (default true).
	Alerts bool `json:"alerts"`

	// BakeTime is how long a successful deploy's containers stay under watch, rolled
	// back when one dies, is OOM-killed, turns unhealthy or restarts in a loop; 0 = off.
	BakeTime time.Duration `json:"bake_time"`

	// Git, when set, is where the project's deploys come from: commits of a branch,
	// checked out by scar under SCAR_STATE_DIR/checkouts/<project>, which is then its
	// Workspace (see Config.WithCheckouts). A git project has no workspace key.
	Git *GitSource `json:"git,omitempty"`
}

// DetectsByLabel reports whether the project's containers are found by the Compose
// project label rather than by the containers list.
func (p *Project) DetectsByLabel() bool {
	return p.ComposeProject != "" && (p.AutoDetect || len(p.Containers) == 0)
}

// AllowsUser reports whether a Telegram user may act on this project. An empty
// allowed_users list leaves the decision to the global allow lists.
func (p *Project) AllowsUser(id int64) bool {
	if len(p.AllowedUsers) == 0 {
		return true
	}
	for _, u := range p.AllowedUsers {
		if u == id {
			return true
		}
	}
	return false
}
