package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

func handleProjects(p Projects) http.HandlerFunc {
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

func handleLogs(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		q := r.URL.Query()
		req := dockerops.LogsRequest{Container: q.Get("container"), Since: q.Get("since"), Grep: q.Get("grep")}
		if s := q.Get("lines"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				writeProblem(w, http.StatusBadRequest, "bad_input", fmt.Sprintf("lines: %q is not a whole number (1 to %d)", s, dockerops.MaxLogLines))
				return
			}
			req.Lines = n
		}
		res, err := ops.Logs(r.Context(), project, req)
		audit.record(r, "logs", project, err, req.Container)
		if err != nil {
			writeError(w, err)
			return
		}
		if wantsText(r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			var b strings.Builder
			for _, l := range res.Lines {
				if !l.Time.IsZero() {
					b.WriteString(l.Time.UTC().Format(time.RFC3339Nano))
					b.WriteByte(' ')
				}
				b.WriteString(l.Text)
				b.WriteByte('\n')
			}
			io.WriteString(w, b.String())
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// wantsText reports whether the client asked for text/plain over JSON.
func wantsText(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "application/json")
}

func handleRestart(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		var req dockerops.RestartRequest
		if err := decodeOptional(r, &req); err != nil {
			writeError(w, err)
			return
		}
		// A restart waits for health checks; let it outlive the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(15 * time.Minute))
		res, err := ops.Restart(r.Context(), project, req, actor(r), nil)
		detail := strings.Join(req.Containers, ",")
		if err == nil && !res.OK {
			detail = strings.TrimPrefix(detail+" some containers failed", " ")
		}
		audit.record(r, "restart", project, err, detail)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// deployRequest is the body of POST .../deploy.
type deployRequest struct {
	DryRun bool `json:"dry_run"`
	// PlanFingerprint, when set, is the fingerprint of the plan the client saw (from a
	// dry run): the deploy runs only that plan, else answers 409 plan_changed with the
	// new plan and deploys nothing.
	PlanFingerprint string `json:"plan_fingerprint"`
}

func handleDeploy(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		var req deployRequest
		if err := decodeOptional(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if req.DryRun {
			plan, err := ops.PlanDeploy(r.Context(), project)
			audit.record(r, "deploy_plan", project, err, "")
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"plan": plan, "nothing_to_deploy": plan.Empty()})
			return
		}
		ctx := r.Context()
		if req.PlanFingerprint != "" {
			ctx = dockerops.WithConfirmedPlan(ctx, req.PlanFingerprint)
		}
		d, err := ops.Deploy(ctx, project, actor(r), nil)
		writeStarted(w, r, audit, "deploy", project, d, err)
	}
}

func handleRollback(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		d, err := ops.Rollback(r.Context(), project, actor(r), nil)
		writeStarted(w, r, audit, "rollback", project, d, err)
	}
}

// writeStarted answers a deploy or rollback that now runs in the background: 202 and
// where to follow it.
func writeStarted(w http.ResponseWriter, r *http.Request, audit *auditLog, action, project string, d *dockerops.Deployment, err error) {
	detail := ""
	if d != nil {
		detail = d.ID
	}
	audit.record(r, action, project, err, detail)
	if err != nil {
		writeError(w, err)
		return
	}
	if d.Status == dockerops.DeployNothingToDo {
		writeJSON(w, http.StatusOK, d)
		return
	}
	w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
	writeJSON(w, http.StatusAccepted, d)
}

func handleHistory(ops Operations) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				writeProblem(w, http.StatusBadRequest, "bad_input", fmt.Sprintf("limit: %q is not a whole number from 1 to 1000", s))
				return
			}
			limit = n
		}
		list, err := ops.History(r.Context(), chi.URLParam(r, "project"), limit)
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

func handleAudit(audit Auditor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var since time.Time
		if s := q.Get("since"); s != "" {
			t, err := parseSince(s, time.Now())
			if err != nil {
				writeProblem(w, http.StatusBadRequest, "bad_input", err.Error())
				return
			}
			since = t
		}
		entries, err := audit.Audit(r.Context(), q.Get("project"), since, 1000)
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

// decodeOptional decodes a JSON body into v; an empty body leaves v as it is.
func decodeOptional(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return badBody(err)
	}
	return nil
}

type bodyError struct{ err error }

func (e *bodyError) Error() string        { return "request body: " + e.err.Error() }
func (e *bodyError) Is(target error) bool { return target == dockerops.ErrBadInput }

func badBody(err error) error { return &bodyError{err: err} }

// actor is the caller as operations record it.
func actor(r *http.Request) dockerops.Actor {
	return dockerops.Actor{Name: callerFrom(r.Context()).name, Source: ClientIP(r.Context())}
}

// auditLog records what each request did to production. A failing write must not fail
// the request; it is logged instead.
type auditLog struct {
	Auditor
	logger *slog.Logger
}

// record writes an audit entry for the request.
func (a *auditLog) record(r *http.Request, action, project string, err error, detail string) {
	outcome := "ok"
	if err != nil {
		_, outcome = statusOf(err)
		detail = strings.TrimSpace(detail + " " + err.Error())
	}
	a.write(r, action, project, outcome, detail)
}

// refused records a request turned away before its action ran.
func (a *auditLog) refused(r *http.Request, action, project, reason string) {
	a.write(r, action, project, "refused", reason)
}

func (a *auditLog) write(r *http.Request, action, project, outcome, detail string) {
	// The request's context may end with the response; the entry must still land.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	e := store.AuditEntry{
		Who: callerFrom(r.Context()).name, Source: ClientIP(r.Context()),
		Action: action, Project: project, Outcome: outcome, Detail: detail,
	}
	if err := a.RecordAudit(ctx, e); err != nil {
		a.logger.Error("audit log write failed", slog.String("action", action), slog.String("project", project), slog.Any("error", err))
	}
}
