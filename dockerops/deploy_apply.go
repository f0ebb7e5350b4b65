package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// build rebuilds the images of the targets in dp.build: with the Compose tool for a
// Compose project, with the Engine's classic builder for a plain one.
func (s *Service) build(ctx context.Context, p *projects.Project, dp *dockerPlan) error {
	if dp.compose {
		_, err := s.compose.Run(ctx, p.Production, p.ComposeProject, p.DockerHost, append([]string{"build"}, dp.build...)...)
		return err
	}
	refs := map[string]bool{}
	for _, m := range dp.recreate {
		if !slices.Contains(dp.build, m.name) {
			continue
		}
		c, err := s.inspect(ctx, m.summary.ID)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", m.name, err)
		}
		if refs[c.Config.Image] {
			continue
		}
		refs[c.Config.Image] = true
		if err := s.buildImage(ctx, p.Production, c.Config.Image); err != nil {
			return err
		}
	}
	return nil
}

// buildImage builds dir's Dockerfile and tags the result ref.
func (s *Service) buildImage(ctx context.Context, dir, ref string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(dir, pw)) }()
	res, err := s.builder.ImageBuild(ctx, pr, client.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("build %s: %w", ref, engineError(err))
	}
	defer res.Body.Close()
	if err := buildStreamError(res.Body); err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	return nil
}

// buildStreamError reads the build's JSON messages to the end and returns the error
// the build reported, if any.
func buildStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if line := strings.TrimSpace(msg.Stream); line != "" {
			tail = append(tail, line)
			if len(tail) > 10 {
				tail = tail[1:]
			}
		}
		if msg.Error != "" {
			return fmt.Errorf("%s (after: %s)", msg.Error, strings.Join(tail, " | "))
		}
	}
}

// apply puts the deploy into the containers: Compose `up -d --no-deps` for the
// targets when an image was rebuilt or the Compose file changed (Compose recreates
// what changed and leaves other services, such as databases, running); a plain
// recreate for rebuilt plain containers; otherwise a restart of the containers that
// bind-mount changed files.
func (s *Service) apply(ctx context.Context, p *projects.Project, dp *dockerPlan, swaps *[]swap) error {
	switch {
	case dp.compose && dp.actions != nil:
		return s.applyServices(ctx, p, dp)
	case dp.compose && dp.recreating():
		_, err := s.compose.Run(ctx, p.Production, p.ComposeProject, p.DockerHost, append([]string{"up", "-d", "--no-deps"}, dp.targets...)...)
		return err
	case dp.recreating():
		for _, m := range dp.recreate {
			sw, err := s.recreate(ctx, m)
			if sw.oldName != "" {
				*swaps = append(*swaps, sw)
			}
			if err != nil {
				return err
			}
		}
		return nil
	default:
		for _, m := range dp.restart {
			if _, err := s.docker.ContainerRestart(ctx, m.summary.ID, client.ContainerRestartOptions{}); err != nil {
				return fmt.Errorf("restart %s: %w", m.name, engineError(err))
			}
		}
		return nil
	}
}

// swap is a plain container replaced by a deploy: the old one renamed aside, kept
// until the new one passes the gate.
type swap struct {
	name       string // the container's name, now the new container's
	oldID      string
	oldName    string // the old container's name while aside
	newID      string
	wasRunning bool
}

// recreate replaces a plain container with one made from the same configuration,
// networks and mounts and the image its name now points to: the old one is renamed
// aside and stopped, not removed, so that undo can bring it back.
func (s *Service) recreate(ctx context.Context, m *member) (swap, error) {
	c, err := s.inspect(ctx, m.summary.ID)
	if err != nil {
		return swap{}, fmt.Errorf("inspect %s: %w", m.name, err)
	}
	img, err := s.builder.ImageInspect(ctx, c.Image)
	if err != nil {
		return swap{}, fmt.Errorf("inspect the image of %s: %w", m.name, engineError(err))
	}
	sw := swap{name: m.name, oldID: c.ID, oldName: m.name + "-scar-old", wasRunning: c.State != nil && c.State.Running}
	if _, err := s.builder.ContainerRename(ctx, c.ID, client.ContainerRenameOptions{NewName: sw.oldName}); err != nil {
		return swap{}, fmt.Errorf("rename %s aside: %w", m.name, engineError(err))
	}
	if _, err := s.builder.ContainerStop(ctx, c.ID, client.ContainerStopOptions{}); err != nil {
		return sw, fmt.Errorf("stop the old %s: %w", m.name, engineError(err))
	}
	cfg := creationConfig(c.Config, img.Config)
	// The engine of API 1.41 takes one network at create; the others are joined after.
	var first string
	endpoints := map[string]*network.EndpointSettings{}
	for name, ep := range c.NetworkSettings.Networks {
		// The engine adds the short id as an alias itself; the old one would point nowhere.
		aliases := slices.DeleteFunc(slices.Clone(ep.Aliases), func(a string) bool { return a == shortID(c.ID) })
		endpoints[name] = &network.EndpointSettings{Aliases: aliases, IPAMConfig: ep.IPAMConfig, Links: ep.Links, DriverOpts: ep.DriverOpts}
		if name == string(c.HostConfig.NetworkMode) || first == "" {
			first = name
		}
	}
	netCfg := &network.NetworkingConfig{}
	if first != "" {
		netCfg.EndpointsConfig = map[string]*network.EndpointSettings{first: endpoints[first]}
	}
	created, err := s.builder.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: m.name, Config: &cfg, HostConfig: c.HostConfig, NetworkingConfig: netCfg,
	})
	if err != nil {
		return sw, fmt.Errorf("create the new %s: %w", m.name, engineError(err))
	}
	sw.newID = created.ID
	for name, ep := range endpoints {
		if name == first {
			continue
		}
		if _, err := s.builder.NetworkConnect(ctx, name, client.NetworkConnectOptions{Container: created.ID, EndpointConfig: ep}); err != nil {
			return sw, fmt.Errorf("connect the new %s to %s: %w", m.name, name, engineError(err))
		}
	}
	if _, err := s.builder.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return sw, fmt.Errorf("start the new %s: %w", m.name, engineError(err))
	}
	return sw, nil
}

// unswap removes the new container and puts the old one back under its name.
func (s *Service) unswap(ctx context.Context, sw swap) error {
	if sw.newID != "" {
		if _, err := s.builder.ContainerRemove(ctx, sw.newID, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove the new %s: %w", sw.name, engineError(err))
		}
	}
	if _, err := s.builder.ContainerRename(ctx, sw.oldID, client.ContainerRenameOptions{NewName: sw.name}); err != nil {
		return fmt.Errorf("rename the old %s back: %w", sw.name, engineError(err))
	}
	if sw.wasRunning {
		if _, err := s.builder.ContainerStart(ctx, sw.oldID, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start the old %s: %w", sw.name, engineError(err))
		}
	}
	return nil
}

// dropOld removes the containers a successful deploy replaced.
func (s *Service) dropOld(ctx context.Context, swaps []swap) error {
	var errs []error
	for _, sw := range swaps {
		if _, err := s.builder.ContainerRemove(ctx, sw.oldID, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove the old %s: %w", sw.name, engineError(err)))
		}
	}
	return errors.Join(errs...)
}
