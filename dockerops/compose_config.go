package dockerops

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"
)

// composeService is what a deploy needs to know of one service of a Compose file.
type composeService struct {
	Name string
	// BuildContext is the absolute build context; empty when the service is not built.
	BuildContext string
	// Dockerfile is the Dockerfile's path relative to the context ("Dockerfile" by default).
	Dockerfile string
	// Image is the image the service names ("" for a built service that names none).
	Image string
	// Build is the service's build section as Compose resolved it, to tell whether it
	// changed.
	Build string
}

// composeFile is the part of `compose config` output that scar reads; both tools print
// the resolved file as YAML (v1 writes `build` as a map after resolution, so does v2).
type composeFile struct {
	Services map[string]struct {
		Build yaml.Node `yaml:"build"`
		Image string    `yaml:"image"`
	} `yaml:"services"`
}

// Services returns the services of the Compose file in dir as Compose resolves it, so
// that .env files, overrides and variables count as they will at `up`.
func (c *Compose) Services(ctx context.Context, dir, project, dockerHost string) (map[string]composeService, error) {
	out, err := c.Output(ctx, dir, project, dockerHost, "config")
	if err != nil {
		return nil, err
	}
	return parseComposeConfig([]byte(out), dir)
}

func parseComposeConfig(data []byte, dir string) (map[string]composeService, error) {
	var f composeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("compose config: %w", err)
	}
	out := make(map[string]composeService, len(f.Services))
	for name, s := range f.Services {
		svc := composeService{Name: name, Image: s.Image}
		if s.Build.Kind != 0 {
			raw, _ := yaml.Marshal(&s.Build)
			svc.Build = string(raw)
		}
		switch s.Build.Kind {
		case yaml.ScalarNode: // build: ./dir
			svc.BuildContext = s.Build.Value
		case yaml.MappingNode:
			var b struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			}
			if err := s.Build.Decode(&b); err != nil {
				return nil, fmt.Errorf("compose config: service %s: build: %w", name, err)
			}
			svc.BuildContext, svc.Dockerfile = b.Context, b.Dockerfile
			if svc.BuildContext == "" {
				svc.BuildContext = "."
			}
		}
		if svc.BuildContext != "" && !filepath.IsAbs(svc.BuildContext) {
			svc.BuildContext = filepath.Join(dir, svc.BuildContext)
		}
		if svc.BuildContext != "" && svc.Dockerfile == "" {
			svc.Dockerfile = "Dockerfile"
		}
		out[name] = svc
	}
	return out, nil
}

// builtServices returns the names of the services that have a build, sorted.
func builtServices(services map[string]composeService) []string {
	var names []string
	for name, s := range services {
		if s.BuildContext != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
