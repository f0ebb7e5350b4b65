package dockerops

import (
	"context"
	"errors"

	"github.com/scar-dev/scar/gitsource"
)

// Push deploys a pushed commit of a git project: at once when the project is free,
// else once the running deploy ends, coalescing pushes that arrive meanwhile so that
// only the newest is deployed. The alert chats are told when the deploy starts and
// how it ended, with the commit's sha, subject and author.
func (s *Service) Push(ctx context.Context, project string, push Push) (*PushOutcome, error) {
	return nil, errors.New("push deploys: not built yet")
}

// PromoteCommit returns the commit project from runs now, for a deploy of project to:
// refused when either is not a git project, when they do not share a remote, or when
// from has no successful deploy.
func (s *Service) PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error) {
	return nil, errors.New("promote: not built yet")
}
