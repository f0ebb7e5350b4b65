package dockerops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// maxConcurrentInspects bounds the inspects one status runs at a time.
const maxConcurrentInspects = 16

// Status reports the state of each of the project's containers. The list call gives
// names, labels, image and ports; the inspects, run concurrently, give health, start
// time and restart count, which the list does not carry on older engines.
func (s *Service) Status(ctx context.Context, project string) (*ProjectStatus, error) {
	done := s.track(OpStatus)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	st, err := s.status(ctx, p)
	done(p.Name, err != nil)
	return st, err
}

func (s *Service) status(ctx context.Context, p *projects.Project) (*ProjectStatus, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pending := make(chan bool, 1)
	go func() { pending <- s.pendingChanges(pctx, p) }()

	early := s.startEarlyInspects(ctx, s.statusIDs.get(p.Name))
	defer early.drop()
	ms, err := s.members(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", p.Name, err)
	}
	infos, err := s.inspectMembers(ctx, ms, early)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", p.Name, err)
	}
	s.statusIDs.set(p.Name, ms)
	now := s.now()
	st := &ProjectStatus{
		Project:        p.Name,
		Workspace:      p.Workspace,
		Production:     p.Production,
		ComposeProject: p.ComposeProject,
		Containers:     make([]ContainerStatus, len(ms)),
		PendingChanges: <-pending,
		Problems:       s.statusProblems(ctx, p, ms),
		CheckedAt:      now,
		MutedUntil:     s.mutedUntil(ctx, p.Name, now),
	}
	for i, m := range ms {
		st.Containers[i] = containerStatus(m, infos[i], now)
	}
	return st, nil
}

// inspectAll inspects the found members concurrently. A container removed since
// the list call has a nil result, as one that was never found. The results carry
// only what status and stats read (see leanInspect.response).
func (s *Service) inspectAll(ctx context.Context, ms []*member) ([]*container.InspectResponse, error) {
	return s.inspectMembers(ctx, ms, nil)
}

// inspectMembers is inspectAll taking, for a member, the inspect early started for
// its container id when there is one (see status_early.go).
func (s *Service) inspectMembers(ctx context.Context, ms []*member, early *earlyInspects) ([]*container.InspectResponse, error) {
	out := make([]*container.InspectResponse, len(ms))
	errs := make([]error, len(ms))
	sem := make(chan struct{}, maxConcurrentInspects)
	var wg sync.WaitGroup
	for i, m := range ms {
		if !m.found() {
			continue
		}
		if c, err, ok := early.result(m.summary.ID); ok {
			out[i], errs[i] = c, wrapInspect(m, err)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := s.inspectOne(ctx, m.summary.ID)
			out[i], errs[i] = c, wrapInspect(m, err)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inspectOne inspects a container lean, else through the client; a container that
// is gone has a nil result and no error.
func (s *Service) inspectOne(ctx context.Context, id string) (*container.InspectResponse, error) {
	if c, ok := s.lean.inspect(ctx, id); ok {
		return c, nil
	}
	c, err := s.inspect(ctx, id)
	if err != nil && isNotFound(err) {
		return nil, nil
	}
	return c, err
}

func wrapInspect(m *member, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("inspect %s: %w", m.name, err)
}

func (s *Service) inspect(ctx context.Context, id string) (*container.InspectResponse, error) {
	res, err := s.docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, engineError(err)
	}
	return &res.Container, nil
}

func containerStatus(m *member, c *container.InspectResponse, now time.Time) ContainerStatus {
	cs := ContainerStatus{
		Name:      m.name,
		Service:   m.service,
		State:     StateNotFound,
		Health:    HealthNone,
		Condition: condition(nil),
		Ports:     []string{},
		Primary:   m.primary,
	}
	if c == nil || c.State == nil {
		return cs
	}
	cs.ID = shortID(c.ID)
	cs.State = string(c.State.Status)
	cs.Health = observedHealth(c.State)
	cs.Condition = condition(c)
	cs.Job = isJob(c)
	cs.OOMKilled = c.State.OOMKilled
	cs.ExitCode = c.State.ExitCode
	cs.RestartCount = c.RestartCount
	cs.ImageID = c.Image
	cs.Image = m.summary.Image
	cs.Ports = ports(m.summary.Ports)
	if t, err := time.Parse(time.RFC3339Nano, c.State.StartedAt); err == nil && t.Year() > 1 {
		cs.StartedAt = t
		if c.State.Running {
			cs.UptimeSeconds = max(0, int64(now.Sub(t)/time.Second))
		}
	}
	return cs
}

func health(st *container.State) string {
	if st.Health == nil || st.Health.Status == "" {
		return HealthNone
	}
	return string(st.Health.Status)
}

// ports formats published ports as "8001→8000/tcp" and exposed, unpublished ones as
// "8000/tcp", once each although the engine lists a binding per host address family.
func ports(ps []container.PortSummary) []string {
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, func(a, b container.PortSummary) int {
		return cmp.Or(cmp.Compare(a.PrivatePort, b.PrivatePort), cmp.Compare(a.PublicPort, b.PublicPort), cmp.Compare(a.Type, b.Type))
	})
	out := make([]string, 0, len(sorted))
	for _, p := range sorted {
		s := strconv.Itoa(int(p.PrivatePort)) + "/" + p.Type
		if p.PublicPort != 0 {
			s = strconv.Itoa(int(p.PublicPort)) + "→" + s
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
