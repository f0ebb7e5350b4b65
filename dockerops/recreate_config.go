package dockerops

import (
	"slices"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// creationConfig returns the configuration to create a container like c but from a
// new image. An inspected container's config is already merged with its image's:
// a value equal to the old image's came from the image, not from whoever created the
// container, and is dropped so that the new image's value applies — otherwise a
// changed ENV, CMD or HEALTHCHECK in the Dockerfile would never reach production.
func creationConfig(c *container.Config, old *dockerspec.DockerOCIImageConfig) container.Config {
	cfg := *c
	cfg.Hostname = "" // the new container gets its own id as hostname, as docker run would
	if old == nil {
		return cfg
	}
	cfg.Env = slices.DeleteFunc(slices.Clone(cfg.Env), func(kv string) bool { return slices.Contains(old.Env, kv) })
	if slices.Equal(cfg.Cmd, old.Cmd) {
		cfg.Cmd = nil
	}
	if slices.Equal(cfg.Entrypoint, old.Entrypoint) {
		cfg.Entrypoint = nil
	}
	if cfg.WorkingDir == old.WorkingDir {
		cfg.WorkingDir = ""
	}
	if cfg.User == old.User {
		cfg.User = ""
	}
	if cfg.StopSignal == old.StopSignal {
		cfg.StopSignal = ""
	}
	if len(cfg.Labels) > 0 {
		labels := make(map[string]string, len(cfg.Labels))
		for k, v := range cfg.Labels {
			if iv, ok := old.Labels[k]; !ok || iv != v {
				labels[k] = v
			}
		}
		cfg.Labels = labels
	}
	if len(cfg.ExposedPorts) > 0 {
		ports := cfg.ExposedPorts
		cfg.ExposedPorts = nil
		for p := range ports {
			if _, fromImage := old.ExposedPorts[p.String()]; !fromImage {
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = network.PortSet{}
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	}
	if len(cfg.Volumes) > 0 {
		vols := map[string]struct{}{}
		for v := range cfg.Volumes {
			if _, fromImage := old.Volumes[v]; !fromImage {
				vols[v] = struct{}{}
			}
		}
		cfg.Volumes = vols
	}
	if h, oh := cfg.Healthcheck, old.Healthcheck; h != nil && oh != nil && slices.Equal(h.Test, oh.Test) &&
		h.Interval == oh.Interval && h.Timeout == oh.Timeout && h.StartPeriod == oh.StartPeriod && h.Retries == oh.Retries {
		cfg.Healthcheck = nil
	}
	return cfg
}
