package dockerops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// OpStats is the operation label of Stats in scar_operation_duration_seconds.
const OpStats = "stats"

// maxConcurrentStats bounds the stats requests one Stats runs at a time. The engine's
// stats collector samples every subscribed container in one round per second, so
// asking for all of a project's containers at once costs about what one costs.
const maxConcurrentStats = 16

// Stats reports the resource use of every container of the project, as docker stats
// computes it. Each running container's sample comes from the engine's
// GET /containers/{id}/stats?stream=false, which answers with two samples of the
// engine's collector one second apart (the second in cpu_stats, the first in
// precpu_stats): about one second when nothing else asks the engine for stats, up to
// two when something does. Two one-shot samples taken by scar cost the same (the
// second one waits for the collector's next round, measured at 0.99 s on Engine
// 20.10) and twice the requests, and one-shot alone has no CPU delta at all. A
// container that is not running has zeros and its state; one the project lists but
// that does not exist has state not_found.
func (s *Service) Stats(ctx context.Context, project string) (*ProjectStats, error) {
	done := s.track(OpStats)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	st, err := s.stats(ctx, p)
	done(p.Name, err != nil)
	return st, err
}

func (s *Service) stats(ctx context.Context, p *projects.Project) (*ProjectStats, error) {
	ms, err := s.members(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %w", p.Name, err)
	}
	out := &ProjectStats{Project: p.Name, At: s.now(), Containers: make([]ContainerStats, len(ms))}
	errs := make([]error, len(ms))
	sem := make(chan struct{}, maxConcurrentStats)
	var wg sync.WaitGroup
	for i, m := range ms {
		cs := ContainerStats{Name: m.name, Service: m.service, State: StateNotFound}
		if m.found() {
			cs.ID = shortID(m.summary.ID)
			cs.State = string(m.summary.State)
		}
		out.Containers[i] = cs
		if cs.State != string(container.StateRunning) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			raw, err := s.sample(ctx, m.summary.ID, true)
			switch {
			case isNotFound(err):
				out.Containers[i].State = StateNotFound
			case err != nil:
				errs[i] = fmt.Errorf("stats of %s: %w", m.name, err)
			default:
				fillStats(&out.Containers[i], raw)
			}
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

// sample reads one stats answer of a container. withPrevious asks the engine for the
// sample of a second before too (stream=false), which CPU % needs; without it the
// answer is the engine's next sample alone (one-shot), enough for counters.
func (s *Service) sample(ctx context.Context, id string, withPrevious bool) (*container.StatsResponse, error) {
	res, err := s.docker.ContainerStats(ctx, id, client.ContainerStatsOptions{IncludePreviousSample: withPrevious})
	if err != nil {
		return nil, engineError(err)
	}
	defer res.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		return nil, engineError(fmt.Errorf("decode stats: %w", err))
	}
	return &v, nil
}

// fillStats computes cs's figures from an engine sample as the docker CLI does. A
// container that stopped between the list and the sample is answered with zeros by
// the engine (no read time), and keeps zeros with state exited.
func fillStats(cs *ContainerStats, v *container.StatsResponse) {
	if v.Read.IsZero() || v.Read.Year() <= 1 {
		cs.State = string(container.StateExited)
		return
	}
	cs.OnlineCPUs = onlineCPUs(v.CPUStats)
	cs.CPUPercent = cpuPercent(v)
	cs.MemoryBytes = memoryUsed(v.MemoryStats)
	cs.MemoryLimitBytes = v.MemoryStats.Limit
	if cs.MemoryLimitBytes > 0 {
		cs.MemoryPercent = float64(cs.MemoryBytes) / float64(cs.MemoryLimitBytes) * 100
	}
	for _, n := range v.Networks {
		cs.NetRxBytes += n.RxBytes
		cs.NetTxBytes += n.TxBytes
	}
	for _, e := range v.BlkioStats.IoServiceBytesRecursive {
		switch {
		case strings.EqualFold(e.Op, "read"):
			cs.BlockReadBytes += e.Value
		case strings.EqualFold(e.Op, "write"):
			cs.BlockWriteBytes += e.Value
		}
	}
	cs.PIDs = v.PidsStats.Current
}

// onlineCPUs is the engine's online_cpus; engines that leave it out (before API
// 1.27) have one percpu_usage entry per CPU instead.
func onlineCPUs(c container.CPUStats) int {
	if c.OnlineCPUs > 0 {
		return int(c.OnlineCPUs)
	}
	return len(c.CPUUsage.PercpuUsage)
}

// cpuPercent is the container's CPU time over the host's between the two samples,
// times the CPUs, so that 200 is two cores busy: docker stats' formula.
func cpuPercent(v *container.StatsResponse) float64 {
	cpuDelta := float64(v.CPUStats.CPUUsage.TotalUsage) - float64(v.PreCPUStats.CPUUsage.TotalUsage)
	systemDelta := float64(v.CPUStats.SystemUsage) - float64(v.PreCPUStats.SystemUsage)
	if cpuDelta <= 0 || systemDelta <= 0 {
		return 0
	}
	return cpuDelta / systemDelta * float64(onlineCPUs(v.CPUStats)) * 100
}

// memoryUsed is the usage less the inactive page cache, which the kernel can take
// back at once, as docker stats shows it: total_inactive_file under cgroup v1,
// inactive_file under cgroup v2.
func memoryUsed(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}
