package dockerops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// removedNote is a container of a service removed from the Compose file, as journaled:
// the deploy stops it at apply and removes it only once the new version passed the
// gate, so that an undo starts the very same container again.
type removedNote struct {
	Service    string `json:"service"`
	ID         string `json:"id"`
	Name       string `json:"name"`
	WasRunning bool   `json:"was_running"`
}

// applyServices applies a Compose project's per-service plan:
//   - remove: its containers are stopped (removed after the gate). Compose has no
//     command for this: `rm` names only services of the file, and `up --remove-orphans`
//     would also start every stopped service of the file; so the Engine stops them;
//   - create and recreate: `compose up -d --no-deps --force-recreate <services>`, so
//     that Compose makes them from the Compose file and the images as they now are,
//     and no other service (a database) is touched;
//   - restart: the containers are restarted so that bind-mounted code is read again.
func (s *Service) applyServices(ctx context.Context, p *projects.Project, dp *dockerPlan) error {
	for _, m := range dp.remove {
		if _, err := s.builder.ContainerStop(ctx, m.summary.ID, client.ContainerStopOptions{}); err != nil && !isNotFound(err) {
			return fmt.Errorf("stop %s (service %s, removed from the Compose file): %w", m.name, m.service, engineError(err))
		}
	}
	if len(dp.targets) > 0 {
		args := append([]string{"up", "-d", "--no-deps", "--force-recreate"}, dp.targets...)
		if _, err := s.compose.Run(ctx, p.Production, p.ComposeProject, p.DockerHost, args...); err != nil {
			return err
		}
	}
	for _, m := range dp.restart {
		if _, err := s.docker.ContainerRestart(ctx, m.summary.ID, client.ContainerRestartOptions{}); err != nil {
			return fmt.Errorf("restart %s: %w", m.name, engineError(err))
		}
	}
	return nil
}

// removedNotes records the containers the deploy removes, before it stops them.
func removedNotes(dp *dockerPlan) []removedNote {
	var out []removedNote
	for _, m := range dp.remove {
		out = append(out, removedNote{Service: m.service, ID: m.summary.ID, Name: m.name, WasRunning: m.summary.State == "running"})
	}
	return out
}

// dropRemoved removes the containers of the services a successful deploy removed.
func (s *Service) dropRemoved(ctx context.Context, removed []removedNote) error {
	var errs []error
	for _, r := range removed {
		if _, err := s.builder.ContainerRemove(ctx, r.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s (service %s): %w", r.Name, r.Service, engineError(err)))
		}
	}
	return errors.Join(errs...)
}

// reapplyServices puts a Compose project's services back as they were before a deploy
// with per-service actions, once its files and image names are restored: the created
// services' containers are removed, the recreated ones recreated from the restored
// Compose file and images, the restarted ones restarted, the removed ones started
// again — the same container when it is still there (an undo), else created anew by
// Compose from the restored file (a rollback after the deploy succeeded).
func (s *Service) reapplyServices(ctx context.Context, p *projects.Project, note *journalNote) error {
	var errs []error
	if err := s.dropCreated(ctx, p, note); err != nil {
		errs = append(errs, err)
	}
	up := servicesWith(note.Actions, ActionRecreate)
	var start []removedNote
	for _, r := range note.Removed {
		if _, err := s.inspect(ctx, r.ID); err == nil {
			start = append(start, r)
		} else if !slices.Contains(up, r.Service) {
			up = append(up, r.Service)
		}
	}
	if len(up) > 0 {
		args := append([]string{"up", "-d", "--no-deps", "--force-recreate"}, up...)
		if _, err := s.compose.Run(ctx, p.Production, p.ComposeProject, p.DockerHost, args...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range start {
		if !r.WasRunning {
			continue
		}
		if _, err := s.builder.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("start %s again: %w", r.Name, engineError(err)))
		}
	}
	for _, svc := range servicesWith(note.Actions, ActionRestart) {
		ids, err := s.serviceContainers(ctx, p, svc)
		errs = append(errs, err)
		for _, id := range ids {
			if _, err := s.docker.ContainerRestart(ctx, id, client.ContainerRestartOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("restart %s: %w", svc, engineError(err)))
			}
		}
	}
	return errors.Join(errs...)
}

// dropCreated removes the containers of the services the deploy created.
func (s *Service) dropCreated(ctx context.Context, p *projects.Project, note *journalNote) error {
	var errs []error
	for _, svc := range servicesWith(note.Actions, ActionCreate) {
		ids, err := s.serviceContainers(ctx, p, svc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			if _, err := s.builder.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove %s's container %s: %w", svc, shortID(id), engineError(err)))
			}
		}
	}
	return errors.Join(errs...)
}

// serviceContainers returns the ids of a Compose service's containers, stopped ones too.
func (s *Service) serviceContainers(ctx context.Context, p *projects.Project, service string) ([]string, error) {
	items, err := s.list(ctx, client.Filters{}.Add("label", labelProject+"="+p.ComposeProject).Add("label", labelService+"="+service))
	if err != nil {
		return nil, fmt.Errorf("list the containers of %s: %w", service, err)
	}
	var ids []string
	for _, c := range items {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// serviceApplyMessage says what the apply stage does to the services.
func serviceApplyMessage(actions []ServiceAction) string {
	var parts []string
	for _, a := range []struct{ action, verb string }{
		{ActionRemove, "removing"}, {ActionCreate, "creating"}, {ActionRecreate, "recreating"}, {ActionRestart, "restarting"},
	} {
		if svcs := servicesWith(actions, a.action); len(svcs) > 0 {
			parts = append(parts, a.verb+" "+joinNames(svcs))
		}
	}
	if len(parts) == 0 {
		return "no service uses the changed files: nothing to apply"
	}
	return strings.Join(parts, "; ")
}
