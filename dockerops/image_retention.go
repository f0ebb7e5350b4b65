package dockerops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// pruneRollbackTags removes the scar-rollback tags of a project's deploys that can no
// longer be rolled back to (their file backup is gone), so that kept images follow the
// same retention as kept files. Only the tags go: an image still used by a container
// or another tag stays.
func (s *Service) pruneRollbackTags(ctx context.Context, p *projects.Project) error {
	backups, err := s.files.Backups(p.Name)
	if err != nil {
		return err
	}
	// Tags are compared as rollbackTag writes them.
	keep := map[string]bool{}
	for _, b := range backups {
		keep[imageTag(b.DeployID)] = true
	}
	repoPrefix := rollbackRepoPrefix(p.Name)
	res, err := s.builder.ImageList(ctx, client.ImageListOptions{
		Filters: client.Filters{}.Add("reference", repoPrefix+"*"),
	})
	if err != nil {
		return fmt.Errorf("list rollback images of %s: %w", p.Name, engineError(err))
	}
	var errs []error
	for _, img := range res.Items {
		for _, tag := range img.RepoTags {
			repo, id, ok := strings.Cut(tag, ":")
			if !ok || !strings.HasPrefix(repo, repoPrefix) || keep[id] {
				continue
			}
			if _, err := s.builder.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove %s: %w", tag, engineError(err)))
			}
		}
	}
	return errors.Join(errs...)
}
