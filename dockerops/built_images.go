package dockerops

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// keepServiceImages is keepImages for a Compose project's per-service plan: for each
// service to rebuild, the image its name points to now (the Compose file's image, else
// the one its container was created from) is tagged for rollback. A service built
// for the first time has none; its name is found after the build (noteBuilt).
func (s *Service) keepServiceImages(ctx context.Context, p *projects.Project, dp *dockerPlan, deployID string) ([]keptImage, error) {
	var kept []keptImage
	for _, b := range dp.build {
		k := keptImage{Target: b, Ref: dp.images[b]}
		if k.Ref == "" {
			for _, m := range dp.recreate {
				if m.service != b {
					continue
				}
				c, err := s.inspect(ctx, m.summary.ID)
				if err != nil {
					return nil, fmt.Errorf("inspect %s: %w", m.name, err)
				}
				k.Ref = c.Config.Image
				break
			}
		}
		if k.Ref != "" {
			img, err := s.builder.ImageInspect(ctx, k.Ref)
			switch {
			case err == nil:
				k.ID = img.ID
			case !isNotFound(err):
				return nil, fmt.Errorf("inspect image %s: %w", k.Ref, engineError(err))
			}
		}
		if k.ID != "" {
			tag := rollbackTag(p.Name, b, deployID)
			if _, err := s.builder.ImageTag(ctx, client.ImageTagOptions{Source: k.ID, Target: tag}); err != nil {
				return nil, fmt.Errorf("tag %s as %s: %w", k.ID, tag, engineError(err))
			}
		}
		kept = append(kept, k)
	}
	return kept, nil
}

// noteBuilt records, for each kept image, the image the build made under its name, so
// that an undo or a rollback can remove it. A service whose Compose file names no
// image gets Compose's default name: <project>-<service> (v2) or <project>_<service> (v1).
func (s *Service) noteBuilt(ctx context.Context, p *projects.Project, kept []keptImage) {
	for i := range kept {
		k := &kept[i]
		refs := []string{k.Ref}
		if k.Ref == "" {
			refs = []string{p.ComposeProject + "-" + k.Target, p.ComposeProject + "_" + k.Target}
		}
		for _, ref := range refs {
			if img, err := s.builder.ImageInspect(ctx, ref); err == nil {
				if img.ID != k.ID {
					k.Ref, k.New = ref, img.ID
				}
				break
			}
		}
	}
}

// dropNewImages removes the images a deploy built, once it is undone or rolled back:
// a name the build created is removed, and the built image itself once no name is left
// on it and no container uses it. An image still in use is left (the next call, after the
// containers are put back, removes it); errors are returned for the log only.
func (s *Service) dropNewImages(ctx context.Context, kept []keptImage) error {
	var errs []error
	for _, k := range kept {
		if k.New == "" || k.New == k.ID {
			continue
		}
		if k.ID == "" && k.Ref != "" {
			if img, err := s.builder.ImageInspect(ctx, k.Ref); err == nil && img.ID == k.New {
				if _, err := s.builder.ImageRemove(ctx, k.Ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("remove %s: %w", k.Ref, engineError(err)))
					continue
				}
			}
		}
		// Only an image left without a name goes: a build that made an image some other
		// name already had (a Dockerfile of a bare FROM) must not remove that image.
		img, err := s.builder.ImageInspect(ctx, k.New)
		if isNotFound(err) {
			continue
		}
		if err != nil || len(img.RepoTags) > 0 {
			continue
		}
		if _, err := s.builder.ImageRemove(ctx, k.New, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove the built image %s: %w", shortID(k.New), engineError(err)))
		}
	}
	return errors.Join(errs...)
}
