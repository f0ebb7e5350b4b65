package deployments

import (
	"fmt"

	"github.com/scar-dev/scar/projects"
)

// Files whose change means the image must be rebuilt, at any depth.
var (
	dockerfilePatterns = []string{"Dockerfile", "Dockerfile.*", "*.Dockerfile"}
	composePatterns    = []string{"docker-compose*.yml", "docker-compose*.yaml", "compose*.yml", "compose*.yaml"}
	dependencyPatterns = []string{
		"requirements*.txt", "pyproject.toml", "poetry.lock",
		"package*.json", "yarn.lock", "pnpm-lock.yaml",
		"go.mod", "go.sum", "Cargo.*", "Gemfile*", "composer.*",
	}
)

// rebuildRules classifies changed files for the rebuild decision.
type rebuildRules struct {
	dockerfile, compose, dependency, custom *Matcher
}

func newRebuildRules(rebuildOn []string) (*rebuildRules, error) {
	r := &rebuildRules{}
	var err error
	// The built-in lists are constants; only rebuild_on can fail to compile.
	r.dockerfile, _ = NewMatcher(dockerfilePatterns)
	r.compose, _ = NewMatcher(composePatterns)
	r.dependency, _ = NewMatcher(dependencyPatterns)
	if r.custom, err = NewMatcher(rebuildOn); err != nil {
		return nil, fmt.Errorf("rebuild_on: %w", err)
	}
	return r, nil
}

// decideRebuild fills the plan's rebuild fields from the files it adds, changes or
// deletes and the project's rebuild policy.
func (r *rebuildRules) decideRebuild(p *Plan, policy string) {
	var reason string
	var more int
	note := func(kind, rel string) {
		p.RebuildFiles = append(p.RebuildFiles, rel)
		if reason == "" {
			reason = kind + " changed: " + rel
		} else {
			more++
		}
	}
	for _, list := range [][]string{p.Added, p.Changed, p.Deleted} {
		for _, rel := range list {
			switch {
			case r.compose.Match(rel, false):
				p.ComposeFiles = append(p.ComposeFiles, rel)
				note("Compose file", rel)
			case r.dockerfile.Match(rel, false):
				note("Dockerfile", rel)
			case r.dependency.Match(rel, false):
				note("dependency file", rel)
			case r.custom.Match(rel, false):
				note("rebuild_on file", rel)
			}
		}
	}
	sortStrings(p.RebuildFiles)
	sortStrings(p.ComposeFiles)
	if more > 0 {
		reason += fmt.Sprintf(" and %d more", more)
	}
	switch policy {
	case projects.RebuildAlways:
		p.Rebuild, p.RebuildReason = true, "rebuild: always"
	case projects.RebuildNever:
		p.Rebuild, p.RebuildReason = false, ""
	default:
		p.Rebuild, p.RebuildReason = reason != "", reason
	}
}
