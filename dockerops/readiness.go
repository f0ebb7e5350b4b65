package dockerops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
)

// What a container's inspected state amounts to, in one place for status, restart
// and the deploy gate.
//
// A container is a one-shot job when it has exited under a restart policy that lets
// it stay stopped: "no" (Compose's default), none, or "on-failure". A job that exited
// 0 has completed; one that exited otherwise has failed. A container whose policy is
// "always" or "unless-stopped" is meant to run: stopped, it has exited, and it is
// never a job. A container that runs is never a job either, except for one a restart
// or deploy ran again because it had completed as one.
//
// The engine cannot tell a failed job from a service that crashed under policy "no"
// (both exited non-zero and stay stopped); both are shown as "failed (exit N)", and
// a restart of the project runs both again. Nor a completed job from such a service
// stopped by hand with exit 0; a service that should run gives itself away with
// `restart: unless-stopped` or `always`, which is what a service should have anyway.

// expectation is what a wait expects a container to do.
type expectation int

const (
	// mustRun: a service. It must run, stay running, and with a health check be healthy.
	mustRun expectation = iota
	// mustComplete: a job that completed before. It must exit 0; one that runs and
	// whose health check passes is taken for a service after all.
	mustComplete
	// runOrComplete: nothing is known from before (a new container, or one that had
	// failed): it passes as a service, or by exiting 0 when its policy lets it stop.
	runOrComplete
)

// loopRestarts is how many restarts by its restart policy, since a wait began, make
// a container one that restarts in a loop.
const loopRestarts = 2

// settleWindow is how long a container without a health check must be seen running,
// unchanged, before it counts as up: one that exits right after starting, or that
// its restart policy restarts in a loop, must not pass because it was caught running.
const settleWindow = 2 * time.Second

// lastCheckMax bounds the health check output quoted in a cause.
const lastCheckMax = 200

// letsItStop reports whether the container's restart policy leaves it stopped after
// it exits 0.
func letsItStop(c *container.InspectResponse) bool {
	if c.HostConfig == nil {
		return true
	}
	switch c.HostConfig.RestartPolicy.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyOnFailure:
		return true
	}
	return false
}

// exited reports whether the container has stopped and the engine is not about to
// start it again.
func exited(st *container.State) bool {
	return !st.Running && !st.Restarting && (st.Status == container.StateExited || st.Status == container.StateDead)
}

// isJob is the rule above: exited under a policy that lets it stay stopped.
func isJob(c *container.InspectResponse) bool {
	return c != nil && c.State != nil && exited(c.State) && letsItStop(c)
}

// completedJob reports whether the container is a job that exited 0.
func completedJob(c *container.InspectResponse) bool {
	return isJob(c) && c.State.ExitCode == 0 && !c.State.OOMKilled
}

// observedHealth is the container's health while it runs, and "none" when it does
// not: Engine 20.10 marks any stopped container with a health check "unhealthy",
// which says nothing about its health.
func observedHealth(st *container.State) string {
	if !st.Running || st.Restarting {
		return HealthNone
	}
	return health(st)
}

// condition says in a few words what the container's state, health and exit code add
// up to; the cause-naming errors below use the same words.
func condition(c *container.InspectResponse) string {
	if c == nil || c.State == nil {
		return "not found"
	}
	st := c.State
	switch {
	case completedJob(c):
		return "completed (exit 0)"
	case isJob(c):
		return fmt.Sprintf("failed (exit %d%s)", st.ExitCode, oomNote(c))
	case exited(st):
		return fmt.Sprintf("exited (code %d%s)", st.ExitCode, oomNote(c))
	case st.Restarting:
		return fmt.Sprintf("restarting (%s, last exit code %d%s)", countOf(c.RestartCount, "restart"), st.ExitCode, oomNote(c))
	case st.Paused:
		return "paused"
	case st.Running:
		switch health(st) {
		case HealthHealthy:
			return "running, healthy"
		case HealthUnhealthy:
			return "running, unhealthy" + lastCheck(st, "; last check: ")
		case HealthStarting:
			return "running, health check starting"
		}
		return "running"
	}
	return string(st.Status)
}

// sigkill is the exit code of a process killed by SIGKILL, as the OOM killer does.
const sigkill = 137

// oomNote says that the kernel killed the container for memory: ", OOM killed" when
// the engine flagged it so. Engine 20.10 misses the flag when the kernel's OOM event
// reaches it after the exit (a race, seen in 1 of 6 runs on the test machine), so a
// container killed by SIGKILL under a memory limit is "likely out of memory".
func oomNote(c *container.InspectResponse) string {
	switch {
	case c.State.OOMKilled:
		return ", OOM killed"
	case c.State.ExitCode == sigkill && c.HostConfig != nil && c.HostConfig.Memory > 0:
		return ", killed: likely out of memory"
	}
	return ""
}

// lastCheck is the output of the container's last health check of its current run,
// after prefix; "" when there is none.
func lastCheck(st *container.State, prefix string) string {
	if st.Health == nil || len(st.Health.Log) == 0 {
		return ""
	}
	last := st.Health.Log[len(st.Health.Log)-1]
	// The log outlives a restart; a check from before this run says nothing of it.
	if started, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && last.Start.Before(started) {
		return ""
	}
	out := strings.TrimSpace(last.Output)
	if out == "" {
		out = "exit code " + strconv.Itoa(last.ExitCode)
	}
	return prefix + truncate(out, lastCheckMax)
}

// verdict is what one look at a container says of a wait for it.
type verdict int

const (
	waiting verdict = iota
	up
	completed
	failed
)

// judge looks once at a container a wait expects to do want; base is its restart
// count when the wait began. A failure comes with its cause, named in this order:
// exited (code, OOM killed), restarting in a loop (count), unhealthy (last check).
func judge(c *container.InspectResponse, want expectation, base int) (verdict, error) {
	st := c.State
	restarts := c.RestartCount - base
	if want == mustComplete && !letsItStop(c) {
		want = mustRun // its policy now keeps it running: a service
	}
	switch {
	case exited(st):
		if want != mustRun && letsItStop(c) && st.ExitCode == 0 && !st.OOMKilled {
			return completed, nil
		}
		if want == mustComplete {
			return failed, fmt.Errorf("failed (exit %d%s)%s", st.ExitCode, oomCause(c), suffix(st.Error))
		}
		return failed, exitedCause(c)
	case restarts >= loopRestarts:
		return failed, fmt.Errorf("restarting in a loop: restarted %d times, last exit code %d%s", restarts, st.ExitCode, oomCause(c))
	case st.Restarting, st.Paused, !st.Running:
		return waiting, nil // between two runs, paused, or not started yet
	}
	h := health(st)
	if want == mustComplete && h != HealthHealthy {
		// A job at work; a health check it inherited from a service's image is not
		// its matter, unless it passes: then this is a service after all.
		return waiting, nil
	}
	switch h {
	case HealthUnhealthy:
		return failed, unhealthyCause(st)
	case HealthStarting:
		return waiting, nil
	}
	return up, nil
}

func exitedCause(c *container.InspectResponse) error {
	return fmt.Errorf("exited with code %d%s%s", c.State.ExitCode, oomCause(c), suffix(c.State.Error))
}

// oomCause is oomNote with the container's memory limit.
func oomCause(c *container.InspectResponse) string {
	note := oomNote(c)
	if note == "" || c.HostConfig == nil || c.HostConfig.Memory <= 0 {
		return note
	}
	limit := humanBytes(c.HostConfig.Memory)
	if m := c.HostConfig.Memory; m%(1<<20) == 0 {
		limit = fmt.Sprintf("%d MiB", m>>20)
	}
	return note + " (memory limit " + limit + ")"
}

// unhealthyCause says that the engine declared a container unhealthy, with its last
// health check's output.
func unhealthyCause(st *container.State) error {
	return fmt.Errorf("unhealthy: its health check failed %d times in a row%s", st.Health.FailingStreak, lastCheck(st, "; last check: "))
}

// timeoutCause says why a container was not ready when the wait's time was up.
func timeoutCause(c *container.InspectResponse, want expectation, base int, timeout time.Duration) error {
	t := timeout.Round(time.Second)
	if c == nil || c.State == nil {
		return fmt.Errorf("no answer from the engine within %s", t)
	}
	st := c.State
	switch {
	case st.Restarting || c.RestartCount > base:
		return fmt.Errorf("restarting after %s: restarted %d times, last exit code %d%s", t, c.RestartCount-base, st.ExitCode, oomCause(c))
	case !st.Running || st.Paused:
		return fmt.Errorf("not running within %s (state %s)", t, st.Status)
	case health(st) == HealthStarting:
		last := lastCheck(st, "last check: ")
		if last == "" {
			last = "no health check has run yet"
		}
		return fmt.Errorf("still starting after %s: its health check has not passed (%s)", t, last)
	case want == mustComplete:
		return fmt.Errorf("job still running after %s (it had completed before, so it must exit 0)", t)
	}
	return fmt.Errorf("not ready within %s (%s)", t, condition(c))
}

// await polls a container until it is ready as want asks, has failed, or timeout
// passes; r follows the last state seen. Without a health check a running container
// must stay up, unchanged, for settleWindow (or what is left of the timeout). An event
// of the container (containerChanges) makes it look at once, between two polls.
func (s *Service) await(ctx context.Context, id string, want expectation, timeout time.Duration, r *ContainerResult) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Subscribed before the first look: a change after it wakes the wait.
	changed, stop := s.containerChanges(wctx, id)
	defer stop()
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	window := min(settleWindow, timeout/4)
	var (
		last        *container.InspectResponse
		base        = -1
		upSince     time.Time
		upStartedAt string
	)
	for {
		c, err := s.inspect(wctx, id)
		switch {
		case err == nil && c.State == nil:
			// Not seen from an engine; look again.
		case err == nil:
			last = c
			if base < 0 {
				base = c.RestartCount
			}
			r.State, r.Health, r.Condition = string(c.State.Status), observedHealth(c.State), condition(c)
			v, cause := judge(c, want, base)
			switch {
			case v == failed:
				return cause
			case v == completed:
				r.Job = true
				return nil
			case v == up && health(c.State) == HealthHealthy:
				return nil // a passing health check has watched it already
			case v == up && (upSince.IsZero() || c.State.StartedAt != upStartedAt):
				upSince, upStartedAt = time.Now(), c.State.StartedAt
			case v == up && time.Since(upSince) >= window:
				return nil
			case v != up:
				upSince = time.Time{}
			}
		case isNotFound(err):
			r.State, r.Health, r.Condition = StateNotFound, HealthNone, condition(nil)
			return errors.New("container disappeared")
		case wctx.Err() == nil:
			return fmt.Errorf("inspect: %w", err)
		}
		select {
		case <-tick.C:
		case <-changed:
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("waiting for the container: %w", err)
			}
			if !upSince.IsZero() {
				return nil // up, unchanged, for all the time there was
			}
			return timeoutCause(last, want, base, timeout)
		}
	}
}

// exitCodeOf reads a stopped container's exit code from its list entry, whose status
// the engine writes as "Exited (0) 3 minutes ago" (what docker ps shows); ok is false
// for a container that has not exited or an entry it cannot read.
func exitCodeOf(c *container.Summary) (code int, ok bool) {
	if c == nil || c.State != container.StateExited {
		return 0, false
	}
	_, rest, found := strings.Cut(c.Status, "(")
	num, _, closed := strings.Cut(rest, ")")
	if !found || !closed {
		return 0, false
	}
	code, err := strconv.Atoi(num)
	return code, err == nil
}
