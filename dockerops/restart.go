package dockerops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// Restart restarts the project's containers, or those named in req (container names
// or Compose services), and waits until each runs and, where it has a health check,
// is healthy, for at most the project's health_timeout. Containers restart
// concurrently, except that one whose Compose depends_on label names another service
// being restarted waits until that service is back. A container that does not come
// back is reported in its result, not as an error of the call; the call fails when
// the project is busy (*BusyError), a named container is unknown (ErrNotFound) or
// the engine does not answer (ErrDockerUnavailable). progress, if not nil, receives
// an event as each container starts and ends; calls to it are serialized.
func (s *Service) Restart(ctx context.Context, project string, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	done := s.track(OpRestart)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	res, err := s.restart(ctx, p, req, who, progress)
	done(p.Name, err != nil || !res.OK)
	return res, err
}

func (s *Service) restart(ctx context.Context, p *projects.Project, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	unlock, err := s.lockQuiet(p.Name, OpRestart, who)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.endBake(p.Name, OpRestart)
	start := time.Now()
	ms, err := s.members(ctx, p)
	if err == nil {
		err = s.requireMembers(ctx, p, ms)
	}
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", p.Name, err)
	}
	targets, err := choose(p.Name, ms, req.Containers)
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", p.Name, err)
	}
	timeout := p.HealthTimeout
	if timeout <= 0 {
		timeout = projects.DefaultHealthTimeout
	}

	deps, cyclic := dependencies(targets)
	if cyclic {
		s.logger.WarnContext(ctx, "depends_on labels form a cycle; restarting without order", "project", p.Name)
	}
	named := len(req.Containers) > 0
	return s.inOrder(ctx, OpRestart, p, targets, deps, start, progress, func(m *member, begin func(string)) ContainerResult {
		return s.restartOne(ctx, m, named, timeout, func() { begin("restarting") })
	}, resultMessage), nil
}

// restartOne restarts one container and waits for it to be back. A completed job is
// left alone unless it was named (see readiness.go for what a job is); a job that
// runs again must exit 0.
// starting runs when the restart begins (not for a job left alone).
func (s *Service) restartOne(ctx context.Context, m *member, named bool, timeout time.Duration, starting func()) ContainerResult {
	start := time.Now()
	r := ContainerResult{Name: m.name, State: StateNotFound, Health: HealthNone, Condition: condition(nil)}
	finish := func(err error) ContainerResult {
		r.OK = err == nil
		if err != nil {
			r.Error = err.Error()
		}
		r.DurationMS = millis(time.Since(start))
		return r
	}
	if !m.found() {
		starting()
		return finish(errors.New("no such container"))
	}
	before, err := s.inspect(ctx, m.summary.ID)
	if err != nil && !isNotFound(err) {
		return finish(fmt.Errorf("inspect: %w", err))
	}
	want := mustRun
	switch {
	case completedJob(before) && !named:
		r.State, r.Health, r.Condition, r.Job, r.Skipped = string(before.State.Status), HealthNone, condition(before), true, true
		return finish(nil)
	case completedJob(before):
		want = mustComplete
	case isJob(before):
		want = runOrComplete // a failed job, or a service that crashed: either may pass
	}
	starting()
	if _, err := s.docker.ContainerRestart(ctx, m.summary.ID, client.ContainerRestartOptions{}); err != nil {
		return finish(fmt.Errorf("restart: %w", engineError(err)))
	}
	return finish(s.await(ctx, m.summary.ID, want, timeout, &r))
}

// dependencies returns, for each target, the indices of the targets it must wait
// for: those of the services named in its com.docker.compose.depends_on label
// ("db:service_healthy:true,cache:service_started:false", written by Compose v2;
// v1 writes none, and then everything restarts at once). Dependencies outside the
// targets are not waited for. cyclic is set, and nothing waits, when the labels
// form a cycle, which Compose would have refused.
func dependencies(targets []*member) (deps [][]int, cyclic bool) {
	byService := make(map[string][]int)
	for i, m := range targets {
		if m.service != "" {
			byService[m.service] = append(byService[m.service], i)
		}
	}
	deps = make([][]int, len(targets))
	for i, m := range targets {
		if !m.found() {
			continue
		}
		for _, d := range strings.Split(m.summary.Labels[labelDependsOn], ",") {
			svc, _, _ := strings.Cut(strings.TrimSpace(d), ":")
			if svc == "" || svc == m.service {
				continue
			}
			deps[i] = append(deps[i], byService[svc]...)
		}
	}
	if hasCycle(deps) {
		return make([][]int, len(targets)), true
	}
	return deps, false
}

func hasCycle(deps [][]int) bool {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(deps))
	var visit func(int) bool
	visit = func(i int) bool {
		switch state[i] {
		case visiting:
			return true
		case done:
			return false
		}
		state[i] = visiting
		for _, d := range deps[i] {
			if visit(d) {
				return true
			}
		}
		state[i] = done
		return false
	}
	for i := range deps {
		if visit(i) {
			return true
		}
	}
	return false
}

// serialize makes progress safe to call from several goroutines; nil reports nowhere.
func serialize(progress Progress) Progress {
	if progress == nil {
		return func(Event) {}
	}
	var mu sync.Mutex
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		progress(e)
	}
}

func resultMessage(r ContainerResult) string {
	switch {
	case !r.OK:
		return "failed: " + r.Error
	case r.Skipped:
		return r.Condition + ", left alone"
	case r.Condition != "":
		return r.Condition
	case r.Health == HealthHealthy:
		return "running, healthy"
	}
	return "running"
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
