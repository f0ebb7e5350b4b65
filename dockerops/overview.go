package dockerops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/store"
)

// overviewHostTimeout bounds what the overview waits for one Docker host: a host that
// does not answer in time is reported unavailable, the others as they are.
const overviewHostTimeout = 3 * time.Second

// IncidentReader lists incidents; store.DB satisfies it.
type IncidentReader interface {
	Incidents(ctx context.Context, q store.IncidentQuery) ([]store.Incident, error)
}

// WithIncidents makes the overview count each project's open incidents.
func WithIncidents(r IncidentReader) Option { return func(s *Service) { s.incidents = r } }

// Overview is every project at a glance: for each, its containers running against
// those it has, the unhealthy ones, its open incidents and whether its workspace has
// undeployed changes. The field names are a contract (GET /api/v1/overview).
type Overview struct {
	Hosts     []HostOverview    `json:"hosts"`
	Projects  []ProjectOverview `json:"projects"`
	CheckedAt time.Time         `json:"checked_at"`
}

// HostOverview is one Docker host of the overview: whether it answered, and how fast.
type HostOverview struct {
	Host       string `json:"host"`
	Available  bool   `json:"available"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// ProjectOverview is one project of the overview. Expected counts the containers the
// project has (its containers list's entries, found or not, and those Compose made)
// but for jobs that completed; Running those of them that run. Down names the
// expected ones that do not run, Unhealthy those whose health check fails. Error is
// set (and the counts are zero) when its host could not be asked.
type ProjectOverview struct {
	Project        string   `json:"project"`
	Host           string   `json:"host"`
	Running        int      `json:"running"`
	Expected       int      `json:"expected"`
	Down           []string `json:"down"`
	Unhealthy      []string `json:"unhealthy"`
	OpenIncidents  int      `json:"open_incidents"`
	PendingChanges bool     `json:"pending_changes"`
	Error          string   `json:"error,omitempty"`
}

// Overview answers for every project at once. Each Docker host is asked with one
// container list call (and an inspect of each exited container, to tell a completed
// job from a service that is down), within overviewHostTimeout; incidents and pending
// changes are read meanwhile.
func (s *Service) Overview(ctx context.Context) (*Overview, error) {
	done := s.track(OpOverview)
	ov, err := s.overview(ctx)
	done("", err != nil)
	return ov, err
}

func (s *Service) overview(ctx context.Context) (*Overview, error) {
	if s.lister == nil {
		return nil, errors.New("overview: the projects cannot be listed")
	}
	all := s.lister.All()
	host := s.hostLabel()
	out := &Overview{Projects: make([]ProjectOverview, len(all)), CheckedAt: s.now()}

	var wg sync.WaitGroup
	open := map[string]int{}
	wg.Go(func() { open = s.openIncidents(ctx) })
	// A project this scar cannot serve (another Docker host's) is only named, with
	// why: its trees are neither compared nor watched.
	refused := make([]error, len(all))
	pending := make([]bool, len(all))
	for i, p := range all {
		if _, refused[i] = s.projects.Resolve(p.Name); refused[i] == nil {
			wg.Go(func() { pending[i] = s.pendingChanges(ctx, p) })
		}
	}

	hctx, cancel := context.WithTimeout(ctx, overviewHostTimeout)
	defer cancel()
	start := time.Now()
	items, err := s.list(hctx, nil)
	var exited map[string]*container.InspectResponse
	if err == nil {
		exited, err = s.inspectExited(hctx, items)
	}
	h := HostOverview{Host: host, Available: err == nil, DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		h.Error = hostError(host, err)
	}
	out.Hosts = []HostOverview{h}
	wg.Wait()

	for i, p := range all {
		po := ProjectOverview{Project: p.Name, Host: host, Down: []string{}, Unhealthy: []string{},
			OpenIncidents: open[p.Name], PendingChanges: pending[i]}
		if refused[i] != nil {
			po.Error = refused[i].Error()
		} else if err != nil {
			po.Error = h.Error
		} else {
			ms, _ := resolveMembers(ctx, p, listMembers(items)) // a list never fails
			countMembers(&po, ms, exited)
		}
		out.Projects[i] = po
	}
	return out, nil
}

// countMembers fills po's counts from the project's members.
func countMembers(po *ProjectOverview, ms []*member, exited map[string]*container.InspectResponse) {
	for _, m := range ms {
		if !m.found() {
			po.Expected++
			po.Down = append(po.Down, m.name)
			continue
		}
		if c := exited[m.summary.ID]; c != nil && completedJob(c) {
			continue
		}
		po.Expected++
		switch {
		case m.summary.State != container.StateRunning:
			po.Down = append(po.Down, m.name)
		case strings.Contains(m.summary.Status, "(unhealthy)"):
			po.Running++
			po.Unhealthy = append(po.Unhealthy, m.name)
		default:
			po.Running++
		}
	}
}

// listMembers finds members in a list of a host's containers, as the Engine's
// filters would (composeMembers; a name filter matches any of a container's names).
type listMembers []container.Summary

func (l listMembers) labelled(_ context.Context, project string) ([]*member, error) {
	var out []*member
	for i := range l {
		if lb := l[i].Labels; lb[labelProject] == project && lb[labelOneoff] == "False" {
			out = append(out, newMember(&l[i]))
		}
	}
	return out, nil
}

func (l listMembers) named(_ context.Context, names []string) ([]*member, error) {
	var out []*member
	for i := range l {
		if slices.ContainsFunc(l[i].Names, func(n string) bool { return slices.Contains(names, strings.TrimPrefix(n, "/")) }) {
			out = append(out, newMember(&l[i]))
		}
	}
	return out, nil
}

// inspectExited inspects the exited containers of the list, concurrently: only the
// inspect tells a job (one the project lets stop) from a service that is down.
func (s *Service) inspectExited(ctx context.Context, items []container.Summary) (map[string]*container.InspectResponse, error) {
	var ms []*member
	for i := range items {
		if items[i].State == container.StateExited {
			ms = append(ms, newMember(&items[i]))
		}
	}
	infos, err := s.inspectAll(ctx, ms)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*container.InspectResponse, len(ms))
	for i, m := range ms {
		out[m.summary.ID] = infos[i]
	}
	return out, nil
}

// openIncidents counts the open incidents of each project; none when they cannot be
// read (the overview is still worth its containers).
func (s *Service) openIncidents(ctx context.Context) map[string]int {
	out := map[string]int{}
	if s.incidents == nil {
		return out
	}
	list, err := s.incidents.Incidents(ctx, store.IncidentQuery{OpenOnly: true, Limit: 10000})
	if err != nil {
		s.logger.WarnContext(ctx, "overview: open incidents cannot be read", "error", err)
		return out
	}
	for _, in := range list {
		out[in.Project]++
	}
	return out
}

// hostLabel names the Docker host the Service serves, as the overview shows it.
func (s *Service) hostLabel() string {
	if s.dockerHost != "" {
		return s.dockerHost
	}
	return "local"
}

// hostError says why a host could not be asked.
func hostError(host string, err error) string {
	switch {
	case errors.Is(err, ErrDockerUnavailable):
		return fmt.Sprintf("Docker on %s unavailable: %v", host, errors.Unwrap(err))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("Docker on %s did not answer within %s", host, overviewHostTimeout)
	}
	return fmt.Sprintf("Docker on %s: %v", host, err)
}
