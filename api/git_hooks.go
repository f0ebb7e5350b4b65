package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// HookMaxBodyBytes caps a push webhook's body. GitHub caps its payloads at 25 MB, but a
// push of a few commits is a few KiB; a body this large is refused before anything
// else is looked at.
const HookMaxBodyBytes = 5 << 20

// Pushes deploys the pushes git push webhooks tell of (a *dockerops.Service).
type Pushes interface {
	Push(ctx context.Context, project string, push dockerops.Push) (*dockerops.PushOutcome, error)
}

// Deliveries remembers push webhooks' delivery ids (the state store), so that a
// redelivery is answered and not deployed twice.
type Deliveries interface {
	MarkDelivery(ctx context.Context, project, delivery string, at time.Time) (bool, error)
	ForgetDelivery(ctx context.Context, project, delivery string) error
}

// Answers of a push webhook that runs nothing.
const (
	hookIgnored   = "ignored"
	hookDuplicate = "duplicate"
)

// hookAnswer is the answer to a push webhook that ran nothing: ignored or duplicate.
type hookAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// gitHooks serves POST /hooks/git/{project}. It is outside /api/v1 and its tokens: the
// project's webhook secret (git.secret_env) is the authentication.
type gitHooks struct {
	projects       Projects
	pushes         Pushes
	deliveries     Deliveries
	getenv         func(string) string
	sameRepository func(a, b string) bool
	audit          *auditLog
	now            func() time.Time
}

func newGitHooks(d Deps) *gitHooks {
	h := &gitHooks{projects: d.Projects, pushes: d.Pushes, deliveries: d.Deliveries, getenv: d.Getenv,
		sameRepository: d.SameRepository, audit: newAuditLog(d.Audit, d.Logger), now: time.Now}
	if h.deliveries == nil {
		h.deliveries, _ = d.Audit.(Deliveries)
	}
	if h.getenv == nil {
		h.getenv = os.Getenv
	}
	if h.sameRepository == nil {
		h.sameRepository = gitsource.SameRepository
	}
	return h
}

// hookRequest is one webhook as it is handled: what the audit entry of its outcome
// needs.
type hookRequest struct {
	r       *http.Request
	project string
	sender  hookSender
}

// ServeHTTP takes the steps in an order that lets nothing unverified through: the
// body's size, the project and its secret, the signature; only then the delivery id
// and the payload.
func (h *gitHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hr := &hookRequest{r: r, project: chi.URLParam(r, "project"), sender: detectSender(r.Header)}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, HookMaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			err = fmt.Errorf("webhook body over %d MiB: %w", HookMaxBodyBytes>>20, err)
		} else {
			err = badBody("could not be read: " + err.Error())
		}
		h.refuse(w, hr, err, true)
		return
	}
	p, err := h.projects.Current().Get(hr.project)
	if err != nil {
		h.refuse(w, hr, err, true)
		return
	}
	hr.project = p.Name
	if !p.IsGit() {
		h.refuseProblem(w, hr, http.StatusNotFound, "not_found",
			fmt.Sprintf("project %s has no git source, so it has no push webhook: give it a \"git\" key (remote, branch, secret_env)", p.Name))
		return
	}
	secret := ""
	if p.Git.SecretEnv != "" {
		secret = h.getenv(p.Git.SecretEnv)
	}
	if secret == "" {
		msg := fmt.Sprintf("push webhooks are off for project %s: set git.secret_env to the name of an environment variable and give scar that variable, holding the secret the git host signs with", p.Name)
		if p.Git.SecretEnv != "" {
			msg = fmt.Sprintf("push webhooks are off for project %s: the environment variable %s (its git.secret_env) is not set or empty; set it to the secret the git host signs with and restart scar", p.Name, p.Git.SecretEnv)
		}
		h.refuseProblem(w, hr, http.StatusForbidden, "forbidden", msg)
		return
	}
	if err := hr.sender.verify(r.Header, body, secret); err != nil {
		if h.audit.allowUnauthorized(ClientIP(r.Context())) {
			h.write(hr, "refused", err.Error())
		}
		noteError(w, err)
		writeProblem(w, http.StatusUnauthorized, "unauthorized", err.Error()+": the webhook's secret must be the project's (git.secret_env)")
		return
	}
	h.handleVerified(w, hr, p, body)
}

// handleVerified handles a webhook whose signature holds.
func (h *gitHooks) handleVerified(w http.ResponseWriter, hr *hookRequest, p *projects.Project, body []byte) {
	if reason := ignoredEvent(hr.sender); reason != "" {
		h.ignore(w, hr, reason)
		return
	}
	payload, err := parsePushPayload(hr.r.Header.Get("Content-Type"), body)
	if err != nil {
		h.refuse(w, hr, err, false)
		return
	}
	branch, isBranch := strings.CutPrefix(payload.Ref, "refs/heads/")
	switch {
	case strings.HasPrefix(payload.Ref, "refs/tags/"):
		h.ignore(w, hr, "a tag was pushed ("+strings.TrimPrefix(payload.Ref, "refs/tags/")+"); a push to branch "+p.Git.Branch+" deploys")
		return
	case !isBranch:
		h.ignore(w, hr, payload.Ref+" is not a branch; a push to branch "+p.Git.Branch+" deploys")
		return
	case branch != p.Git.Branch:
		h.ignore(w, hr, "a push to branch "+branch+"; project "+p.Name+" deploys branch "+p.Git.Branch)
		return
	case payload.deletion():
		h.ignore(w, hr, "branch "+branch+" was deleted; nothing to deploy")
		return
	}
	sha := payload.commit()
	if !validSHA(sha) {
		h.refuse(w, hr, badBody(fmt.Sprintf("the pushed commit %q is not a full commit id (40 or 64 hexadecimal digits)", sha)), false)
		return
	}
	if err := h.checkRepository(hr, p, payload); err != nil {
		h.refuse(w, hr, err, false)
		return
	}
	if hr.sender.delivery != "" && h.deliveries != nil {
		fresh, err := h.deliveries.MarkDelivery(hr.r.Context(), p.Name, hr.sender.delivery, h.now())
		if err != nil {
			h.refuse(w, hr, err, false)
			return
		}
		if !fresh {
			msg := "delivery " + hr.sender.delivery + " was received before; it is not run again"
			h.write(hr, hookDuplicate, msg)
			writeJSON(w, http.StatusOK, hookAnswer{Status: hookDuplicate, Message: msg})
			return
		}
	}
	h.push(w, hr, dockerops.Push{Branch: branch, SHA: strings.ToLower(sha), Provider: hr.sender.provider,
		Delivery: hr.sender.delivery, Pusher: payload.pusher()})
}

// checkRepository refuses a payload whose repository is not the project's remote: a
// hook set up on the wrong repository, or one project's secret used for another's. The
// plain signed form may leave the repository out.
func (h *gitHooks) checkRepository(hr *hookRequest, p *projects.Project, payload *pushPayload) error {
	urls := payload.repositoryURLs()
	if len(urls) == 0 {
		if hr.sender.provider == providerSigned {
			return nil
		}
		return badBody("the push event names no repository URL (repository.clone_url, or project.git_http_url for GitLab)")
	}
	for _, u := range urls {
		if h.sameRepository(u, p.Git.Remote) {
			return nil
		}
	}
	return &repositoryMismatch{msg: fmt.Sprintf(
		"the push is for repository %s (%s), but project %s's git.remote is %s: the webhook is set up on another repository, or the remote is wrong",
		payload.repositoryName(), strings.Join(urls, ", "), p.Name, p.Git.Remote)}
}

// repositoryMismatch is a push for another repository than the project's remote; it
// matches dockerops.ErrMisconfigured (422 misconfigured).
type repositoryMismatch struct{ msg string }

func (e *repositoryMismatch) Error() string        { return e.msg }
func (e *repositoryMismatch) Is(target error) bool { return target == dockerops.ErrMisconfigured }

// push hands the verified push to the deploys; a failure forgets its delivery id, so
// that the host's redelivery runs.
func (h *gitHooks) push(w http.ResponseWriter, hr *hookRequest, push dockerops.Push) {
	if h.pushes == nil {
		if push.Delivery != "" && h.deliveries != nil {
			_ = h.deliveries.ForgetDelivery(context.WithoutCancel(hr.r.Context()), hr.project, push.Delivery)
		}
		h.refuseProblem(w, hr, http.StatusServiceUnavailable, "not_available", "this scar does not deploy pushes")
		return
	}
	out, err := h.pushes.Push(hr.r.Context(), hr.project, push)
	if err != nil {
		if push.Delivery != "" && h.deliveries != nil {
			if ferr := h.deliveries.ForgetDelivery(context.WithoutCancel(hr.r.Context()), hr.project, push.Delivery); ferr != nil {
				err = fmt.Errorf("%w (and a redelivery will be taken for a duplicate: %v)", err, ferr)
			}
		}
		h.refuse(w, hr, err, false)
		return
	}
	detail := fmt.Sprintf("%s %s of branch %s by %s: %s", hr.sender.provider, shortSHA(push.SHA), push.Branch, orUnknown(push.Pusher), out.Message)
	e := store.AuditEntry{Who: "git:" + hr.sender.provider, Action: "git_push", Project: hr.project, Outcome: out.Status, Detail: detail}
	if d := out.Deployment; d != nil {
		// The entry follows the deployment to its outcome, as a REST deploy's does.
		e.Outcome, e.DeploymentID = d.Status, d.ID
		w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
	}
	h.audit.write(hr.r, e)
	writeJSON(w, http.StatusAccepted, out)
}

// ignoredEvent says why an event other than a push is ignored; "" for a push.
func ignoredEvent(s hookSender) string {
	switch s.provider {
	case providerGitLab:
		switch s.event {
		case "Push Hook":
			return ""
		case "Tag Push Hook":
			return "a tag was pushed (GitLab Tag Push Hook); a push to the project's branch deploys"
		}
	case providerSigned:
		return ""
	default:
		switch s.event {
		case "push":
			return ""
		case "ping":
			return "ping: the webhook reaches scar and its signature holds"
		}
	}
	return fmt.Sprintf("%s event %q is not a push", s.provider, s.event)
}

func (h *gitHooks) ignore(w http.ResponseWriter, hr *hookRequest, reason string) {
	msg := "ignored: " + reason
	h.write(hr, hookIgnored, msg)
	writeJSON(w, http.StatusOK, hookAnswer{Status: hookIgnored, Message: msg})
}

// refuse answers err and audits it; unverified refusals are audited as failed
// authentications are, a few per client address and minute, so that a scanner cannot
// fill the state store.
func (h *gitHooks) refuse(w http.ResponseWriter, hr *hookRequest, err error, unverified bool) {
	if !unverified || h.audit.allowUnauthorized(ClientIP(hr.r.Context())) {
		_, code := statusOf(err)
		h.write(hr, code, err.Error())
	}
	writeError(w, err)
}

// refuseProblem is refuse for an answer that did not come from an error; it is
// always before verification.
func (h *gitHooks) refuseProblem(w http.ResponseWriter, hr *hookRequest, status int, code, msg string) {
	if h.audit.allowUnauthorized(ClientIP(hr.r.Context())) {
		h.write(hr, code, msg)
	}
	noteError(w, errors.New(msg))
	writeProblem(w, status, code, msg)
}

func (h *gitHooks) write(hr *hookRequest, outcome, detail string) {
	h.audit.write(hr.r, store.AuditEntry{Who: "git:" + hr.sender.provider, Action: "git_push", Project: hr.project,
		Outcome: outcome, Detail: withDelivery(detail, hr.sender.delivery)})
}

func withDelivery(detail, delivery string) string {
	if delivery == "" {
		return detail
	}
	return detail + " (delivery " + delivery + ")"
}

func shortSHA(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

func orUnknown(s string) string {
	if s == "" {
		return "someone"
	}
	return s
}
