package dockerops

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/store"
)

// loadOpen takes up the open incidents of the host, so that a restarted scar
// continues them (updates and resolves them, and opens none twice): each container
// incident is checked at once against the container as it is now.
func (w *Watcher) loadOpen(ctx context.Context) error {
	open, err := w.cfg.Incidents.OpenIncidents(ctx, w.cfg.Host)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range open {
		in := open[i]
		if in.Kind == store.KindDockerUnreachable {
			w.unreachable = &in
			continue
		}
		if in.ContainerID == "" {
			continue
		}
		c := w.containers[in.ContainerID]
		if c == nil {
			c = &tracked{id: in.ContainerID, name: in.Container, project: in.Project, service: in.Service}
			w.containers[in.ContainerID] = c
		}
		switch in.Kind {
		case store.KindUnhealthy:
			c.health = &in
		case store.KindDied, store.KindOOM, store.KindCrashLoop:
			c.exit = &in
		default:
			continue
		}
		c.lastUpdate, c.check = in.UpdatedAt, now
	}
	return nil
}

// nextCheck returns a channel that fires when the earliest recovery check is due,
// nil when none is.
func (w *Watcher) nextCheck() <-chan time.Time {
	var next time.Time
	for _, c := range w.containers {
		if !c.check.IsZero() && (next.IsZero() || c.check.Before(next)) {
			next = c.check
		}
	}
	if next.IsZero() {
		return nil
	}
	return time.After(time.Until(next))
}

// runChecks looks at the containers whose check is due: one that has run for the
// stable period recovers from its died, oom or crash loop incident; one that is
// healthy recovers from its unhealthy incident (an incident taken up at start, whose
// "healthy" event the watcher may never see); one that is gone ends them.
func (w *Watcher) runChecks(ctx context.Context) {
	now := time.Now()
	for _, c := range w.containers {
		if c.check.IsZero() || c.check.After(now) {
			continue
		}
		c.check = time.Time{}
		if err := w.checkRecovered(ctx, c); err != nil {
			if ctx.Err() == nil {
				w.warnOnce("check", "event watcher: cannot check whether a container recovered", "container", c.name, "err", err)
				c.check = now.Add(w.cfg.StablePeriod)
			}
		}
	}
}

func (w *Watcher) checkRecovered(ctx context.Context, c *tracked) error {
	ictx, cancel := context.WithTimeout(ctx, detailTimeout)
	res, err := w.cfg.Engine.ContainerInspect(ictx, c.id, client.ContainerInspectOptions{})
	cancel()
	if isNotFound(err) {
		delete(w.containers, c.id)
		for _, in := range []**store.Incident{&c.exit, &c.health} {
			if *in != nil {
				if err := w.resolve(ctx, in, time.Now(), "container removed"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	st := res.Container.State
	if st == nil {
		return nil
	}
	if c.health != nil && st.Health != nil && st.Health.Status == container.Healthy {
		if err := w.resolve(ctx, &c.health, time.Now(), ""); err != nil {
			return err
		}
	}
	if c.exit == nil || !st.Running || st.Restarting {
		return nil
	}
	started, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if err != nil {
		return nil
	}
	// The wall clock, as the Engine's StartedAt.
	if ran := time.Since(started); ran < w.cfg.StablePeriod {
		c.check = time.Now().Add(w.cfg.StablePeriod - ran)
		return nil
	}
	return w.resolve(ctx, &c.exit, time.Now(), "")
}

// openUnreachable opens the host's docker_unreachable incident: the event stream
// has been down for UnreachableAfter.
func (w *Watcher) openUnreachable(ctx context.Context) {
	if w.unreachable != nil {
		return
	}
	now := w.cfg.Now()
	since := now.Add(-time.Since(w.stream.downSince))
	in, err := w.cfg.Incidents.OpenIncident(ctx, store.Incident{
		Host: w.cfg.Host, Kind: store.KindDockerUnreachable,
		Summary: "Docker unreachable since " + since.Format(time.RFC3339),
		EventAt: since, OpenedAt: now, UpdatedAt: now,
	})
	if err != nil {
		w.warnOnce("unreachable", "event watcher: cannot record that Docker is unreachable", "err", err)
		return
	}
	w.unreachable = &in
	w.publishIncident(in)
}

// resolveUnreachable ends the docker_unreachable incident: the stream is back.
func (w *Watcher) resolveUnreachable(ctx context.Context) {
	if w.unreachable == nil {
		return
	}
	in := *w.unreachable
	now := w.cfg.Now()
	in.State, in.ResolvedAt, in.UpdatedAt = store.IncidentResolved, now, now
	saved, err := w.cfg.Incidents.UpdateIncident(ctx, in)
	if err != nil {
		w.warnOnce("unreachable", "event watcher: cannot record that Docker is back", "err", err)
		return
	}
	w.unreachable = nil
	w.publishIncident(saved)
}
