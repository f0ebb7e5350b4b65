package dockerops

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

func TestStatusReportsEachContainerState(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "status")
	var clock time.Time // set once the containers run; read only after
	ps := projectMap{"shop": {
		Name: "shop", Workspace: "/ws/shop", Production: "/srv/shop", ComposeProject: cp,
		Containers:       []string{"web", "slow", "sick", "done", "plain", "ghost"},
		PrimaryContainer: "web",
	}}
	f := newFixture(t, ps, WithClock(func() time.Time { return clock }),
		WithPendingChanges(func(context.Context, *projects.Project) (bool, error) { return true, nil }))

	web := f.run(t, cp, "web", dockertest.ContainerSpec{Publish: map[string]string{"8000/tcp": ""}})
	f.run(t, cp, "slow", dockertest.ContainerSpec{Healthcheck: slowHealthcheck})
	sick := f.run(t, cp, "sick", dockertest.ContainerSpec{Env: []string{"UNHEALTHY=1"}})
	done := f.run(t, cp, "done", dockertest.ContainerSpec{Env: []string{"EXIT_AT_START=1"}})
	f.run(t, cp, "plain", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	f.waitHealthy(t, web)
	dockertest.WaitHealth(t, f.cli, sick, HealthUnhealthy, 30*time.Second)
	dockertest.WaitExited(t, f.cli, done, 30*time.Second)

	clock = f.startedAt(t, web).Add(90 * time.Second)
	// The engine may bind IPv4 and IPv6 to different host ports; status lists each once.
	var webPorts []string
	for _, b := range dockertest.Inspect(t, f.cli, web).NetworkSettings.Ports[network.MustParsePort("8000/tcp")] {
		if p := b.HostPort + "→8000/tcp"; !slices.Contains(webPorts, p) {
			webPorts = append(webPorts, p)
		}
	}
	hostPort := func(p string) int { n, _ := strconv.Atoi(strings.TrimSuffix(p, "→8000/tcp")); return n }
	slices.SortFunc(webPorts, func(a, b string) int { return hostPort(a) - hostPort(b) })

	st, err := f.svc.Status(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Project != "shop" || st.Workspace != "/ws/shop" || st.Production != "/srv/shop" || st.ComposeProject != cp || !st.PendingChanges || !st.CheckedAt.Equal(clock) {
		t.Errorf("project fields = %+v", st)
	}
	var names []string
	for _, c := range st.Containers {
		names = append(names, c.Name)
	}
	wantNames := []string{cp + "-web-1", cp + "-slow-1", cp + "-sick-1", cp + "-done-1", cp + "-plain-1", "ghost"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("containers = %v, want %v (the containers list's order)", names, wantNames)
	}

	tests := []struct {
		name, state, health string
		uptime              int64
		exitCode            int
		ports               []string
		primary             bool
	}{
		{name: cp + "-web-1", state: "running", health: HealthHealthy, uptime: 90, ports: webPorts, primary: true},
		{name: cp + "-slow-1", state: "running", health: HealthStarting, ports: []string{"8000/tcp"}},
		{name: cp + "-sick-1", state: "running", health: HealthUnhealthy, ports: []string{"8000/tcp"}},
		// Engine 20.10 calls it unhealthy; stopped, it has no health to speak of.
		{name: cp + "-done-1", state: "exited", health: HealthNone, exitCode: 3, ports: []string{}},
		{name: cp + "-plain-1", state: "running", health: HealthNone, ports: []string{"8000/tcp"}},
		{name: "ghost", state: StateNotFound, health: HealthNone, ports: []string{}},
	}
	got := byName(t, st)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := got[tc.name]
			if c.State != tc.state || c.ExitCode != tc.exitCode || c.Primary != tc.primary {
				t.Errorf("state %q exit %d primary %v, want %q %d %v", c.State, c.ExitCode, c.Primary, tc.state, tc.exitCode, tc.primary)
			}
			if c.Health != tc.health {
				t.Errorf("health = %q, want %q", c.Health, tc.health)
			}
			if !slices.Equal(c.Ports, tc.ports) {
				t.Errorf("ports = %q, want %q", c.Ports, tc.ports)
			}
			if tc.uptime != 0 && c.UptimeSeconds != tc.uptime {
				t.Errorf("uptime = %d, want %d", c.UptimeSeconds, tc.uptime)
			}
			if tc.state == StateNotFound {
				if c.ID != "" || c.Image != "" || !c.StartedAt.IsZero() {
					t.Errorf("not found container has data: %+v", c)
				}
				return
			}
			if c.Image != f.image || !strings.HasPrefix(c.ImageID, "sha256:") || len(c.ID) != 12 || c.StartedAt.IsZero() || c.RestartCount != 0 {
				t.Errorf("image %q image id %q id %q started %v restarts %d", c.Image, c.ImageID, c.ID, c.StartedAt, c.RestartCount)
			}
			if c.State != "running" && c.UptimeSeconds != 0 {
				t.Errorf("uptime of a stopped container = %d, want 0", c.UptimeSeconds)
			}
			if c.Service == "" {
				t.Errorf("no service")
			}
		})
	}
}

func TestStatusAutoDetectSkipsOneoffContainers(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "auto")
	plain := cp + "-plain"
	ps := projectMap{"auto": {Name: "auto", ComposeProject: cp, AutoDetect: true, Containers: []string{"worker", plain}}}
	f := newFixture(t, ps)
	f.run(t, cp, "", dockertest.ContainerSpec{Name: plain, Labels: map[string]string{}, Healthcheck: noHealthcheck})
	f.run(t, cp, "api", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	f.run(t, cp, "worker", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	oneoff := dockertest.ComposeLabels(cp, "api", 1, "")
	oneoff["com.docker.compose.oneoff"] = "True"
	f.run(t, cp, "api", dockertest.ContainerSpec{Name: cp + "_api_run_1", Labels: oneoff, Healthcheck: noHealthcheck})
	f.run(t, "other"+cp, "api", dockertest.ContainerSpec{Healthcheck: noHealthcheck})

	st, err := f.svc.Status(t.Context(), "auto")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range st.Containers {
		names = append(names, c.Name)
	}
	// The listed containers first (a plain one, outside Compose, found by name), then
	// the rest by service; the run container and the other project's are not the project's.
	want := []string{cp + "-worker-1", plain, cp + "-api-1"}
	if !slices.Equal(names, want) {
		t.Fatalf("containers = %v, want %v", names, want)
	}
	if !st.Containers[0].Primary || st.Containers[1].Primary || st.Containers[2].Primary {
		t.Errorf("primary flags wrong, want the first container only: %+v", st.Containers)
	}
}

// Compose v1 names containers po_backend_1 and v2 po-backend-1; the labels are the
// same, and so must be the answer.
func TestStatusFindsComposeV1AndV2Names(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		named func(project, service string, n int) string
	}{
		{"v1", dockertest.V1Name},
		{"v2", dockertest.V2Name},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cp := dockertest.UniqueName(t, "names")
			backend, postgres := tc.named(cp, "backend", 1), tc.named(cp, "postgres", 1)
			ps := projectMap{
				"by-service": {Name: "by-service", ComposeProject: cp, Containers: []string{"backend", postgres}},
				"by-label":   {Name: "by-label", ComposeProject: cp, PrimaryContainer: "postgres"},
				"by-name":    {Name: "by-name", Containers: []string{backend, postgres}},
			}
			f := newFixture(t, ps)
			f.run(t, cp, "backend", dockertest.ContainerSpec{Name: backend, Healthcheck: noHealthcheck})
			f.run(t, cp, "postgres", dockertest.ContainerSpec{Name: postgres, Healthcheck: noHealthcheck})

			for project, wantPrimary := range map[string]string{"by-service": backend, "by-label": postgres, "by-name": backend} {
				st, err := f.svc.Status(t.Context(), project)
				if err != nil {
					t.Fatalf("%s: %v", project, err)
				}
				got := byName(t, st)
				for _, n := range []string{backend, postgres} {
					if got[n].State != "running" {
						t.Errorf("%s: %s state = %q, want running (all: %+v)", project, n, got[n].State, st.Containers)
					}
				}
				if len(st.Containers) != 2 || !got[wantPrimary].Primary {
					t.Errorf("%s: containers %+v, want 2 with %s primary", project, st.Containers, wantPrimary)
				}
				if got[backend].Service != "backend" {
					t.Errorf("%s: service = %q, want backend", project, got[backend].Service)
				}
			}
		})
	}
}

// A project brought up by the Compose tool in use (SCAR_COMPOSE_COMMAND picks v1 or v2).
func TestStatusOfComposeProject(t *testing.T) {
	t.Parallel()
	image := dockertest.BuildAppImage(t)
	p := dockertest.NewComposeProject(t, "compose", `
services:
  db:
    image: `+image+`
    healthcheck:
      test: ["NONE"]
  api:
    image: `+image+`
    depends_on: [db]
    ports: ["8000"]
`)
	ps := projectMap{"c": {Name: "c", ComposeProject: p.Name, Containers: []string{"api", "db"}}}
	f := newFixture(t, ps)
	var st *ProjectStatus
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		var err error
		st, err = f.svc.Status(t.Context(), "c")
		return err == nil && len(st.Containers) == 2 && st.Containers[0].Health == HealthHealthy
	})
	api, db := st.Containers[0], st.Containers[1]
	if api.Service != "api" || db.Service != "db" || !api.Primary || db.State != "running" || db.Health != HealthNone {
		t.Errorf("containers = %+v", st.Containers)
	}
	// The engine may publish the IPv4 and IPv6 bindings of one port on different host
	// ports; each is a real way in, and status lists both.
	if len(api.Ports) == 0 || len(api.Ports) > 2 {
		t.Errorf("api ports = %q, want 8000/tcp published", api.Ports)
	}
	for _, p := range api.Ports {
		if !strings.HasSuffix(p, "→8000/tcp") {
			t.Errorf("api ports = %q, want only published 8000/tcp", api.Ports)
		}
	}
}

func TestStatusOfUnknownProjectPassesTheProjectsError(t *testing.T) {
	t.Parallel()
	svc := New(nil, projectMap{}, nil, nil)
	_, err := svc.Status(t.Context(), "nope")
	if !errors.Is(err, ErrUnknownProject) {
		t.Fatalf("err = %v, want ErrUnknownProject", err)
	}
}

func TestPortsFormatting(t *testing.T) {
	tests := []struct {
		name string
		in   []container.PortSummary
		want []string
	}{
		{"none", nil, []string{}},
		{"published on both families once", []container.PortSummary{
			{PrivatePort: 8000, PublicPort: 8001, Type: "tcp"},
			{PrivatePort: 8000, PublicPort: 8001, Type: "tcp"},
		}, []string{"8001→8000/tcp"}},
		{"exposed and sorted", []container.PortSummary{
			{PrivatePort: 9000, Type: "udp"},
			{PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		}, []string{"8080→80/tcp", "9000/udp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ports(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("ports = %q, want %q", got, tc.want)
			}
		})
	}
}
