package dockerops

import (
	"github.com/scar-dev/scar/projects"
)

// WithDockerHost names the Docker host the Service's engine client talks to (its
// DOCKER_HOST, or the default socket). A project whose docker_host names another
// host is refused with a clear error: one scar serves one Docker host, and acting on
// another host's project with this host's engine would report and restart the wrong
// containers.
func WithDockerHost(host string) Option {
	return func(s *Service) {
		s.projects = sameHost{ProjectSource: s.projects, host: host}
		s.dockerHost = host
	}
}

// sameHost refuses projects of another Docker host.
type sameHost struct {
	ProjectSource
	host string
}

func (h sameHost) Resolve(name string) (*projects.Project, error) {
	p, err := h.ProjectSource.Resolve(name)
	if err != nil || p.DockerHost == "" || p.DockerHost == h.host {
		return p, err
	}
	return nil, badInput("project %s: its docker_host %s is not the Docker host this scar serves (%s); run one scar per Docker host, or remove docker_host",
		p.Name, p.DockerHost, h.host)
}

// ProjectsOfHost lists only the projects of the Docker host named host (those with
// no docker_host, or this one): the event watcher of a host must not take another
// host's containers for a project's because they carry the same Compose labels.
func ProjectsOfHost(l ProjectLister, host string) ProjectLister { return hostProjects{l, host} }

type hostProjects struct {
	ProjectLister
	host string
}

func (h hostProjects) All() []*projects.Project {
	all := h.ProjectLister.All()
	out := all[:0:0]
	for _, p := range all {
		if p.DockerHost == "" || p.DockerHost == h.host {
			out = append(out, p)
		}
	}
	return out
}
