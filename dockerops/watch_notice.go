package dockerops

import (
	"context"
	"fmt"

	"github.com/scar-dev/scar/store"
)

// Notice records a one-shot notice of scar's own — a deploy that failed and was
// rolled back, a rollback that failed, a deploy whose bake failed — as an incident
// created already resolved (ResolvedAt = OpenedAt), and publishes it like every
// incident change, so that the alert chats are told too. in names the kind, the
// project, the deployment, Summary and Detail; the host and the times are filled in.
func (w *Watcher) Notice(ctx context.Context, in store.Incident) error {
	now := w.cfg.Now()
	in.Host = w.cfg.Host
	if in.EventAt.IsZero() {
		in.EventAt = now
	}
	in.OpenedAt, in.UpdatedAt = now, now
	opened, err := w.cfg.Incidents.OpenIncident(ctx, in)
	if err != nil {
		return fmt.Errorf("notice of %s: %w", in.Project, err)
	}
	opened.State, opened.ResolvedAt = store.IncidentResolved, opened.OpenedAt
	resolved, err := w.cfg.Incidents.UpdateIncident(ctx, opened)
	if err != nil {
		return fmt.Errorf("notice of %s: %w", in.Project, err)
	}
	w.feed.publish(WatchEvent{
		At: resolved.EventAt, Host: resolved.Host, Project: resolved.Project, Container: resolved.Container,
		ContainerID: resolved.ContainerID, Service: resolved.Service, Incident: &resolved,
	})
	return nil
}
