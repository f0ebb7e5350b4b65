package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// projectInfo is one entry of GET /projects.
type projectInfo struct {
	Name             string   `json:"name"`
	Workspace        string   `json:"workspace"`
	Production       string   `json:"production"`
	ComposeProject   string   `json:"compose_project,omitempty"`
	Containers       []string `json:"containers"`
	PrimaryContainer string   `json:"primary_container,omitempty"`
	AutoDetect       bool     `json:"auto_detect"`
	Default          bool     `json:"default"`
}

func handleProjects(p Projects, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := p.Current()
		out := []projectInfo{}
		def := cfg.Default()
		for _, pr := range cfg.All() {
			containers := pr.Containers
			if containers == nil {
				containers = []string{}
			}
			out = append(out, projectInfo{
				Name: pr.Name, Workspace: pr.Workspace, Production: pr.Production,
				ComposeProject: pr.ComposeProject, Containers: containers,
				PrimaryContainer: pr.PrimaryContainer, AutoDetect: pr.AutoDetect,
				Default: pr.Name == def,
			})
		}
		audit.record(r, "projects", "", nil, "")
		writeJSON(w, http.StatusOK, map[string]any{"projects": out})
	}
}

func handleStatus(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		st, err := ops.Status(r.Context(), project)
		audit.record(r, "status", project, err, "")
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

func handleLogs(ops Operations, follows LogFollower, followMax, keepAlive time.Duration, stop <-chan struct{}, audit *auditLog, maxBytes int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		req, follow, err := logsRequest(r, maxBytes)
		if err != nil {
			audit.record(r, "logs", project, err, "")
			writeError(w, err)
			return
		}
		if follow {
			followLogs(w, r, follows, dockerops.FollowRequest{LogsRequest: req, MaxDuration: followMax}, keepAlive, stop, audit)
			return
		}
		res, err := ops.Logs(r.Context(), project, req)
		audit.record(r, "logs", project, err, req.Container)
		if err != nil {
			writeError(w, err)
			return
		}
		writeLogs(w, r, res, maxBytes)
	}
}

// logsRequest reads the query of GET /projects/{project}/logs: the request, and
// whether it asks to follow.
func logsRequest(r *http.Request, maxBytes int) (dockerops.LogsRequest, bool, error) {
	q := r.URL.Query()
	req := dockerops.LogsRequest{Container: q.Get("container"), Since: q.Get("since"), Grep: q.Get("grep"), MaxBytes: maxBytes}
	if s := q.Get("lines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > dockerops.MaxLogLines {
			return req, false, badQuery(fmt.Sprintf("lines: %q is not a whole number from 1 to %d", s, dockerops.MaxLogLines))
		}
		req.Lines = n
	}
	follow := false
	if s := q.Get("follow"); s != "" {
		var err error
		if follow, err = strconv.ParseBool(s); err != nil {
			return req, false, badQuery(fmt.Sprintf("follow: %q is neither true nor false", s))
		}
	}
	return req, follow, nil
}

// wantsText reports whether the client asked for text/plain over JSON.
func wantsText(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "application/json")
}

// restartBound is how long a REST restart may run. It runs to its end on its own
// context when the client goes away: a restart stopped half-way leaves a project with
// some containers restarted and some not, and an audit entry that says neither.
const restartBound = 15 * time.Minute

// restartFailure is the answer to a restart in which a container did not come back:
// the per-container result as on success, and the error object every error has.
type restartFailure struct {
	*dockerops.RestartResult
	Error errorDetail `json:"error"`
}

func handleRestart(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		var req dockerops.RestartRequest
		if err := decodeOptional(r, &req); err != nil {
			audit.record(r, "restart", project, err, "")
			writeError(w, err)
			return
		}
		// A restart waits for health checks; let it outlive the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(restartBound))
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), restartBound)
		defer cancel()
		res, err := ops.Restart(ctx, project, req, actor(r), nil)
		detail := strings.Join(req.Containers, ",")
		if err != nil {
			audit.record(r, "restart", project, err, detail)
			writeError(w, err)
			return
		}
		if !res.OK {
			msg := "restart of " + res.Project + ": " + failedContainers(res)
			audit.write(r, store.AuditEntry{Action: "restart", Project: res.Project, Outcome: codeRestartFailed, Detail: msg})
			noteError(w, errors.New(msg))
			writeJSON(w, http.StatusInternalServerError, restartFailure{RestartResult: res, Error: errorDetail{Code: codeRestartFailed, Message: msg}})
			return
		}
		audit.record(r, "restart", res.Project, nil, detail)
		writeJSON(w, http.StatusOK, res)
	}
}

// codeRestartFailed is the error code of a restart in which a container did not come
// back running (and healthy, where it has a health check).
const codeRestartFailed = "restart_failed"

// failedContainers says which containers of a restart failed, and why.
func failedContainers(res *dockerops.RestartResult) string {
	var failed []string
	for _, c := range res.Containers {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Error)
		}
	}
	return fmt.Sprintf("%d of %d containers did not come back: %s", len(failed), len(res.Containers), strings.Join(failed, "; "))
}

// deployRequest is the body of POST .../deploy.
type deployRequest struct {
	DryRun bool `json:"dry_run"`
	// PlanFingerprint, when set, is the fingerprint of the plan the client saw (from a
	// dry run): the deploy runs only that plan, else answers 409 plan_changed with the
	// new plan and deploys nothing.
	PlanFingerprint string `json:"plan_fingerprint"`
	// Ref is, for a git project, the commit to deploy: a sha, a branch or a tag; ""
	// is the head of the project's branch.
	Ref string `json:"ref"`
}

// nothingToDeploy is the answer to a deploy with nothing to deploy: no deployment was
// made, so there is no id to follow.
type nothingToDeploy struct {
	Status  string               `json:"status"` // always nothing_to_do
	Project string               `json:"project"`
	Message string               `json:"message"`
	Plan    dockerops.DeployPlan `json:"plan"`
}

func handleDeploy(ops Operations, follow deployFollow, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		var req deployRequest
		wait, err := waitParam(r)
		if err == nil {
			err = decodeOptional(r, &req)
		}
		if err != nil {
			audit.record(r, "deploy", project, err, "")
			writeError(w, err)
			return
		}
		ctx := r.Context()
		if req.Ref != "" {
			ctx = dockerops.WithRef(ctx, req.Ref)
		}
		if req.DryRun {
			plan, err := ops.PlanDeploy(ctx, project)
			audit.record(r, "deploy_plan", project, err, req.Ref)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"plan": plan, "nothing_to_deploy": plan.Empty()})
			return
		}
		// A dry run changes nothing and any token may ask for it; a deploy needs a full one.
		if refuseReadOnly(w, r, audit, "deploy") {
			return
		}
		if req.PlanFingerprint != "" {
			ctx = dockerops.WithConfirmedPlan(ctx, req.PlanFingerprint)
		}
		d, err := ops.Deploy(ctx, project, actor(r), nil)
		writeStarted(w, r, ops, follow, wait, audit, "deploy", project, d, err)
	}
}

func handleRollback(ops Operations, follow deployFollow, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		wait, err := waitParam(r)
		if err != nil {
			audit.record(r, "rollback", project, err, "")
			writeError(w, err)
			return
		}
		d, err := ops.Rollback(r.Context(), project, actor(r), nil)
		writeStarted(w, r, ops, follow, wait, audit, "rollback", project, d, err)
	}
}

// writeStarted answers a deploy or rollback that now runs in the background: 202 and
// where to follow it, or with wait its final record once it has ended (writeEnded).
// Its audit entry follows the deployment to its outcome.
func writeStarted(w http.ResponseWriter, r *http.Request, ops Operations, follow deployFollow, wait bool, audit *auditLog, action, project string, d *dockerops.Deployment, err error) {
	if err != nil {
		audit.record(r, action, project, err, "")
		writeError(w, err)
		return
	}
	if d.Status == dockerops.DeployNothingToDo {
		audit.write(r, store.AuditEntry{Action: action, Project: d.Project, Outcome: dockerops.DeployNothingToDo})
		writeJSON(w, http.StatusOK, nothingToDeploy{Status: d.Status, Project: d.Project, Plan: d.Plan,
			Message: "nothing to deploy: production already matches the workspace"})
		return
	}
	audit.deployment(r, action, d)
	if wait {
		writeEnded(w, r, ops, follow, d)
		return
	}
	w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
	writeJSON(w, http.StatusAccepted, d)
}

func handleHistory(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		limit := 50
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				err := badQuery(fmt.Sprintf("limit: %q is not a whole number from 1 to 1000", s))
				audit.record(r, "history", project, err, "")
				writeError(w, err)
				return
			}
			limit = n
		}
		list, err := ops.History(r.Context(), project, limit)
		audit.record(r, "history", project, err, "")
		if err != nil {
			writeError(w, err)
			return
		}
		if list == nil {
			list = []dockerops.Deployment{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"deployments": list})
	}
}

// handleDeployment is not audited: scripts poll it every second or so while a deploy
// runs, and the deploy itself is audited with its outcome.
func handleDeployment(ops Operations) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := ops.Deployment(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	}
}

func handleAudit(a Auditor, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		project := q.Get("project")
		var since time.Time
		if s := q.Get("since"); s != "" {
			t, err := parseSince(s, time.Now())
			if err != nil {
				err := badQuery(err.Error())
				audit.record(r, "audit", project, err, "")
				writeError(w, err)
				return
			}
			since = t
		}
		entries, err := a.Audit(r.Context(), project, since, 1000)
		audit.record(r, "audit", project, err, "")
		if err != nil {
			writeError(w, err)
			return
		}
		if entries == nil {
			entries = []store.AuditEntry{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	}
}

// parseSince reads a duration back from now ("24h") or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since: %q is neither a duration (24h) nor an RFC 3339 time", s)
}

// actor is the caller as operations record it.
func actor(r *http.Request) dockerops.Actor {
	return dockerops.Actor{Name: callerFrom(r.Context()).name, Source: ClientIP(r.Context())}
}
