package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// Audit limits.
const (
	// unauthorizedPerMinute is how many failed authentications one client address
	// leaves in the audit log per minute; beyond it they are only counted in the
	// request log and metrics, so a scanner cannot fill the state store.
	unauthorizedPerMinute = 10
	// auditWriteTimeout bounds one audit write.
	auditWriteTimeout = 5 * time.Second
)

// auditLog records what each request did to production, every read, and every refusal.
// A failing write must not fail the request; it is logged instead.
type auditLog struct {
	Auditor
	logger *slog.Logger
	now    func() time.Time

	mu           sync.Mutex
	unauthorized map[string]*auditWindow // by client address
}

// auditWindow counts entries from one address in the minute that began at start.
type auditWindow struct {
	start time.Time
	n     int
}

func newAuditLog(a Auditor, logger *slog.Logger) *auditLog {
	return &auditLog{Auditor: a, logger: logger, now: time.Now, unauthorized: map[string]*auditWindow{}}
}

// record writes an audit entry for the request: "ok", or the error's code.
func (a *auditLog) record(r *http.Request, action, project string, err error, detail string) {
	outcome := "ok"
	if err != nil {
		_, outcome = statusOf(err)
		detail = strings.TrimSpace(detail + " " + err.Error())
	}
	a.write(r, store.AuditEntry{Action: action, Project: project, Outcome: outcome, Detail: detail})
}

// deployment records a deploy or rollback that started: its entry names the
// deployment and its outcome follows the deployment's to the end (see store.AuditEntry).
func (a *auditLog) deployment(r *http.Request, action string, d *dockerops.Deployment) {
	a.write(r, store.AuditEntry{Action: action, Project: d.Project, Outcome: d.Status, Detail: d.ID, DeploymentID: d.ID})
}

// refused records a request turned away before its action ran.
func (a *auditLog) refused(r *http.Request, action, project, reason string) {
	a.write(r, store.AuditEntry{Action: action, Project: project, Outcome: "refused", Detail: reason})
}

// unauthenticated records a request without a valid token, at most
// unauthorizedPerMinute per client address and minute.
func (a *auditLog) unauthenticated(r *http.Request, reason string) {
	ip := ClientIP(r.Context())
	if !a.allowUnauthorized(ip) {
		return
	}
	a.write(r, store.AuditEntry{Who: "api:unauthenticated", Action: "auth", Outcome: "unauthorized",
		Detail: reason + ": " + r.Method + " " + r.URL.Path})
}

func (a *auditLog) allowUnauthorized(ip string) bool {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.unauthorized[ip]
	if w == nil || now.Sub(w.start) >= time.Minute {
		// Forget finished windows before the map grows with many addresses.
		if len(a.unauthorized) >= 1024 {
			for k, old := range a.unauthorized {
				if now.Sub(old.start) >= time.Minute {
					delete(a.unauthorized, k)
				}
			}
		}
		w = &auditWindow{start: now}
		a.unauthorized[ip] = w
	}
	w.n++
	return w.n <= unauthorizedPerMinute
}

func (a *auditLog) write(r *http.Request, e store.AuditEntry) {
	// The request's context may end with the response; the entry must still land.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if e.Who == "" {
		e.Who = callerFrom(r.Context()).name
	}
	e.Source = ClientIP(r.Context())
	if err := a.RecordAudit(ctx, e); err != nil {
		a.logger.Error("audit log write failed", slog.String("action", e.Action), slog.String("project", e.Project), slog.Any("error", err))
	}
}
