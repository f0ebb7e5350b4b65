package api

import (
	"context"
	"net/http"
	"time"

	"github.com/scar-dev/scar/store"
)

// Incidents lists the incidents the event watcher and deploys recorded; *store.DB is one.
type Incidents interface {
	Incidents(ctx context.Context, q store.IncidentQuery) ([]store.Incident, error)
}

// alertsLimit is how many incidents one answer of GET /alerts holds at most.
const alertsLimit = 500

// incidentJSON is an incident as the REST API shows it (GET /alerts and the
// "incident" events of GET /events). The field names are a contract.
type incidentJSON struct {
	ID           int64      `json:"id"`
	Host         string     `json:"host"`
	Project      string     `json:"project"`
	Container    string     `json:"container"`
	ContainerID  string     `json:"container_id"`
	Service      string     `json:"service"`
	Kind         string     `json:"kind"`
	State        string     `json:"state"`
	EventAt      time.Time  `json:"event_at"`
	OpenedAt     time.Time  `json:"opened_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ResolvedAt   *time.Time `json:"resolved_at"`
	Summary      string     `json:"summary"`
	Detail       string     `json:"detail"`
	Count        int        `json:"count"`
	Version      int        `json:"version"`
	DeploymentID string     `json:"deployment_id"`
}

func toIncidentJSON(in *store.Incident) incidentJSON {
	out := incidentJSON{
		ID: in.ID, Host: in.Host, Project: in.Project, Container: in.Container, ContainerID: in.ContainerID,
		Service: in.Service, Kind: in.Kind, State: in.State, EventAt: in.EventAt.UTC(), OpenedAt: in.OpenedAt.UTC(),
		UpdatedAt: in.UpdatedAt.UTC(), Summary: in.Summary, Detail: in.Detail, Count: in.Count, Version: in.Version,
		DeploymentID: in.DeploymentID,
	}
	if !in.ResolvedAt.IsZero() {
		t := in.ResolvedAt.UTC()
		out.ResolvedAt = &t
	}
	return out
}

// handleAlerts lists incidents, open ones first, then newest first: of one project
// (?project=, "" every project and the Docker host's own) changed since ?since= (a
// duration back from now, or an RFC 3339 time).
func handleAlerts(p Projects, incidents Incidents, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		project := q.Get("project")
		fail := func(err error) {
			audit.record(r, "alerts", project, err, "")
			writeError(w, err)
		}
		if project != "" {
			if _, err := p.Current().Get(project); err != nil {
				fail(err)
				return
			}
		}
		query := store.IncidentQuery{Project: project, Limit: alertsLimit}
		if s := q.Get("since"); s != "" {
			t, err := parseSince(s, time.Now())
			if err != nil {
				fail(badQuery(err.Error()))
				return
			}
			query.Since = t
		}
		if incidents == nil {
			audit.refused(r, "alerts", project, watchOff)
			writeProblem(w, http.StatusServiceUnavailable, "not_watching", watchOff)
			return
		}
		list, err := incidents.Incidents(r.Context(), query)
		if err != nil {
			fail(err)
			return
		}
		audit.record(r, "alerts", project, nil, "")
		out := make([]incidentJSON, len(list))
		for i := range list {
			out[i] = toIncidentJSON(&list[i])
		}
		writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
	}
}

// watchOff is the answer of the watching endpoints when scar runs without a watcher.
const watchOff = "production is not watched: scar runs without its event watcher"
