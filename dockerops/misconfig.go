package dockerops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

var (
	// ErrMisconfigured: the projects file names something that is not there (a
	// workspace or production directory, a Compose project without containers); the
	// error's text says what to fix. api answers 422.
	ErrMisconfigured = errors.New("misconfigured")
	// ErrNotDeployed: the project's Compose project has no containers yet, but a
	// Compose file is there to deploy them from; the error says to deploy it. Deploys
	// are allowed; restart and logs are not. api answers 409.
	ErrNotDeployed = errors.New("not deployed")
)

// ProblemError is a misconfiguration (or a project not deployed yet) in words that
// say what to fix; errors.Is matches ErrMisconfigured or ErrNotDeployed.
type ProblemError struct {
	Project string
	// Text says what is wrong and what to do, e.g. `workspace /x does not exist: ...`.
	Text string
	kind error
}

func (e *ProblemError) Error() string        { return e.Text }
func (e *ProblemError) Is(target error) bool { return target == e.kind }

// NotDeployed reports whether the problem is only that the project was never
// deployed (deploying it is the fix), rather than a misconfiguration.
func (e *ProblemError) NotDeployed() bool { return e.kind == ErrNotDeployed }

func misconfigured(p *projects.Project, format string, args ...any) *ProblemError {
	return &ProblemError{Project: p.Name, Text: fmt.Sprintf(format, args...), kind: ErrMisconfigured}
}

// composeFiles are the names both Compose tools look for in a project directory.
var composeFiles = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// Diagnose returns what is wrong with the project's configuration, each problem in
// words that say what to fix; none when it is fine. The directories are checked
// without the engine; the Compose project against the engine. An error is returned
// only when the engine cannot be asked (the directory problems come with it).
func (s *Service) Diagnose(ctx context.Context, project string) ([]*ProblemError, error) {
	p, err := s.projects.Resolve(project)
	if err != nil {
		return nil, err
	}
	problems := DirProblems(p)
	if p.ComposeProject == "" {
		return problems, nil
	}
	ms, err := s.members(ctx, p)
	if err != nil {
		return problems, err
	}
	pe, err := s.composeProblem(ctx, p, ms)
	if err != nil {
		return problems, err
	}
	if pe != nil {
		problems = append(problems, pe)
	}
	return problems, nil
}

// DirProblems checks, without the engine, that the workspace and production
// directories exist.
func DirProblems(p *projects.Project) []*ProblemError {
	var out []*ProblemError
	for _, d := range []struct{ key, path, what string }{
		{"workspace", p.Workspace, "the directory you edit"},
		{"production", p.Production, "the directory production runs from"},
	} {
		if d.key == "workspace" && p.IsGit() {
			// scar's checkout, made by the first deploy.
			continue
		}
		fi, err := os.Stat(d.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, misconfigured(p, "%s %s does not exist: create it, or set %q of project %s in the projects file to %s",
				d.key, d.path, d.key, p.Name, d.what))
		case err != nil:
			out = append(out, misconfigured(p, "%s %s cannot be read (%v): give scar's user access to it", d.key, d.path, errors.Unwrap(err)))
		case !fi.IsDir():
			out = append(out, misconfigured(p, "%s %s is not a directory: set %q of project %s in the projects file to %s",
				d.key, d.path, d.key, p.Name, d.what))
		}
	}
	return out
}

// firstDirProblem is the first of dirProblems, nil when both directories are there.
func firstDirProblem(p *projects.Project) error {
	if ps := DirProblems(p); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// hasComposeMember reports whether any member is a container of the project's
// Compose project (found by label), as opposed to a listed entry or a plain container.
func hasComposeMember(p *projects.Project, ms []*member) bool {
	for _, m := range ms {
		if m.found() && m.project != "" && m.project == p.ComposeProject {
			return true
		}
	}
	return false
}

// composeProblem says why a project with a compose_project has no containers of it,
// nil when it has some. With a Compose file in production or the workspace and no
// other Compose project running from production, it is a project not deployed yet
// (ErrNotDeployed); otherwise compose_project is wrong (ErrMisconfigured), and the
// answer names the Compose projects the engine has, from the containers' labels.
func (s *Service) composeProblem(ctx context.Context, p *projects.Project, ms []*member) (*ProblemError, error) {
	if p.ComposeProject == "" || hasComposeMember(p, ms) {
		return nil, nil
	}
	items, err := s.list(ctx, client.Filters{}.Add("label", labelOneoff+"=False"))
	if err != nil {
		return nil, fmt.Errorf("list compose projects: %w", err)
	}
	var known, fromProduction []string
	for _, c := range items {
		name := c.Labels[labelProject]
		if name == "" {
			continue
		}
		if !slices.Contains(known, name) {
			known = append(known, name)
		}
		if dir := c.Labels[labelWorkingDir]; dir != "" && sameDir(dir, p.Production) && !slices.Contains(fromProduction, name) {
			fromProduction = append(fromProduction, name)
		}
	}
	slices.Sort(known)
	slices.Sort(fromProduction)
	if len(fromProduction) > 0 {
		return misconfigured(p, "compose project %q has no containers, but the containers running from production %s belong to compose project %s: set \"compose_project\" of project %s in the projects file to it",
			p.ComposeProject, p.Production, quoteAll(fromProduction), p.Name), nil
	}
	if file := composeFileIn(p.Production, p.Workspace); file != "" {
		return &ProblemError{Project: p.Name, kind: ErrNotDeployed,
			Text: fmt.Sprintf("compose project %q has no containers yet: deploy it (the Compose file is %s)", p.ComposeProject, file)}, nil
	}
	engineHas := "the engine has no Compose projects"
	if len(known) > 0 {
		engineHas = "the engine has " + quoteAll(known)
	}
	return misconfigured(p, "compose project %q has no containers on this engine and neither production nor the workspace has a Compose file: set \"compose_project\" of project %s in the projects file to the project's Compose project (%s)",
		p.ComposeProject, p.Name, engineHas), nil
}

// notDeployedInSync is the answer to a deploy of a project never deployed whose
// production already matches the workspace: a deploy only starts containers along
// with files to copy, so the first start is Compose's.
func notDeployedInSync(p *projects.Project) *ProblemError {
	return &ProblemError{Project: p.Name, kind: ErrNotDeployed,
		Text: fmt.Sprintf("compose project %q has no containers yet, and production already matches the workspace, so a deploy has nothing to copy and would start nothing: start it once in %s with `docker compose -p %s up -d` (or `docker-compose -p %s up -d`); scar manages it from then on",
			p.ComposeProject, p.Production, p.ComposeProject, p.ComposeProject)}
}

// composeFileIn returns the first Compose file found in dirs, "" when none is.
func composeFileIn(dirs ...string) string {
	for _, dir := range dirs {
		for _, name := range composeFiles {
			path := filepath.Join(dir, name)
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
				return path
			}
		}
	}
	return ""
}

func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// requireMembers fails restart and logs of a project whose Compose project has no
// containers, with what to do about it, rather than answering for nothing.
func (s *Service) requireMembers(ctx context.Context, p *projects.Project, ms []*member) error {
	pe, err := s.composeProblem(ctx, p, ms)
	if err != nil {
		return err
	}
	if pe != nil {
		return pe
	}
	return nil
}

// deployable fails a deploy (or its plan) of a misconfigured project. A project never
// deployed, with a Compose file to deploy from, is deployable: that is its first deploy.
func (s *Service) deployable(ctx context.Context, p *projects.Project, ms []*member) error {
	pe, err := s.composeProblem(ctx, p, ms)
	if err != nil {
		return err
	}
	if pe != nil && !pe.NotDeployed() {
		return pe
	}
	return nil
}

// statusProblems is what status reports under "problems".
func (s *Service) statusProblems(ctx context.Context, p *projects.Project, ms []*member) []string {
	var out []string
	for _, pe := range DirProblems(p) {
		out = append(out, pe.Text)
	}
	pe, err := s.composeProblem(ctx, p, ms)
	if err != nil {
		s.logger.WarnContext(ctx, "compose project check failed", "project", p.Name, "error", err)
	}
	if pe != nil {
		out = append(out, pe.Text)
	}
	return out
}
