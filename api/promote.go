package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
)

// promoteRequest is the body of POST .../projects/{to}/promote.
type promoteRequest struct {
	// From is the project whose running commit is deployed to {to}.
	From   string `json:"from"`
	DryRun bool   `json:"dry_run"`
	// PlanFingerprint is as a deploy's: run only the plan the client saw.
	PlanFingerprint string `json:"plan_fingerprint"`
}

// handlePromote deploys to a git project the commit another one runs (staging to
// production), as a deploy of that commit: planned with dry_run (any token), confirmed
// with plan_fingerprint, followed with ?wait=true.
func handlePromote(ops Operations, follow deployFollow, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		to := chi.URLParam(r, "project")
		var req promoteRequest
		wait, err := waitParam(r)
		if err == nil {
			err = decodeOptional(r, &req)
		}
		if err != nil {
			audit.record(r, "promote", to, err, "")
			writeError(w, err)
			return
		}
		// A dry run changes nothing and any token may ask for it; a promotion needs a
		// full one, and is refused before its body is judged, as a deploy is.
		if !req.DryRun && refuseReadOnly(w, r, audit, "promote") {
			return
		}
		if req.From == "" {
			err := badBody(`"from" is required: the project whose running commit is deployed to ` + to)
			audit.record(r, "promote", to, err, "")
			writeError(w, err)
			return
		}
		commit, err := ops.PromoteCommit(r.Context(), req.From, to)
		if err != nil {
			audit.record(r, "promote", to, err, "from "+req.From)
			writeError(w, err)
			return
		}
		ctx := dockerops.WithPromotion(dockerops.WithRef(r.Context(), commit.SHA), req.From)
		if req.DryRun {
			plan, err := ops.PlanDeploy(ctx, to)
			audit.record(r, "promote_plan", to, err, "from "+req.From+" at "+commit.Short())
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"plan": plan, "nothing_to_deploy": plan.Empty()})
			return
		}
		if req.PlanFingerprint != "" {
			ctx = dockerops.WithConfirmedPlan(ctx, req.PlanFingerprint)
		}
		d, err := ops.Deploy(ctx, to, actor(r), nil)
		writeStarted(w, r, ops, follow, wait, audit, "promote", to, d, err)
	}
}
