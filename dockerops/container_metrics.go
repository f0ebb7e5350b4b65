package dockerops

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/metrics"
)

// ContainerSamples reads, for the per-container series of /metrics
// (SCAR_CONTAINER_METRICS), the state, health and restart count of every container
// of the named projects, and the CPU time and memory of the running ones. It takes
// one one-shot stats sample per running container (no CPU delta is needed: CPU
// seconds are a counter), which the engine answers at its collector's next round:
// at once when nothing else reads stats, within a second otherwise. A project that
// cannot be read is left out and its error returned with the samples of the others.
func (s *Service) ContainerSamples(ctx context.Context, projectNames []string) ([]metrics.ContainerSample, error) {
	var out []metrics.ContainerSample
	var errs []error
	for _, name := range projectNames {
		samples, err := s.projectSamples(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("container metrics of %s: %w", name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		out = append(out, samples...)
	}
	return out, errors.Join(errs...)
}

func (s *Service) projectSamples(ctx context.Context, name string) ([]metrics.ContainerSample, error) {
	p, err := s.projects.Resolve(name)
	if err != nil {
		return nil, err
	}
	ms, err := s.members(ctx, p)
	if err != nil {
		return nil, err
	}
	infos, err := s.inspectAll(ctx, ms)
	if err != nil {
		return nil, err
	}
	out := make([]metrics.ContainerSample, len(ms))
	errs := make([]error, len(ms))
	sem := make(chan struct{}, maxConcurrentStats)
	var wg sync.WaitGroup
	for i, m := range ms {
		c := infos[i]
		out[i] = metrics.ContainerSample{Project: p.Name, Container: m.name, Service: m.service, Health: HealthNone}
		if c == nil || c.State == nil {
			continue
		}
		out[i].Found = true
		out[i].Running = c.State.Status == container.StateRunning
		out[i].Health = observedHealth(c.State)
		out[i].RestartCount = c.RestartCount
		if !out[i].Running {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := s.sample(ctx, c.ID, false)
			switch {
			case isNotFound(err):
				out[i].Found, out[i].Running = false, false
			case err != nil:
				errs[i] = fmt.Errorf("stats of %s: %w", m.name, err)
			case v.Read.IsZero() || v.Read.Year() <= 1:
				// Stopped since the inspect: the engine answers zeros, which
				// would read as a reset of the CPU counter.
				out[i].Running = false
			default:
				out[i].CPUSeconds = float64(v.CPUStats.CPUUsage.TotalUsage) / 1e9
				out[i].MemoryBytes = memoryUsed(v.MemoryStats)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
