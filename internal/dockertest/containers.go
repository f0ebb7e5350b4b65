package dockertest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Compose label keys, as Compose v1 and v2 write them.
const (
	LabelProject         = "com.docker.compose.project"
	LabelService         = "com.docker.compose.service"
	LabelContainerNumber = "com.docker.compose.container-number"
	LabelOneoff          = "com.docker.compose.oneoff"
	LabelDependsOn       = "com.docker.compose.depends_on"
)

// V1Name is the container name Compose v1 gives: project_service_1.
func V1Name(project, service string, n int) string {
	return project + "_" + service + "_" + strconv.Itoa(n)
}

// V2Name is the container name Compose v2 gives: project-service-1.
func V2Name(project, service string, n int) string {
	return project + "-" + service + "-" + strconv.Itoa(n)
}

// ComposeLabels are the labels Compose puts on container n of a service. dependsOn is
// the v2 depends_on label value ("db:service_healthy:true,...") or "" for none, as v1.
func ComposeLabels(project, service string, n int, dependsOn string) map[string]string {
	l := map[string]string{
		LabelProject:         project,
		LabelService:         service,
		LabelContainerNumber: strconv.Itoa(n),
		LabelOneoff:          "False",
	}
	if dependsOn != "" {
		l[LabelDependsOn] = dependsOn
	}
	return l
}

// ContainerSpec describes a container created straight through the Engine API,
// faster than a Compose run when only labels and names matter.
type ContainerSpec struct {
	Name   string
	Image  string
	Labels map[string]string
	Env    []string
	Tty    bool
	// Publish maps container ports ("8000/tcp") to host ports; "" picks a free one.
	Publish map[string]string
	// Healthcheck replaces the image's; nil keeps it, Test ["NONE"] disables it.
	Healthcheck *container.HealthConfig
	// NoStart leaves the container created but not started.
	NoStart bool
	// RestartPolicy is the engine's restart policy ("always", "on-failure:2", ...); "" is none.
	RestartPolicy string
	// MemoryMiB limits the container's memory (and memory plus swap) to this many MiB; 0 is no limit.
	MemoryMiB int64
	// Binds are bind mounts, "host-path:container-path[:ro]".
	Binds []string
}

// RunContainer creates and starts a container and force-removes it when the test ends.
// It returns the container id.
func RunContainer(tb testing.TB, cli *client.Client, spec ContainerSpec) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := &container.Config{
		Image:       spec.Image,
		Labels:      spec.Labels,
		Env:         spec.Env,
		Tty:         spec.Tty,
		Healthcheck: spec.Healthcheck,
	}
	policy, retries, _ := strings.Cut(spec.RestartPolicy, ":")
	host := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(policy)}, Binds: spec.Binds}
	if retries != "" {
		n, err := strconv.Atoi(retries)
		if err != nil {
			tb.Fatalf("container %s: restart policy %q: %v", spec.Name, spec.RestartPolicy, err)
		}
		host.RestartPolicy.MaximumRetryCount = n
	}
	if spec.MemoryMiB > 0 {
		host.Memory = spec.MemoryMiB << 20
		host.MemorySwap = host.Memory
	}
	if len(spec.Publish) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		host.PortBindings = network.PortMap{}
		for cport, hport := range spec.Publish {
			p, err := network.ParsePort(cport)
			if err != nil {
				tb.Fatalf("container %s: port %q: %v", spec.Name, cport, err)
			}
			cfg.ExposedPorts[p] = struct{}{}
			host.PortBindings[p] = []network.PortBinding{{HostPort: hport}}
		}
	}
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: spec.Name, Config: cfg, HostConfig: host})
	if err != nil {
		tb.Fatalf("create container %s: %v", spec.Name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := cli.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			tb.Logf("remove container %s: %v", spec.Name, err)
		}
	})
	if !spec.NoStart {
		if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
			tb.Fatalf("start container %s: %v", spec.Name, err)
		}
	}
	return res.ID
}

// Inspect returns a container's inspect data, failing the test on error.
func Inspect(tb testing.TB, cli *client.Client, id string) container.InspectResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		tb.Fatalf("inspect %s: %v", id, err)
	}
	return res.Container
}

// WaitHealth waits until the container's health status is want ("healthy", ...).
func WaitHealth(tb testing.TB, cli *client.Client, id, want string, timeout time.Duration) {
	tb.Helper()
	WaitFor(tb, timeout, func() bool {
		st := Inspect(tb, cli, id).State
		return st != nil && st.Health != nil && string(st.Health.Status) == want
	})
}

// WaitExited waits until the container has stopped running.
func WaitExited(tb testing.TB, cli *client.Client, id string, timeout time.Duration) {
	tb.Helper()
	WaitFor(tb, timeout, func() bool {
		st := Inspect(tb, cli, id).State
		return st != nil && st.Status == container.StateExited
	})
}

// removeProjectContainers force-removes every container labelled with project.
func removeProjectContainers(ctx context.Context, tb testing.TB, cli *client.Client, project string) {
	tb.Helper()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", fmt.Sprintf("%s=%s", LabelProject, project)),
	})
	if err != nil {
		tb.Logf("list containers of %s: %v", project, err)
		return
	}
	for _, c := range list.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			tb.Logf("remove container %s: %v", c.ID, err)
		}
	}
}
