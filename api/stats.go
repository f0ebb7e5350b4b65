package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
)

// StatsReader is the dockerops call behind GET /projects/{project}/stats;
// *dockerops.Service satisfies it. It is asked of Deps.Ops, so that the Operations
// every other route shares need not grow for it.
type StatsReader interface {
	Stats(ctx context.Context, project string) (*dockerops.ProjectStats, error)
}

// handleStats answers every container's CPU, memory, network, block I/O and PIDs of
// a project, as docker stats computes them (about a second: the engine's two
// samples). Operations that cannot read stats answer 503.
func handleStats(ops Operations, audit *auditLog) http.HandlerFunc {
	stats, _ := ops.(StatsReader)
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		if stats == nil {
			audit.record(r, "stats", project, nil, "not available")
			writeProblem(w, http.StatusServiceUnavailable, "not_available", "this scar cannot read container stats")
			return
		}
		st, err := stats.Stats(r.Context(), project)
		audit.record(r, "stats", project, err, "")
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}
