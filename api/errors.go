package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/scar-dev/scar/dockerops"
)

// errorBody is the JSON shape of every error: {"error": {"code": "...", "message": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
	// Plan is, with code plan_changed, the deploy plan as it now is.
	Plan *dockerops.DeployPlan `json:"plan,omitempty"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusOf is the one place that maps an error to an HTTP status and an error code.
func statusOf(err error) (int, string) {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, dockerops.ErrUnknownProject):
		return http.StatusNotFound, "unknown_project"
	case errors.Is(err, dockerops.ErrNoDefault):
		return http.StatusBadRequest, "no_default_project"
	case errors.Is(err, dockerops.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, dockerops.ErrBusy):
		return http.StatusConflict, "busy"
	case errors.Is(err, dockerops.ErrNotCancellable):
		return http.StatusConflict, "not_cancellable"
	case errors.Is(err, dockerops.ErrPlanChanged):
		return http.StatusConflict, "plan_changed"
	case errors.Is(err, dockerops.ErrDockerUnavailable):
		return http.StatusServiceUnavailable, "docker_unavailable"
	case errors.Is(err, dockerops.ErrUnknownRef):
		return http.StatusUnprocessableEntity, "unknown_ref"
	case errors.Is(err, dockerops.ErrGitRemote):
		return http.StatusBadGateway, "git_unavailable"
	case errors.Is(err, dockerops.ErrBadInput):
		return http.StatusBadRequest, "bad_input"
	case errors.Is(err, dockerops.ErrMisconfigured):
		return http.StatusUnprocessableEntity, "misconfigured"
	case errors.Is(err, dockerops.ErrNotDeployed):
		return http.StatusConflict, "not_deployed"
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// writeError answers with err's status and JSON body. The request's log line carries
// the error (see logRequests); its text also reaches the caller, who holds a full or
// read token and needs it to act.
func writeError(w http.ResponseWriter, err error) {
	noteError(w, err)
	status, code := statusOf(err)
	body := errorBody{Error: errorDetail{Code: code, Message: err.Error()}}
	if changed, ok := errors.AsType[*dockerops.PlanChangedError](err); ok {
		body.Plan = &changed.Plan
	}
	writeJSON(w, status, body)
}

// writeProblem answers with an error that did not come from an operation.
func writeProblem(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}
