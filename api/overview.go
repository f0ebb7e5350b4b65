package api

import (
	"context"
	"net/http"

	"github.com/scar-dev/scar/dockerops"
)

// OverviewReader answers every project at a glance; *dockerops.Service satisfies it.
type OverviewReader interface {
	Overview(ctx context.Context) (*dockerops.Overview, error)
}

// handleOverview answers every project of every Docker host at once. Operations that
// cannot give one answer 503.
func handleOverview(ops Operations, audit *auditLog) http.HandlerFunc {
	overview, _ := ops.(OverviewReader)
	return func(w http.ResponseWriter, r *http.Request) {
		if overview == nil {
			audit.record(r, "overview", "", nil, "not available")
			writeProblem(w, http.StatusServiceUnavailable, "not_available", "this scar cannot give an overview")
			return
		}
		ov, err := overview.Overview(r.Context())
		audit.record(r, "overview", "", err, "")
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ov)
	}
}
