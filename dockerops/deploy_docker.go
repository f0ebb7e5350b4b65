package dockerops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
)

// Builder is the part of the Engine API that deploys use beyond Engine.
// *client.Client satisfies it.
type Builder interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageList(ctx context.Context, options client.ImageListOptions) (client.ImageListResult, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	ImageTag(ctx context.Context, options client.ImageTagOptions) (client.ImageTagResult, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerStart(ctx context.Context, id string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStop(ctx context.Context, id string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRemove(ctx context.Context, id string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerRename(ctx context.Context, id string, options client.ContainerRenameOptions) (client.ContainerRenameResult, error)
	NetworkConnect(ctx context.Context, network string, options client.NetworkConnectOptions) (client.NetworkConnectResult, error)
}

var _ Builder = (*client.Client)(nil)

// dockerPlan is the Docker half of a deploy plan: which services or containers the
// deploy applies, whether it builds, and what becomes of each container.
type dockerPlan struct {
	compose bool
	// targets are the Compose services the deploy creates or recreates, or the
	// container names of a plain project.
	targets []string
	// build are the targets whose image is rebuilt.
	build          []string
	rebuildReason  string
	composeChanged bool
	// recreate get a new container (Compose up, or a plain recreate); restart are
	// restarted in place so that bind-mounted code is read again; remove are the
	// containers of services gone from the Compose file.
	recreate []*member
	restart  []*member
	remove   []*member
	// actions are, for a Compose project, what the deploy does to each service.
	actions []ServiceAction
	// images are the image names the Compose file gives the rebuilt services ("" when
	// it names none).
	images map[string]string
	// undone makes affects name the containers an undo put back rather than those the
	// deploy changed.
	undone bool
}

// recreating reports whether the deploy replaces containers rather than restarting them.
func (d *dockerPlan) recreating() bool {
	if d.actions != nil {
		return len(d.targets) > 0
	}
	return len(d.build) > 0 || d.composeChanged
}

// planDocker decides, from the file plan, the project's containers and its Compose
// views before and after the deploy (nil for a plain project), what the deploy does on
// the Docker side.
func (s *Service) planDocker(p *projects.Project, files *deployments.Plan, ms []*member, before, after *composeView) (*dockerPlan, error) {
	dp := &dockerPlan{compose: p.ComposeProject != "", composeChanged: len(files.ComposeFiles) > 0}
	found := slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return !m.found() })
	if dp.compose {
		if !composeFileAfter(p, files) {
			// Compose would read no file: every service would look removed from it.
			return nil, misconfigured(p, "neither the workspace %s nor production %s has a Compose file (compose.yaml, docker-compose.yml, …): a deploy of compose project %q could neither create nor recreate its services and would take every one for removed; add the project's Compose file to the workspace",
				p.Workspace, p.Production, p.ComposeProject)
		}
		dp.actions = []ServiceAction{}
		if err := s.planServices(p, files, found, *before, *after, dp); err != nil {
			return nil, err
		}
		return dp, nil
	}
	contexts := map[string]string{} // target → build context
	for _, m := range found {
		dp.targets = append(dp.targets, m.name)
		if hasDockerfile(p, files) {
			contexts[m.name] = p.Production
		}
	}

	members := func(target string) []*member {
		var out []*member
		for _, m := range found {
			if m.name == target {
				out = append(out, m)
			}
		}
		return out
	}
	changed := changedPaths(p, files)
	for _, t := range dp.targets {
		if contexts[t] == "" {
			continue
		}
		switch {
		case p.Rebuild == projects.RebuildNever:
		case files.Rebuild:
			dp.build = append(dp.build, t)
			dp.rebuildReason = files.RebuildReason
		default:
			if f := bakedFile(changed, contexts[t], members(t)); f != "" {
				dp.build = append(dp.build, t)
				if dp.rebuildReason == "" {
					rel, _ := filepath.Rel(p.Production, f)
					dp.rebuildReason = fmt.Sprintf("%s is baked into the image of %s, not bind-mounted", rel, t)
				}
			}
		}
	}
	for _, t := range dp.targets {
		for _, m := range members(t) {
			switch {
			case dp.recreating():
				dp.recreate = append(dp.recreate, m)
			case mountsAny(m, changed):
				dp.restart = append(dp.restart, m)
			}
		}
	}
	return dp, nil
}

func hasDockerfile(p *projects.Project, files *deployments.Plan) bool {
	if _, err := os.Stat(filepath.Join(p.Production, "Dockerfile")); err == nil {
		return true
	}
	return slices.Contains(files.Added, "Dockerfile")
}

// changedPaths are the absolute production paths a deploy writes or deletes.
func changedPaths(p *projects.Project, files *deployments.Plan) []string {
	var out []string
	for _, list := range [][]string{files.Added, files.Changed, files.Deleted} {
		for _, rel := range list {
			out = append(out, filepath.Join(p.Production, filepath.FromSlash(rel)))
		}
	}
	return out
}

// bakedFile returns a changed file inside the build context that no container of the
// service bind-mounts: the image holds a copy of it, so only a rebuild ships it.
func bakedFile(changed []string, buildContext string, ms []*member) string {
	for _, f := range changed {
		if !within(f, buildContext) {
			continue
		}
		mounted := len(ms) > 0
		for _, m := range ms {
			mounted = mounted && mountsAny(m, []string{f})
		}
		if !mounted {
			return f
		}
	}
	return ""
}

// mountsAny reports whether a bind mount of the container covers one of paths.
func mountsAny(m *member, paths []string) bool {
	for _, mp := range m.summary.Mounts {
		if mp.Type != "bind" || mp.Source == "" {
			continue
		}
		for _, f := range paths {
			if within(f, mp.Source) {
				return true
			}
		}
	}
	return false
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// keptImage is an image a deploy replaces, tagged so that a rollback can restore it.
type keptImage struct {
	Target string `json:"target"`
	Ref    string `json:"ref"` // what the containers were created from, e.g. "po-backend:latest"
	ID     string `json:"id"`  // the image before the build; "" when there was none
	// New is the image the deploy built; an undo or rollback removes it.
	New string `json:"new,omitempty"`
}

// keepImages tags the running image of each target to be rebuilt with
// scar-rollback/<project>/<target>:<deploy-id>, which keeps it from being pruned and
// lets a rollback put its name back on it.
func (s *Service) keepImages(ctx context.Context, p *projects.Project, dp *dockerPlan, deployID string) ([]keptImage, error) {
	if dp.actions != nil {
		return s.keepServiceImages(ctx, p, dp, deployID)
	}
	var kept []keptImage
	for _, m := range dp.recreate {
		target := m.service
		if !dp.compose {
			target = m.name
		}
		if !slices.Contains(dp.build, target) || slices.ContainsFunc(kept, func(k keptImage) bool { return k.Target == target }) {
			continue
		}
		c, err := s.inspect(ctx, m.summary.ID)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", m.name, err)
		}
		k := keptImage{Target: target, Ref: c.Config.Image, ID: c.Image}
		tag := rollbackTag(p.Name, target, deployID)
		if _, err := s.builder.ImageTag(ctx, client.ImageTagOptions{Source: k.ID, Target: tag}); err != nil {
			return nil, fmt.Errorf("tag %s as %s: %w", k.ID, tag, engineError(err))
		}
		kept = append(kept, k)
	}
	return kept, nil
}

// restoreImages puts each kept image's name back on it, and removes the images the
// deploy built where nothing uses them any more (see dropNewImages).
func (s *Service) restoreImages(ctx context.Context, kept []keptImage) error {
	var errs []error
	defer func() { _ = s.dropNewImages(ctx, kept) }()
	for _, k := range kept {
		if k.Ref == "" || k.ID == "" || strings.HasPrefix(k.Ref, "sha256:") {
			continue
		}
		if _, err := s.builder.ImageTag(ctx, client.ImageTagOptions{Source: k.ID, Target: k.Ref}); err != nil {
			errs = append(errs, fmt.Errorf("tag %s as %s: %w", shortID(k.ID), k.Ref, engineError(err)))
		}
	}
	return errors.Join(errs...)
}

// affects reports whether the deploy recreated or restarted this container (after an
// undo: whether the undo put it back).
func (d *dockerPlan) affects(m *member) bool {
	if d.actions != nil {
		switch d.action(m.service) {
		case ActionRecreate, ActionRestart:
			return true
		case ActionCreate:
			return !d.undone
		case ActionRemove:
			return d.undone
		}
		return false
	}
	if d.recreating() {
		for _, t := range d.targets {
			if (d.compose && m.service == t) || (!d.compose && m.name == t) {
				return true
			}
		}
		return false
	}
	return slices.ContainsFunc(d.restart, func(r *member) bool { return r.name == m.name })
}

// logTail returns a container's last n log lines, for the report of a failed deploy.
func (s *Service) logTail(ctx context.Context, m *member, n int) []string {
	if m == nil || !m.found() {
		return nil
	}
	lines, err := s.readLogs(ctx, m.summary.ID, logQuery{lines: n})
	if err != nil {
		return []string{"(logs unavailable: " + err.Error() + ")"}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// composeFileAfter reports whether production will hold a Compose file once the
// deploy's files are synced: the workspace's, or production's own that the sync
// leaves in place.
func composeFileAfter(p *projects.Project, files *deployments.Plan) bool {
	if len(defaultComposeFiles(p.Workspace)) > 0 {
		return true
	}
	for _, f := range defaultComposeFiles(p.Production) {
		rel, err := filepath.Rel(p.Production, f)
		if err == nil && !slices.Contains(files.Deleted, filepath.ToSlash(rel)) {
			return true
		}
	}
	return false
}
