package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/scar-dev/scar/projects"
)

// fetchRefspecs take every branch of the remote as refs/remotes/origin/* and every
// tag as itself, forced (a force-push moves them) and pruned (a deleted branch or tag
// is gone here too, so a commit only it held is no longer deployable).
var fetchRefspecs = []string{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}

var (
	shaPattern     = regexp.MustCompile(`^[0-9a-fA-F]{4,40}$`)
	fullSHAPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// branchFile, in the checkout's .git, names the branch its commit was taken from.
const branchFile = "scar-branch"

// lock takes the project's lock, or gives up when ctx ends first.
func (s *Source) lock(ctx context.Context, project string) (unlock func(), err error) {
	s.mu.Lock()
	l, ok := s.locks[project]
	if !ok {
		l = make(chan struct{}, 1)
		s.locks[project] = l
	}
	s.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("gitsource: waiting for the checkout of %s: %w", project, ctx.Err())
	}
}

// validProject reports whether a project's name is one element of the checkouts root.
func validProject(project string) bool {
	return project != "" && project != "." && project != ".." && !strings.ContainsAny(project, `/\`) && filepath.IsLocal(project)
}

// validRemote refuses what git would read as an option, and the ext:: transport.
func validRemote(remote string) error {
	switch {
	case strings.TrimSpace(remote) == "":
		return errors.New("gitsource: the project has no git remote")
	case strings.HasPrefix(remote, "-") || strings.ContainsAny(remote, " \t\r\n\x00"):
		return fmt.Errorf("gitsource: %q is not a repository URL", redact(remote))
	case strings.HasPrefix(strings.ToLower(remote), "ext::"):
		return errors.New("gitsource: the ext:: transport runs a command; use an ssh, https or file URL")
	}
	return nil
}

func branchOf(g projects.GitSource) string {
	if g.Branch == "" {
		return projects.DefaultGitBranch
	}
	return g.Branch
}

func unknownRef(ref, remote, why string) error {
	return fmt.Errorf("gitsource: %w %q: %s %s", ErrUnknownRef, ref, why, redact(remote))
}

func (s *Source) checkout(ctx context.Context, project string, g projects.GitSource, ref string) (*Commit, error) {
	if !validProject(project) {
		return nil, fmt.Errorf("gitsource: %q is not a project name", project)
	}
	if err := validRemote(g.Remote); err != nil {
		return nil, err
	}
	branch := branchOf(g)
	if ref == "" {
		ref = branch
	}
	// Validated before anything runs: a ref is never an option nor revision syntax.
	isSHA := shaPattern.MatchString(ref)
	if !isSHA && !projects.ValidBranch(ref) {
		return nil, unknownRef(ref, g.Remote, "is not a branch, tag or commit name; nothing was fetched from")
	}
	unlock, err := s.lock(ctx, project)
	if err != nil {
		return nil, err
	}
	defer unlock()

	dir := s.Dir(project)
	if err := s.prepare(ctx, dir, g.Remote); err != nil {
		return nil, err
	}
	args := append([]string{"fetch", "--quiet", "--no-tags", "--prune", "--force", "--no-recurse-submodules", "origin"}, fetchRefspecs...)
	if _, err := s.remoteCall(ctx, dir, true, "fetching", g.Remote, args...); err != nil {
		return nil, err
	}
	sha, fromBranch, err := s.resolve(ctx, dir, ref, isSHA, g.Remote)
	if err != nil {
		return nil, err
	}
	if _, err := s.git(ctx, dir, true, "checkout", "--quiet", "--force", "--detach", sha, "--"); err != nil {
		return nil, fmt.Errorf("gitsource: checking out %s in %s: %w", sha, dir, err)
	}
	if _, err := s.git(ctx, dir, true, "clean", "-ffdxq"); err != nil {
		return nil, fmt.Errorf("gitsource: cleaning %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", branchFile), []byte(fromBranch), 0o600); err != nil {
		return nil, fmt.Errorf("gitsource: recording the branch of %s: %w", dir, err)
	}
	c, err := s.commit(ctx, dir, sha)
	if err != nil {
		return nil, err
	}
	c.Branch = fromBranch
	return c, nil
}

// prepare makes dir a repository on first use (with no template: no sample hooks)
// and points its origin at remote, which the projects file may have changed.
func (s *Source) prepare(ctx context.Context, dir, remote string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gitsource: making the checkout: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); errors.Is(err, os.ErrNotExist) {
		if _, err := s.git(ctx, dir, true, "init", "--quiet", "--template="); err != nil {
			return fmt.Errorf("gitsource: making the checkout %s: %w", dir, err)
		}
	}
	if _, err := s.git(ctx, dir, true, "config", "--local", "remote.origin.url", remote); err != nil {
		return fmt.Errorf("gitsource: setting the remote of %s: %w", dir, err)
	}
	return nil
}

// resolve turns a validated ref into the full sha of a commit the remote has, and the
// branch it was named by ("" for a sha or a tag).
func (s *Source) resolve(ctx context.Context, dir, ref string, isSHA bool, remote string) (sha, branch string, err error) {
	if isSHA {
		sha, ok := s.revParse(ctx, dir, ref)
		if ok && s.onRemote(ctx, dir, sha) {
			return sha, "", nil
		}
		local := ok
		if !ok && fullSHAPattern.MatchString(strings.ToLower(ref)) {
			ok = true
			sha = strings.ToLower(ref)
		}
		if ok && fullSHAPattern.MatchString(sha) {
			// Not under a branch or a tag: the remote may still serve it by its sha
			// (a pull request's head, say). A commit force-pushed away and collected
			// is refused here. When the commit is here already (fetched before the
			// force-push), a plain fetch would take it from here without asking the
			// remote: --refetch makes the remote send it, or refuse.
			args := []string{"fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head"}
			if local {
				args = append(args, "--refetch")
			}
			if _, err := s.remoteCall(ctx, dir, true, "fetching commit "+sha+" from", remote, append(args, "origin", sha)...); err == nil {
				if got, ok := s.revParse(ctx, dir, sha); ok {
					return got, "", nil
				}
			} else if ctx.Err() != nil {
				return "", "", err
			}
		}
	}
	if !projects.ValidBranch(ref) {
		return "", "", unknownRef(ref, remote, "is no commit of any branch or tag of")
	}
	if sha, ok := s.revParse(ctx, dir, "refs/remotes/origin/"+ref); ok {
		return sha, ref, nil
	}
	if sha, ok := s.revParse(ctx, dir, "refs/tags/"+ref); ok {
		return sha, "", nil
	}
	if isSHA {
		return "", "", unknownRef(ref, remote, "is no commit, branch or tag of")
	}
	return "", "", unknownRef(ref, remote, "is no branch or tag of")
}

// revParse resolves name, already validated, to a commit's full sha.
func (s *Source) revParse(ctx context.Context, dir, name string) (string, bool) {
	out, err := s.git(ctx, dir, true, "rev-parse", "--verify", "--quiet", "--end-of-options", name+"^{commit}")
	sha := strings.TrimSpace(out)
	return sha, err == nil && fullSHAPattern.MatchString(sha)
}

// onRemote reports whether a branch or tag fetched from the remote holds the commit.
func (s *Source) onRemote(ctx context.Context, dir, sha string) bool {
	out, err := s.git(ctx, dir, true, "for-each-ref", "--count=1", "--format=%(refname)", "--contains", sha, "refs/remotes/origin/", "refs/tags/")
	return err == nil && strings.TrimSpace(out) != ""
}

// commit reads a commit's subject and author.
func (s *Source) commit(ctx context.Context, dir, sha string) (*Commit, error) {
	out, err := s.git(ctx, dir, true, "log", "-1", "--no-show-signature", "--format=%H%x00%s%x00%an <%ae>", sha, "--")
	if err != nil {
		return nil, fmt.Errorf("gitsource: reading commit %s: %w", sha, err)
	}
	parts := strings.SplitN(strings.TrimSuffix(out, "\n"), "\x00", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("gitsource: reading commit %s: unexpected output %q", sha, out)
	}
	return &Commit{SHA: parts[0], Subject: parts[1], Author: parts[2]}, nil
}

func (s *Source) head(ctx context.Context, project string) (*Commit, error) {
	if !validProject(project) {
		return nil, fmt.Errorf("gitsource: %q is not a project name", project)
	}
	unlock, err := s.lock(ctx, project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir := s.Dir(project)
	if _, err := os.Stat(filepath.Join(dir, ".git")); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	sha, ok := s.revParse(ctx, dir, "HEAD")
	if !ok {
		return nil, nil // made, but never checked out (the first fetch failed)
	}
	c, err := s.commit(ctx, dir, sha)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, ".git", branchFile)); err == nil && projects.ValidBranch(string(b)) {
		c.Branch = string(b)
	}
	return c, nil
}

func (s *Source) check(ctx context.Context, g projects.GitSource) error {
	if err := validRemote(g.Remote); err != nil {
		return err
	}
	branch := branchOf(g)
	if !projects.ValidBranch(branch) {
		return unknownRef(branch, g.Remote, "is not a branch name; nothing was asked of")
	}
	out, err := s.remoteCall(ctx, "/", false, "asking", g.Remote, "ls-remote", "--heads", "--", g.Remote, "refs/heads/"+branch)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "" {
		return fmt.Errorf("gitsource: %w %q: no such branch on %s", ErrUnknownRef, branch, redact(g.Remote))
	}
	return nil
}
