package dockerops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// stopStartEngine is what stop and start ask of the engine beyond Engine. It is its
// own interface so that Engine stays what status, logs and restart use;
// *client.Client satisfies both.
type stopStartEngine interface {
	ContainerStop(ctx context.Context, id string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerStart(ctx context.Context, id string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
}

var _ stopStartEngine = (*client.Client)(nil)

// errNoStopStart is the answer of Stop and Start over an engine that cannot stop or
// start containers (none of scar's own: a test's partial engine).
var errNoStopStart = errors.New("the engine client cannot stop or start containers")

// stopWait bounds the wait for a container to be seen exited after the engine has
// answered the stop (the engine answers once it has stopped; this covers a container
// whose state the engine has not settled yet).
const stopWait = 10 * time.Second

// Stop stops the project's containers, or those named in req (container names or
// Compose services), through the Engine API as a restart does (so the same for either
// Compose tool), and waits until each has exited. A container whose Compose
// depends_on label names another being stopped is stopped first: dependents go before
// what they depend on. A container already stopped is left as it is ("already
// stopped"). Restart policies do not start a container stopped this way again, and
// the event watcher opens no incident for it: the stop is scar's own.
// The call fails, stopping nothing, when the project is busy (*BusyError), a named
// container is unknown (ErrNotFound) or the engine does not answer
// (ErrDockerUnavailable); a container that does not stop is reported in its result.
// progress is as for Restart.
func (s *Service) Stop(ctx context.Context, project string, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	return s.stopOrStart(ctx, OpStop, project, req, who, progress)
}

// Start starts the project's stopped containers, or those named in req, and waits as
// a restart does until each runs and, with a health check, is healthy, for at most
// the project's health_timeout; a one-shot job (restart policy "no" or on-failure)
// passes by exiting 0. Containers start in Compose dependency order. A container
// already running is left as it is ("already running"). Like `docker compose start`,
// a start of the whole project also runs again a one-shot job that had completed;
// name the containers to leave it alone. Errors and progress are as for Stop.
func (s *Service) Start(ctx context.Context, project string, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	return s.stopOrStart(ctx, OpStart, project, req, who, progress)
}

func (s *Service) stopOrStart(ctx context.Context, op, project string, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	done := s.track(op)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	res, err := s.runStopStart(ctx, op, p, req, who, progress)
	done(p.Name, err != nil || !res.OK)
	return res, err
}

func (s *Service) runStopStart(ctx context.Context, op string, p *projects.Project, req RestartRequest, who Actor, progress Progress) (*RestartResult, error) {
	engine, ok := s.docker.(stopStartEngine)
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", op, p.Name, errNoStopStart)
	}
	unlock, err := s.lockQuiet(p.Name, op, who)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.endBake(p.Name, op)
	start := time.Now()
	ms, err := s.members(ctx, p)
	if err == nil {
		err = s.requireMembers(ctx, p, ms)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, p.Name, err)
	}
	targets, err := choose(p.Name, ms, req.Containers)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, p.Name, err)
	}
	timeout := p.HealthTimeout
	if timeout <= 0 {
		timeout = projects.DefaultHealthTimeout
	}

	deps, cyclic := dependencies(targets)
	if cyclic {
		s.logger.WarnContext(ctx, "depends_on labels form a cycle; "+op+" without order", "project", p.Name)
	}
	if op == OpStop {
		deps = dependents(deps)
	}
	return s.inOrder(ctx, op, p, targets, deps, start, progress, func(m *member, begin func(string)) ContainerResult {
		if op == OpStop {
			return s.stopOne(ctx, engine, m, func() { begin("stopping") })
		}
		return s.startOne(ctx, engine, m, timeout, func() { begin("starting") })
	}, func(r ContainerResult) string { return stopStartMessage(op, r) }), nil
}

// dependents turns "i waits for deps[i]" (start order) around into the stop order:
// each container waits for those that depend on it to be stopped first.
func dependents(deps [][]int) [][]int {
	out := make([][]int, len(deps))
	for i, ds := range deps {
		for _, d := range ds {
			out[d] = append(out[d], i)
		}
	}
	return out
}

// stopStartMessage says how one container's stop or start ended.
func stopStartMessage(op string, r ContainerResult) string {
	switch {
	case r.OK && r.Skipped && op == OpStop:
		return "already stopped: " + r.Condition
	case r.OK && r.Skipped:
		return "already running: " + r.Condition
	case r.OK && op == OpStop:
		return "stopped: " + r.Condition
	}
	return resultMessage(r)
}

// newResult is a result for m before anything is known of its state.
func newResult(m *member) ContainerResult {
	return ContainerResult{Name: m.name, State: StateNotFound, Health: HealthNone, Condition: condition(nil)}
}

// finishResult sets r's outcome from err and its duration since start.
func finishResult(r *ContainerResult, start time.Time, err error) ContainerResult {
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	r.DurationMS = millis(time.Since(start))
	return *r
}

// noteState fills r from an inspect of the container.
func noteState(r *ContainerResult, c *container.InspectResponse) {
	r.State, r.Health, r.Condition = string(c.State.Status), observedHealth(c.State), condition(c)
}

// stopOne stops one container and waits until the engine shows it exited.
// stopping runs when the stop begins (not for a container already stopped).
func (s *Service) stopOne(ctx context.Context, engine stopStartEngine, m *member, stopping func()) ContainerResult {
	start := time.Now()
	r := newResult(m)
	if !m.found() {
		stopping()
		return finishResult(&r, start, errors.New("no such container"))
	}
	before, err := s.inspect(ctx, m.summary.ID)
	if err != nil {
		return finishResult(&r, start, fmt.Errorf("inspect: %w", err))
	}
	if before.State != nil && stopped(before.State) {
		noteState(&r, before)
		r.Skipped, r.Job = true, isJob(before)
		return finishResult(&r, start, nil)
	}
	stopping()
	// No timeout of ours: the container's own stop timeout (stop_grace_period, 10s by
	// default) decides how long it has before the engine kills it.
	if _, err := engine.ContainerStop(ctx, m.summary.ID, client.ContainerStopOptions{}); err != nil {
		return finishResult(&r, start, fmt.Errorf("stop: %w", engineError(err)))
	}
	return finishResult(&r, start, s.awaitExited(ctx, m.summary.ID, &r))
}

// stopped reports whether the container does not run and the engine is not about to
// run it: exited, dead, or created and never started.
func stopped(st *container.State) bool {
	return !st.Running && !st.Restarting
}

// awaitExited polls a stopped container until the engine shows it exited.
func (s *Service) awaitExited(ctx context.Context, id string, r *ContainerResult) error {
	wctx, cancel := context.WithTimeout(ctx, stopWait)
	defer cancel()
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	for {
		c, err := s.inspect(wctx, id)
		switch {
		case err == nil && c.State != nil:
			noteState(r, c)
			if stopped(c.State) {
				r.Job = isJob(c)
				return nil
			}
		case isNotFound(err):
			r.State, r.Health, r.Condition = StateNotFound, HealthNone, condition(nil)
			return errors.New("container disappeared")
		case err != nil && wctx.Err() == nil:
			return fmt.Errorf("inspect: %w", err)
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("waiting for the container to stop: %w", err)
			}
			return fmt.Errorf("still %s %s after it was stopped", r.State, stopWait)
		}
	}
}

// startOne starts one container, unless it runs already, and waits for it to be up
// as a restart does. starting runs when the start begins.
func (s *Service) startOne(ctx context.Context, engine stopStartEngine, m *member, timeout time.Duration, starting func()) ContainerResult {
	start := time.Now()
	r := newResult(m)
	if !m.found() {
		starting()
		return finishResult(&r, start, errors.New("no such container"))
	}
	before, err := s.inspect(ctx, m.summary.ID)
	if err != nil {
		return finishResult(&r, start, fmt.Errorf("inspect: %w", err))
	}
	if before.State != nil && !stopped(before.State) {
		// Running already (or its restart policy is about to run it): nothing to start.
		// A start answers for health, so one that is not healthy yet is waited for.
		r.Skipped = true
		noteState(&r, before)
		if v, _ := judge(before, mustRun, before.RestartCount); v == up {
			return finishResult(&r, start, nil)
		}
		return finishResult(&r, start, s.await(ctx, m.summary.ID, mustRun, timeout, &r))
	}
	want := mustRun
	if isJob(before) {
		// A one-shot job, or a service under restart policy "no" that a stop ended:
		// either passes, by running or by exiting 0.
		want = runOrComplete
	}
	starting()
	if _, err := engine.ContainerStart(ctx, m.summary.ID, client.ContainerStartOptions{}); err != nil {
		return finishResult(&r, start, fmt.Errorf("start: %w", engineError(err)))
	}
	return finishResult(&r, start, s.await(ctx, m.summary.ID, want, timeout, &r))
}
