package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// handleCancel cancels a running deploy: 202 with its record (still running while it
// rolls back; poll the Location until it is done, status cancelled), 404 for an
// unknown id, 409 not_cancellable for a finished deployment or a rollback.
func handleCancel(ops Operations, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		d, err := ops.CancelDeployment(r.Context(), id, actor(r))
		project := ""
		if d != nil {
			project = d.Project
		}
		audit.record(r, "cancel", project, err, id)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
		writeJSON(w, http.StatusAccepted, d)
	}
}
