package dockerops

import (
	"time"

	"github.com/scar-dev/scar/gitsource"
)

// Deployment statuses (also the outcome label of scar_deployments_total).
const (
	DeployRunning          = "running"
	DeploySuccess          = "success"
	DeployFailedRolledBack = "failed_rolled_back"
	DeployRollbackFailed   = "rollback_failed"
	DeployNothingToDo      = "nothing_to_do"
)

// Deployment kinds.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
)

// DeployPlan is what a deploy would do, shown before it runs.
type DeployPlan struct {
	Project string   `json:"project"`
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Deleted []string `json:"deleted"`
	// Dirs are directories the deploy creates (an empty one is worth a deploy too).
	Dirs []string `json:"dirs,omitempty"`
	// Bytes is the size of the files to copy.
	Bytes         int64  `json:"bytes"`
	Rebuild       bool   `json:"rebuild"`
	RebuildReason string `json:"rebuild_reason,omitempty"`
	// Services are the Compose services (or plain containers) the deploy applies.
	Services []string `json:"services"`
	// Recreate are containers that get a new container; Restart those restarted in place.
	Recreate []string `json:"recreate"`
	Restart  []string `json:"restart"`

	// Kept are workspace environment files (.env, .env.*, *.env) that differ from
	// production's and are not deployed: production's are its own (deploy_env_files).
	Kept []string `json:"kept,omitempty"`
	// SetuidStripped are files deployed without their setuid or setgid bit (deploy_setuid).
	SetuidStripped []string `json:"setuid_stripped,omitempty"`
	// EditedInProduction are production files the deploy overwrites or deletes that
	// were edited by hand since the last deploy (the backup keeps them).
	EditedInProduction []string `json:"edited_in_production,omitempty"`
	// ServiceActions say, for a Compose project, what the deploy does to each service
	// of the Compose file (before and after it) and why; empty for a plain project.
	ServiceActions []ServiceAction `json:"service_actions"`
	// Fingerprint identifies this plan: a deploy confirmed for it runs only while the
	// plan is still the same (see WithConfirmedPlan).
	Fingerprint string `json:"fingerprint"`

	// Commit is, for a git project, the commit the deploy checks out and deploys; for
	// a rollback of one, the commit it puts back (nil when that is not known).
	Commit *gitsource.Commit `json:"commit,omitempty"`
	// PromotedFrom is the project whose running commit this deploy promotes.
	PromotedFrom string `json:"promoted_from,omitempty"`
}

// ServiceAction is what a deploy does to one Compose service, and why
// ("worker", "recreate", "same image as web, rebuilt").
type ServiceAction struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
}

// Service actions of a deploy.
const (
	// ActionCreate: the service has no container yet (new in the Compose file, or
	// never started); Compose creates it.
	ActionCreate = "create"
	// ActionRecreate: its configuration in the Compose file changed, or its image was
	// rebuilt; Compose replaces its containers.
	ActionRecreate = "recreate"
	// ActionRestart: it bind-mounts a changed path; its containers are restarted.
	ActionRestart = "restart"
	// ActionRemove: it is gone from the Compose file; its containers are removed.
	ActionRemove = "remove"
	// ActionNone: nothing of it changed; it keeps running untouched.
	ActionNone = "none"
)

// Empty reports whether there is nothing to deploy.
func (p *DeployPlan) Empty() bool {
	return len(p.Added)+len(p.Changed)+len(p.Deleted)+len(p.Dirs) == 0
}

// Deployment is the record of one deploy or rollback.
type Deployment struct {
	ID         string     `json:"id"`
	Project    string     `json:"project"`
	Kind       string     `json:"kind"`
	Who        string     `json:"who"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	Status     string     `json:"status"`
	Plan       DeployPlan `json:"plan"`
	FailedStep string     `json:"failed_step,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Undoes is, for a rollback, the id of the deploy it undid.
	Undoes string `json:"undoes,omitempty"`
	// LogTail holds the failing container's last log lines when a deploy failed.
	LogTail []string `json:"log_tail,omitempty"`
	// Bake is, for a successful deploy watched after its gate (bake_time), where the
	// watch is: "baking until <RFC3339>", then "passed", "rolled back: <incident>" or
	// "ended by <restart|deploy|rollback|restart of scar>"; empty when not baked.
	Bake   string  `json:"bake,omitempty"`
	Events []Event `json:"events,omitempty"`
}

// Done reports whether the deployment has finished.
func (d *Deployment) Done() bool { return d.Status != DeployRunning }
