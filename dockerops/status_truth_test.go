package dockerops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestStatusShowsEachChangeAtTheNextStatus changes a container the ways a user
// checks status for — restarted, turned unhealthy, healthy again, stopped — and,
// each time the engine's own inspect shows the change, wants the very next status
// to show it too: nothing status keeps between calls may stand in for the engine.
func TestStatusShowsEachChangeAtTheNextStatus(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "truth")
	ps := projectMap{"truth": {Name: "truth", ComposeProject: cp, Containers: []string{"api"}}}
	f := newFixture(t, ps)
	dir := t.TempDir()
	flag := filepath.Join(dir, "unhealthy")
	id := f.run(t, cp, "api", dockertest.ContainerSpec{Env: []string{"UNHEALTHY_FILE=/flag/unhealthy"}, Binds: []string{dir + ":/flag:ro"}})
	f.waitHealthy(t, id)

	status := func(t *testing.T) ContainerStatus {
		t.Helper()
		st, err := f.svc.Status(t.Context(), "truth")
		if err != nil || len(st.Containers) != 1 {
			t.Fatalf("status: %v %v", st, err)
		}
		return st.Containers[0]
	}
	first := status(t)
	if first.State != "running" || first.Health != HealthHealthy || first.Condition != "running, healthy" {
		t.Fatalf("before any change: %+v", first)
	}

	steps := []struct {
		name   string
		change func(t *testing.T)
		// shown reports whether the engine's inspect shows the change.
		shown func(t *testing.T) bool
		want  func(t *testing.T, c ContainerStatus)
	}{
		{
			name: "restarted",
			change: func(t *testing.T) {
				if _, err := f.cli.ContainerRestart(t.Context(), id, client.ContainerRestartOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			shown: func(t *testing.T) bool { return f.startedAt(t, id).After(first.StartedAt) },
			want: func(t *testing.T, c ContainerStatus) {
				if c.State != "running" || !c.StartedAt.Equal(f.startedAt(t, id)) {
					t.Errorf("after a restart: %+v, want running since %v", c, f.startedAt(t, id))
				}
			},
		},
		{
			name: "unhealthy",
			change: func(t *testing.T) {
				if err := os.WriteFile(flag, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			shown: func(t *testing.T) bool { return health(dockertest.Inspect(t, f.cli, id).State) == HealthUnhealthy },
			want: func(t *testing.T, c ContainerStatus) {
				if c.Health != HealthUnhealthy || !strings.HasPrefix(c.Condition, "running, unhealthy") {
					t.Errorf("after the health check failed: %+v, want running, unhealthy", c)
				}
			},
		},
		{
			name: "healthy again",
			change: func(t *testing.T) {
				if err := os.Remove(flag); err != nil {
					t.Fatal(err)
				}
			},
			shown: func(t *testing.T) bool { return health(dockertest.Inspect(t, f.cli, id).State) == HealthHealthy },
			want: func(t *testing.T, c ContainerStatus) {
				if c.Health != HealthHealthy || c.Condition != "running, healthy" {
					t.Errorf("after the health check passed again: %+v, want running, healthy", c)
				}
			},
		},
		{
			name: "stopped",
			change: func(t *testing.T) {
				if _, err := f.cli.ContainerStop(t.Context(), id, client.ContainerStopOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			shown: func(t *testing.T) bool { return !dockertest.Inspect(t, f.cli, id).State.Running },
			want: func(t *testing.T, c ContainerStatus) {
				if c.State != "exited" || c.Health != HealthNone || c.UptimeSeconds != 0 {
					t.Errorf("after a stop: %+v, want exited, no health, no uptime", c)
				}
			},
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.change(t)
			dockertest.WaitFor(t, 30*time.Second, func() bool { return step.shown(t) })
			step.want(t, status(t))
		})
	}
}
