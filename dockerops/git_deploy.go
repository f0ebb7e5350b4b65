package dockerops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
)

// WithGitSource enables git projects: their deploys check out a commit with src, and
// deploy from that checkout as from a workspace.
func WithGitSource(src *gitsource.Source) Option { return func(s *Service) { s.git = src } }

// checkoutFor sets a git project's checkout to the commit the deploy asked for (the
// context's ref, else the head of its branch) and returns it; nil for a project
// without git, for which a ref is refused. The caller holds the project's lock.
func (s *Service) checkoutFor(ctx context.Context, p *projects.Project) (*gitsource.Commit, error) {
	ref := RefOf(ctx)
	if !p.IsGit() {
		switch {
		case ref != "":
			return nil, badInput("project %s deploys from its workspace %s; a ref (%q) is only for projects with a git source", p.Name, p.Workspace, ref)
		case PromotionOf(ctx) != "":
			return nil, badInput("project %s deploys from its workspace %s; only projects with a git source can be promoted to", p.Name, p.Workspace)
		}
		return nil, nil
	}
	if s.git == nil {
		return nil, errors.New("git projects are not configured")
	}
	done := s.track(OpFetch)
	c, err := s.git.Checkout(ctx, p.Name, *p.Git, ref)
	done(p.Name, err != nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// historyScan bounds how far back the commit a project runs is looked for.
const historyScan = 200

// runningCommit is the commit the project's production runs, as its history says:
// that of its newest successful deploy or rollback, looking only at those that
// started before before (zero: all). The commit is nil when none is known; last is
// that deploy or rollback (nil when there is none).
func (s *Service) runningCommit(ctx context.Context, project string, before time.Time) (c *gitsource.Commit, last *Deployment, err error) {
	recs, err := s.history.Deployments(ctx, project, "", DeploySuccess, historyScan)
	if err != nil {
		return nil, nil, fmt.Errorf("history of %s: %w", project, err)
	}
	for i := range recs {
		if !before.IsZero() && !recs[i].StartedAt.Before(before) {
			continue
		}
		d := fromRecord(&recs[i])
		return d.Plan.Commit, &d, nil
	}
	return nil, nil, nil
}

// PromoteCommit returns the commit project from runs now, for a deploy of project to:
// refused when either is not a git project, when they do not share a remote, or when
// from has no successful deploy.
func (s *Service) PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error) {
	fp, err := s.projects.Resolve(from)
	if err != nil {
		return nil, err
	}
	tp, err := s.projects.Resolve(to)
	if err != nil {
		return nil, err
	}
	switch {
	case fp.Name == tp.Name:
		return nil, badInput("promote %s to itself: name the project whose commit to deploy and the one to deploy it to", fp.Name)
	case !fp.IsGit():
		return nil, badInput("cannot promote from %s: it deploys from its workspace, not from git", fp.Name)
	case !tp.IsGit():
		return nil, badInput("cannot promote to %s: it deploys from its workspace, not from git", tp.Name)
	case !gitsource.SameRepository(fp.Git.Remote, tp.Git.Remote):
		return nil, badInput("cannot promote %s to %s: they deploy from different remotes (%s, %s)", fp.Name, tp.Name, fp.Git.Remote, tp.Git.Remote)
	}
	if s.history == nil {
		return nil, errors.New("deploys are not configured")
	}
	c, last, err := s.runningCommit(ctx, fp.Name, time.Time{})
	switch {
	case err != nil:
		return nil, err
	case last == nil:
		return nil, fmt.Errorf("nothing to promote: %s has no successful deploy yet: %w", fp.Name, ErrNotDeployed)
	case c == nil:
		return nil, fmt.Errorf("nothing to promote: %s runs files of no known commit (its last %s, %s, put back files from before its git deploys): %w",
			fp.Name, last.Kind, last.ID, ErrNotDeployed)
	}
	out := *c
	return &out, nil
}
