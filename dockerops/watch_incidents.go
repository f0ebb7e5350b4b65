package dockerops

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/store"
)

// tracked is what the watcher knows of one container of a project.
type tracked struct {
	id, name, project, service string
	// exit is the open died, oom or crash_loop incident: one per container, the kinds
	// of one family, so that a container that dies, is found OOM-killed and loops is
	// one incident (one message) that changes kind.
	exit *store.Incident
	// health is the open unhealthy incident.
	health *store.Incident
	// stoppedAt is the time of a kill or stop sent to the container since it last
	// started: the die that follows is deliberate.
	stoppedAt time.Time
	// signalAt is the time of a kill with another signal (HUP, USR1, ...) since it
	// last started.
	signalAt time.Time
	// diedAt is the time of its last die since it last started (zero when running).
	diedAt time.Time
	// onItsOwn: that die was not deliberate and not during scar's own operation.
	onItsOwn bool
	// oomAt is the time of an oom event since it last started.
	oomAt time.Time
	// restarts are the times it started again after a die while exit was open,
	// within the crash loop window.
	restarts []time.Time
	lastCode int
	// lastUpdate is when exit was last written (the crash loop count is written at
	// most every crashLoopUpdateEvery).
	lastUpdate time.Time
	// check is when to look whether it recovered (wall clock, monotonic); zero: no
	// check due.
	check time.Time
}

// crashLoopUpdateEvery bounds how often a crash loop's restart count is written
// (each write is a new version of the incident, an edit of its alert): a loop
// restarting every few hundred milliseconds at first must not edit its message as
// often. A change of kind or state is always written at once.
const crashLoopUpdateEvery = 30 * time.Second

func (w *Watcher) container(ev WatchEvent) *tracked {
	c := w.containers[ev.ContainerID]
	if c == nil {
		c = &tracked{id: ev.ContainerID}
		w.containers[ev.ContainerID] = c
	}
	c.name, c.project, c.service = ev.Container, ev.Project, ev.Service
	return c
}

// incidentsOf applies one container event of a project to its incidents.
func (w *Watcher) incidentsOf(ctx context.Context, ev WatchEvent) error {
	c := w.container(ev)
	switch events.Action(ev.Action) {
	case events.ActionStart:
		return w.started(ctx, c, ev.At)
	case events.ActionKill:
		c.killSent(ev.At, ev.signal)
	case events.ActionStop:
		c.stopSent(ev.At)
	case events.ActionOOM:
		return w.oomKilled(ctx, c, ev.At)
	case events.ActionDie:
		code := 0
		if ev.ExitCode != nil {
			code = *ev.ExitCode
		}
		return w.died(ctx, c, ev.At, code)
	case events.ActionHealthStatusUnhealthy:
		return w.unhealthy(ctx, c, ev.At)
	case events.ActionHealthStatusHealthy:
		if c.health != nil {
			return w.resolve(ctx, &c.health, ev.At, "")
		}
	case events.ActionDestroy:
		delete(w.containers, c.id)
		for _, in := range []**store.Incident{&c.exit, &c.health} {
			if *in != nil {
				if err := w.resolve(ctx, in, ev.At, "container removed"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// started: the container runs again. After a die of an open incident it is a
// restart, counted towards a crash loop; the incident recovers if the container
// keeps running for the stable period.
func (w *Watcher) started(ctx context.Context, c *tracked, at time.Time) error {
	restarted, onItsOwn := !c.diedAt.IsZero(), c.onItsOwn
	c.stoppedAt, c.signalAt, c.diedAt, c.oomAt, c.onItsOwn = time.Time{}, time.Time{}, time.Time{}, time.Time{}, false
	if c.exit == nil {
		if restarted && onItsOwn && !w.quieted(c.project, at) {
			return w.cleanRestart(ctx, c, at)
		}
		return nil
	}
	c.check = time.Now().Add(w.cfg.StablePeriod)
	if !restarted {
		return nil
	}
	c.restarts = append(timesSince(c.restarts, at.Add(-w.cfg.CrashLoopWindow)), at)
	in := *c.exit
	switch {
	case in.Kind != store.KindCrashLoop && len(c.restarts) >= w.cfg.CrashLoopRestarts:
		in.Kind, in.Count = store.KindCrashLoop, len(c.restarts)
	case in.Kind != store.KindCrashLoop:
		return nil
	case at.Sub(c.lastUpdate) >= crashLoopUpdateEvery:
		in.Count++
	default:
		c.exit.Count++ // kept in memory, written with the next update
		return nil
	}
	in.Summary = fmt.Sprintf("restarting in a loop: %d restarts in %s, last exit code %d",
		len(c.restarts), shortDuration(w.cfg.CrashLoopWindow), c.lastCode)
	return w.update(ctx, c, &c.exit, in, at)
}

// cleanRestart: the container's restart policy started it again after it exited
// with code 0 on its own (no incident is open: a clean exit alerts nothing). A
// process that exits at once under restart: always loops as surely as one that
// fails, so these restarts count towards a crash loop too. Only the engine's own
// restarts count (RestartCount > 0; a docker start or compose up resets it): a job
// that someone runs again is not a loop.
func (w *Watcher) cleanRestart(ctx context.Context, c *tracked, at time.Time) error {
	ictx, cancel := context.WithTimeout(ctx, detailTimeout)
	res, err := w.cfg.Engine.ContainerInspect(ictx, c.id, client.ContainerInspectOptions{})
	cancel()
	if err != nil {
		w.detailMissing(c.id, "inspect", err)
		return nil
	}
	if res.Container.RestartCount == 0 {
		c.restarts = nil
		return nil
	}
	c.restarts = append(timesSince(c.restarts, at.Add(-w.cfg.CrashLoopWindow)), at)
	n := len(c.restarts)
	if n < w.cfg.CrashLoopRestarts {
		return nil
	}
	restarts := c.restarts
	in := store.Incident{Kind: store.KindCrashLoop, Count: n, Summary: fmt.Sprintf(
		"restarting in a loop: %d restarts in %s, last exit code %d", n, shortDuration(w.cfg.CrashLoopWindow), c.lastCode)}
	if err := w.open(ctx, c, &c.exit, in, at); err != nil {
		return err
	}
	c.restarts, c.check = restarts, time.Now().Add(w.cfg.StablePeriod)
	return nil
}

// timesSince keeps the times at or after from.
func timesSince(ts []time.Time, from time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}

// died: a die that the container's process did on its own (not after a kill or
// stop, not during scar's own operation, with a non-zero code) opens a died or,
// when the kernel killed it for memory, an oom incident. A die while one is open is
// a step of a loop, counted when it starts again.
func (w *Watcher) died(ctx context.Context, c *tracked, at time.Time, code int) error {
	c.check = time.Time{}
	deliberate := c.deliberate(at)
	c.diedAt, c.stoppedAt, c.signalAt = at, time.Time{}, time.Time{}
	if deliberate || w.quieted(c.project, at) {
		return nil
	}
	c.onItsOwn, c.lastCode = true, code
	if code == 0 {
		return nil
	}
	if c.exit != nil {
		return nil
	}
	d := w.describeExit(ctx, c.id, at, code)
	in := store.Incident{Kind: store.KindDied, Summary: fmt.Sprintf("exited with code %d", code), Detail: d.logTail}
	if d.oomKilled || !c.oomAt.IsZero() {
		in.Kind, in.Summary, in.Detail = store.KindOOM, oomSummary(d.memoryLimit), ""
	}
	return w.open(ctx, c, &c.exit, in, at)
}

// oomKilled: the kernel killed a process of the container for memory. Its die
// usually follows (and then finds the oom incident open); when the die came first,
// its died incident becomes oom.
func (w *Watcher) oomKilled(ctx context.Context, c *tracked, at time.Time) error {
	c.oomAt = at
	if w.quieted(c.project, at) {
		return nil
	}
	if c.exit == nil {
		// A process other than the container's main one may be the one killed: the
		// container then runs on, and recovers once it has for the stable period
		// (a die that follows cancels the check).
		c.check = time.Now().Add(w.cfg.StablePeriod)
		limit := w.describeExit(ctx, c.id, time.Time{}, 0).memoryLimit
		return w.open(ctx, c, &c.exit, store.Incident{Kind: store.KindOOM, Summary: oomSummary(limit)}, at)
	}
	if c.exit.Kind == store.KindDied && !c.diedAt.IsZero() {
		in := *c.exit
		in.Kind, in.Summary = store.KindOOM, oomSummary(w.describeExit(ctx, c.id, time.Time{}, 0).memoryLimit)
		return w.update(ctx, c, &c.exit, in, at)
	}
	return nil
}

func oomSummary(limit int64) string {
	if limit <= 0 {
		return "OOM killed (no memory limit)"
	}
	return fmt.Sprintf("OOM killed (memory limit %s)", mib(limit))
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// unhealthy: the container's health check failed its retries.
func (w *Watcher) unhealthy(ctx context.Context, c *tracked, at time.Time) error {
	if c.health != nil || w.quieted(c.project, at) {
		return nil
	}
	out := w.healthOutput(ctx, c.id)
	in := store.Incident{Kind: store.KindUnhealthy, Summary: "health check failing", Detail: out}
	if line := lastLine(out); line != "" {
		in.Summary += ": " + line
	}
	return w.open(ctx, c, &c.health, in, at)
}

// open records a new incident of the container in *slot and publishes it. Callers
// open only into an empty slot: the replay of an event handled before a crash finds
// the incident it opened (loaded from the store at start) and opens nothing.
func (w *Watcher) open(ctx context.Context, c *tracked, slot **store.Incident, in store.Incident, at time.Time) error {
	now := w.cfg.Now()
	in.Host, in.Project, in.Container, in.ContainerID, in.Service = w.cfg.Host, c.project, c.name, c.id, c.service
	in.EventAt, in.OpenedAt, in.UpdatedAt = at, now, now
	saved, err := w.cfg.Incidents.OpenIncident(ctx, in)
	if err != nil {
		return err
	}
	*slot, c.lastUpdate, c.restarts = &saved, at, nil
	w.publishIncident(saved)
	return nil
}

// update writes a change of an open incident of the container and publishes it.
func (w *Watcher) update(ctx context.Context, c *tracked, slot **store.Incident, in store.Incident, at time.Time) error {
	in.UpdatedAt = w.cfg.Now()
	saved, err := w.cfg.Incidents.UpdateIncident(ctx, in)
	if err != nil {
		return err
	}
	*slot, c.lastUpdate = &saved, at
	w.publishIncident(saved)
	return nil
}

// resolve ends the incident in *slot at at (recovered, or with a note why it
// ended) and publishes it.
func (w *Watcher) resolve(ctx context.Context, slot **store.Incident, at time.Time, note string) error {
	in := **slot
	in.State, in.ResolvedAt, in.UpdatedAt = store.IncidentResolved, at, w.cfg.Now()
	if note != "" {
		in.Detail = joinLines(in.Detail, note)
	}
	saved, err := w.cfg.Incidents.UpdateIncident(ctx, in)
	if err != nil {
		return err
	}
	*slot = nil
	w.publishIncident(saved)
	return nil
}

func (w *Watcher) publishIncident(in store.Incident) {
	w.feed.publish(WatchEvent{
		At: in.UpdatedAt, Host: in.Host, Project: in.Project,
		Container: in.Container, ContainerID: in.ContainerID, Service: in.Service,
		Incident: &in,
	})
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

// shortDuration writes whole minutes as "10m", anything else as Go does.
func shortDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
