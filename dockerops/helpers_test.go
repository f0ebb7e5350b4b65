package dockerops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
)

// projectMap is a ProjectSource over fixed projects.
type projectMap map[string]*projects.Project

func (m projectMap) Resolve(name string) (*projects.Project, error) {
	p, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("project %q: %w", name, projects.ErrUnknownProject)
	}
	return p, nil
}

// fixture is a Service on the real engine with the demo app image and a fresh registry.
type fixture struct {
	// cli is the tests' own client; engine is the one the Service uses, from NewClient.
	cli    *client.Client
	engine *client.Client
	image  string
	reg    *prometheus.Registry
	svc    *Service
}

func newFixture(t testing.TB, ps projectMap, opts ...Option) *fixture {
	t.Helper()
	cli := dockertest.Client(t)
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	f := &fixture{cli: cli, engine: engine, image: dockertest.BuildAppImage(t), reg: prometheus.NewRegistry()}
	opts = append([]Option{WithPollInterval(100 * time.Millisecond)}, opts...)
	f.svc = New(engine, ps, metrics.New(f.reg, "test"), nil, opts...)
	return f
}

// run starts a container of service in Compose project cp, named the v2 way unless
// spec sets a name, and returns its id.
func (f *fixture) run(t testing.TB, cp, service string, spec dockertest.ContainerSpec) string {
	t.Helper()
	if spec.Name == "" {
		spec.Name = dockertest.V2Name(cp, service, 1)
	}
	if spec.Image == "" {
		spec.Image = f.image
	}
	if spec.Labels == nil {
		spec.Labels = dockertest.ComposeLabels(cp, service, 1, "")
	}
	return dockertest.RunContainer(t, f.cli, spec)
}

func (f *fixture) waitHealthy(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		dockertest.WaitHealth(t, f.cli, id, HealthHealthy, 30*time.Second)
	}
}

func (f *fixture) startedAt(t testing.TB, id string) time.Time {
	t.Helper()
	st, err := time.Parse(time.RFC3339Nano, dockertest.Inspect(t, f.cli, id).State.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// slowHealthcheck keeps a container "starting": its first check is a minute away.
var slowHealthcheck = &container.HealthConfig{Test: []string{"CMD", "/app", "-healthcheck"}, Interval: time.Minute}

// noHealthcheck disables the image's health check.
var noHealthcheck = &container.HealthConfig{Test: []string{"NONE"}}

// histogramCount is how many observations the operation histogram holds for labels.
func histogramCount(t testing.TB, reg *prometheus.Registry, operation, project, outcome string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"operation": operation, "project": project, "outcome": outcome}
	for _, mf := range mfs {
		if mf.GetName() != "scar_operation_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsEqual(m.GetLabel(), want) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name, operation string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsEqual(m.GetLabel(), map[string]string{"operation": operation}) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

func texts(lines []LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Stream + ": " + l.Text
	}
	return out
}

func byName(t testing.TB, st *ProjectStatus) map[string]ContainerStatus {
	t.Helper()
	out := make(map[string]ContainerStatus)
	for _, c := range st.Containers {
		out[c.Name] = c
	}
	return out
}

func joined(s []string) string { return strings.Join(s, "\n") }

// labelledMember is a member as resolution makes it from a list entry with Compose labels.
func labelledMember(service, dependsOn string) *member {
	return newMember(&container.Summary{
		ID:     fmt.Sprintf("id-%s-%d", service, time.Now().UnixNano()),
		Names:  []string{"/" + service},
		Labels: dockertest.ComposeLabels("p", service, 1, dependsOn),
	})
}
