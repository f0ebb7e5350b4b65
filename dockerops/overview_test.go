package dockerops

import (
	"context"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// All lists the map's projects by name, as a projects.Store does.
func (m projectMap) All() []*projects.Project {
	out := make([]*projects.Project, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[name])
	}
	return out
}

// fixedIncidents is an IncidentReader over incidents made by the test.
type fixedIncidents []store.Incident

func (f fixedIncidents) Incidents(_ context.Context, q store.IncidentQuery) ([]store.Incident, error) {
	return f, nil
}

// TestOverviewCountsEveryProjectFromOneList: one project with a healthy service, an
// unhealthy one, a stopped one, a completed job and a containers entry that names
// nothing; another all running; a third of another Docker host. The overview counts
// each as status would, with their open incidents.
func TestOverviewCountsEveryProjectFromOneList(t *testing.T) {
	t.Parallel()
	shop, blog := dockertest.UniqueName(t, "ovshop"), dockertest.UniqueName(t, "ovblog")
	ps := projectMap{
		"shop":  {Name: "shop", ComposeProject: shop, AutoDetect: true, Containers: []string{"web", "missing-worker"}},
		"blog":  {Name: "blog", ComposeProject: blog, AutoDetect: true},
		"other": {Name: "other", ComposeProject: "other", DockerHost: "tcp://10.0.0.9:2376"},
	}
	f := newFixture(t, ps, WithDockerHost("unix:///var/run/docker.sock"),
		WithIncidents(fixedIncidents{{Project: "shop", State: "open"}, {Project: "shop", State: "open"}, {Project: "blog", State: "open"}}))
	web := f.run(t, shop, "web", dockertest.ContainerSpec{})
	sick := f.run(t, shop, "api", dockertest.ContainerSpec{Env: []string{"UNHEALTHY=1"}})
	stopped := f.run(t, shop, "worker", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3"}})
	job := f.run(t, shop, "migrate", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=0"}})
	b1 := f.run(t, blog, "web", dockertest.ContainerSpec{})
	f.waitHealthy(t, web, b1)
	dockertest.WaitHealth(t, f.cli, sick, HealthUnhealthy, 30*time.Second)
	dockertest.WaitExited(t, f.cli, stopped, 30*time.Second)
	dockertest.WaitExited(t, f.cli, job, 30*time.Second)

	ov, err := f.svc.Overview(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Hosts) != 1 || !ov.Hosts[0].Available || ov.Hosts[0].Host != "unix:///var/run/docker.sock" {
		t.Errorf("hosts: %+v", ov.Hosts)
	}
	got := map[string]ProjectOverview{}
	for _, p := range ov.Projects {
		got[p.Project] = p
	}
	want := map[string]ProjectOverview{
		"shop": {Running: 2, Expected: 4, Down: []string{dockertest.V2Name(shop, "worker", 1), "missing-worker"},
			Unhealthy: []string{dockertest.V2Name(shop, "api", 1)}, OpenIncidents: 2},
		"blog": {Running: 1, Expected: 1, Down: []string{}, Unhealthy: []string{}, OpenIncidents: 1},
	}
	for name, w := range want {
		g := got[name]
		slices.Sort(g.Down)
		slices.Sort(w.Down)
		if g.Running != w.Running || g.Expected != w.Expected || !slices.Equal(g.Down, w.Down) ||
			!slices.Equal(g.Unhealthy, w.Unhealthy) || g.OpenIncidents != w.OpenIncidents || g.Error != "" {
			t.Errorf("%s: got running %d/%d down %v unhealthy %v incidents %d error %q, want %d/%d %v %v %d",
				name, g.Running, g.Expected, g.Down, g.Unhealthy, g.OpenIncidents, g.Error, w.Running, w.Expected, w.Down, w.Unhealthy, w.OpenIncidents)
		}
	}
	if o := got["other"]; !strings.Contains(o.Error, "tcp://10.0.0.9:2376") || o.Expected != 0 {
		t.Errorf("another host's project: %+v, want an error naming its host and no counts", o)
	}
}

// TestOverviewOfAHostThatIsDownOrHangs: with the Engine refusing connections, or
// taking them and never answering, the overview still answers — within the host's
// timeout — each project saying which host could not be asked and why.
func TestOverviewOfAHostThatIsDownOrHangs(t *testing.T) {
	t.Parallel()
	hanging := filepath.Join(t.TempDir(), "hang.sock")
	l, err := net.Listen("unix", hanging)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // read nothing, answer nothing
		}
	}()
	for _, tc := range []struct{ name, host, says string }{
		{"down", "unix://" + filepath.Join(t.TempDir(), "docker.sock"), "unavailable"},
		{"hanging", "unix://" + hanging, "did not answer within " + overviewHostTimeout.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			engine, err := NewClient(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { engine.Close() })
			svc := New(engine, projectMap{"shop": {Name: "shop", ComposeProject: "shop"}}, nil, nil, WithDockerHost(tc.host))
			start := time.Now()
			ov, err := svc.Overview(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > overviewHostTimeout+2*time.Second {
				t.Errorf("the overview waited %s for the host, beyond its timeout", took)
			}
			if h := ov.Hosts[0]; h.Available || !strings.Contains(h.Error, "Docker on "+tc.host+" ") || !strings.Contains(h.Error, tc.says) {
				t.Errorf("host: %+v, want unavailable, saying %q", h, tc.says)
			}
			if p := ov.Projects[0]; p.Error != ov.Hosts[0].Error {
				t.Errorf("project: %+v, want the host's error", p)
			}
		})
	}
}
