// Package gitsource keeps the checkouts git projects deploy from: for each project a
// repository under SCAR_STATE_DIR/checkouts/<project>, fetched from the project's
// git.remote with the git CLI and set, detached and clean, to the commit a deploy
// asked for. A person never edits these directories, so a push can never overwrite
// someone's uncommitted work; the deploy file engine then reads the checkout as it
// reads a workspace, with its rules unchanged.
package gitsource

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/scar-dev/scar/projects"
)

// DefaultTimeout bounds one git call that talks to the remote (fetch, ls-remote).
const DefaultTimeout = 2 * time.Minute

// Errors a caller tells apart; match them with errors.Is.
var (
	// ErrUnknownRef: the ref is not a valid name, or no branch, tag or commit of the
	// remote has it (a commit force-pushed away is one of these).
	ErrUnknownRef = errors.New("unknown ref")
	// ErrRemote: the remote could not be fetched: unreachable, refused, denied, or no
	// answer before the deadline.
	ErrRemote = errors.New("git remote unavailable")
)

// Commit is a commit a deploy checked out.
type Commit struct {
	SHA     string `json:"sha"`
	Subject string `json:"subject"`
	// Author is "Name <email>".
	Author string `json:"author"`
	// Branch is the branch the commit was taken from, when the deploy named one or
	// took the project's branch head; "" for a commit named by its sha alone.
	Branch string `json:"branch,omitempty"`
}

// Short is the commit's abbreviated sha, as people read it.
func (c *Commit) Short() string {
	if len(c.SHA) > 10 {
		return c.SHA[:10]
	}
	return c.SHA
}

// Config configures a Source.
type Config struct {
	// Root holds one checkout per project (projects.CheckoutsDir of the state dir).
	Root string
	// Environ is the environment git's child environment is picked from (os.Environ()).
	Environ []string
	// Timeout bounds each call that talks to the remote; 0 is DefaultTimeout.
	Timeout time.Duration
	// Git is the git binary; "" is "git" on PATH.
	Git string
}

// Source fetches and checks out git projects. It is safe for concurrent use; calls
// for one project are serialized.
type Source struct {
	cfg Config

	mu    sync.Mutex
	locks map[string]chan struct{} // one per project, held by the call working on it
}

// New returns a Source.
func New(cfg Config) *Source { return &Source{cfg: cfg, locks: map[string]chan struct{}{}} }

// Dir is the project's checkout.
func (s *Source) Dir(project string) string { return filepath.Join(s.cfg.Root, project) }

// Checkout fetches g.Remote and sets the project's checkout, detached and clean, to
// ref: a full or abbreviated commit sha, a branch or tag name, or "" for the head of
// g.Branch. The checkout is made on first use; anything in it that is not the commit
// is discarded. It returns the commit checked out.
func (s *Source) Checkout(ctx context.Context, project string, g projects.GitSource, ref string) (*Commit, error) {
	return s.checkout(ctx, project, g, ref)
}

// Head returns the commit the project's checkout is at, without fetching; nil when
// it has none yet.
func (s *Source) Head(ctx context.Context, project string) (*Commit, error) {
	return s.head(ctx, project)
}

// Check asks the remote for g.Branch (git ls-remote), for `scar check`: an error
// wrapping ErrRemote or ErrUnknownRef says what is wrong.
func (s *Source) Check(ctx context.Context, g projects.GitSource) error {
	return s.check(ctx, g)
}

// SameRepository reports whether two repository URLs name the same repository:
// scheme, user, ".git" suffix, trailing slash and host case aside, so that
// "git@github.com:me/app.git", "ssh://git@github.com/me/app" and
// "https://github.com/me/app.git" are one repository; file URLs and paths compare
// by their cleaned path.
func SameRepository(a, b string) bool {
	ka, kb := repositoryKey(a), repositoryKey(b)
	return ka != "" && ka == kb
}
