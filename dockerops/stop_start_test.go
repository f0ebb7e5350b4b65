package dockerops

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// A project brought up by the Compose tool in use (SCAR_COMPOSE_COMMAND picks v1 or
// v2): db runs under Compose's default restart policy "no", web under
// unless-stopped and depends on db.
func TestStopAndStartComposeProject(t *testing.T) {
	t.Parallel()
	image := dockertest.BuildAppImage(t)
	cp := dockertest.NewComposeProject(t, "stopstart", `
services:
  db:
    image: `+image+`
  web:
    image: `+image+`
    restart: unless-stopped
    depends_on: [db]
`)
	ps := projectMap{"app": {Name: "app", ComposeProject: cp.Name, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	db, web := f.serviceContainer(t, cp.Name, "db"), f.serviceContainer(t, cp.Name, "web")
	f.waitHealthy(t, db, web)
	dbName, webName := dockertest.Inspect(t, f.cli, db).Name[1:], dockertest.Inspect(t, f.cli, web).Name[1:]
	// Compose v2 writes depends_on as a label; v1 does not, and then order is free.
	ordered := dockertest.Inspect(t, f.cli, web).Config.Labels[labelDependsOn] != ""
	who := Actor{Name: "api:test"}

	var rec recorder
	res, err := f.svc.Stop(t.Context(), "app", RestartRequest{}, who, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Project != "app" || len(res.Containers) != 2 || res.DurationMS <= 0 {
		t.Fatalf("stop = %+v", res)
	}
	for _, c := range res.Containers {
		if !c.OK || c.State != "exited" || c.Skipped || c.Error != "" {
			t.Errorf("stop result %+v, want exited", c)
		}
		if rec.index(t, c.Name, "stopping") > rec.index(t, c.Name, "stopped") {
			t.Errorf("%s: result event before the stop event", c.Name)
		}
	}
	for _, id := range []string{db, web} {
		if st := dockertest.Inspect(t, f.cli, id).State; st.Running || st.Status != "exited" {
			t.Errorf("after the stop the engine says %s is %s", id, st.Status)
		}
	}
	if ordered && rec.index(t, webName, "stopped") > rec.index(t, dbName, "stopping") {
		t.Errorf("db was stopped before web, which depends on it, had stopped")
	}
	stoppedAt := map[string]time.Time{db: f.startedAt(t, db), web: f.startedAt(t, web)}

	res, err = f.svc.Stop(t.Context(), "app", RestartRequest{}, who, nil)
	if err != nil || !res.OK || !res.Containers[0].Skipped || !res.Containers[1].Skipped {
		t.Fatalf("a second stop = %+v, %v; want OK, both already stopped", res, err)
	}

	rec = recorder{}
	res, err = f.svc.Start(t.Context(), "app", RestartRequest{}, who, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Containers) != 2 {
		t.Fatalf("start = %+v", res)
	}
	for _, c := range res.Containers {
		if !c.OK || c.State != "running" || c.Health != HealthHealthy || c.Skipped {
			t.Errorf("start result %+v, want running and healthy", c)
		}
	}
	// The wait is real: the engine says healthy right after the call returns.
	for id, t0 := range stoppedAt {
		c := dockertest.Inspect(t, f.cli, id)
		if !c.State.Running || c.State.Health.Status != HealthHealthy {
			t.Errorf("after the start the engine says %s is %s, %s", id, c.State.Status, c.State.Health.Status)
		}
		if !f.startedAt(t, id).After(t0) {
			t.Errorf("container %s was not started again", id)
		}
	}
	if ordered && rec.index(t, dbName, "running") > rec.index(t, webName, "starting") {
		t.Errorf("web started before db, which it depends on, was up")
	}

	res, err = f.svc.Start(t.Context(), "app", RestartRequest{Containers: []string{"web"}}, who, nil)
	if err != nil || !res.OK || len(res.Containers) != 1 || !res.Containers[0].Skipped || res.Containers[0].Condition != "running, healthy" {
		t.Fatalf("start of a running container = %+v, %v; want OK, already running", res, err)
	}

	for _, op := range []string{OpStop, OpStart} {
		if n := histogramCount(t, f.reg, op, "app", "success"); n != 2 {
			t.Errorf("%s observed %d times with outcome success, want 2", op, n)
		}
	}
}

// A container that is no Compose service, listed by name.
func TestStopAndStartPlainContainer(t *testing.T) {
	t.Parallel()
	name := dockertest.UniqueName(t, "plain")
	other := dockertest.UniqueName(t, "plain")
	ps := projectMap{"app": {Name: "app", Containers: []string{name, other}, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	id := f.run(t, "", "", dockertest.ContainerSpec{Name: name, Labels: map[string]string{}, RestartPolicy: "always"})
	otherID := f.run(t, "", "", dockertest.ContainerSpec{Name: other, Labels: map[string]string{}, Healthcheck: noHealthcheck})
	f.waitHealthy(t, id)
	otherRun := f.startedAt(t, otherID)

	res, err := f.svc.Stop(t.Context(), "app", RestartRequest{Containers: []string{name}}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Containers) != 1 || res.Containers[0].Name != name || res.Containers[0].State != "exited" {
		t.Fatalf("stop = %+v", res)
	}
	// Its restart policy "always" does not bring it back: the engine knows it was stopped.
	if st := dockertest.Inspect(t, f.cli, id).State; st.Running {
		t.Errorf("stopped container runs again: %+v", st)
	}
	if st := dockertest.Inspect(t, f.cli, otherID).State; !st.Running || !f.startedAt(t, otherID).Equal(otherRun) {
		t.Errorf("the stop of %s touched %s", name, other)
	}
	st, err := f.svc.Status(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if c := byName(t, st)[name]; c.State != "exited" || !strings.HasPrefix(c.Condition, "exited (code ") {
		t.Errorf("status of the stopped container = %+v, want exited", c)
	}

	res, err = f.svc.Start(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Containers) != 2 {
		t.Fatalf("start = %+v", res)
	}
	got := map[string]ContainerResult{}
	for _, c := range res.Containers {
		got[c.Name] = c
	}
	if c := got[name]; c.Skipped || c.Health != HealthHealthy {
		t.Errorf("start of the stopped container = %+v, want started and healthy", c)
	}
	if c := got[other]; !c.Skipped || c.State != "running" {
		t.Errorf("start of the running container = %+v, want left alone as running", c)
	}
	if !f.startedAt(t, otherID).Equal(otherRun) {
		t.Errorf("start restarted a running container")
	}
}

func TestStartReportsAContainerThatFailsItsHealthCheck(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "sick")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	dir := t.TempDir()
	api := f.run(t, cp, "api", dockertest.ContainerSpec{Env: []string{"UNHEALTHY_FILE=/flag/unhealthy"}, Binds: []string{dir + ":/flag:ro"}})
	f.waitHealthy(t, api)
	if res, err := f.svc.Stop(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil); err != nil || !res.OK {
		t.Fatalf("stop = %+v, %v", res, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := f.svc.Start(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatalf("a container that fails is a result, not an error: %v", err)
	}
	c := res.Containers[0]
	if res.OK || c.OK || c.State != "running" || !strings.Contains(c.Error, "unhealthy: its health check failed") {
		t.Fatalf("start = %+v, want not OK with the failing health check as cause", res)
	}
	if n := histogramCount(t, f.reg, OpStart, "app", "error"); n != 1 {
		t.Errorf("start observed %d times with outcome error, want 1", n)
	}
}

func TestStopAndStartChangeNothingOnBadRequests(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "refuse")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	api := f.run(t, cp, "api", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	run := f.startedAt(t, api)
	ops := map[string]func() (*RestartResult, error){}
	unchanged := func(t *testing.T) {
		t.Helper()
		if c := dockertest.Inspect(t, f.cli, api); !c.State.Running || !f.startedAt(t, api).Equal(run) {
			t.Errorf("api was touched: %s", c.State.Status)
		}
	}

	t.Run("busy", func(t *testing.T) {
		unlock, err := f.svc.Locks().TryLock("app", OpDeploy, Actor{Name: "telegram:42 (@sam)"})
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		ops[OpStop] = func() (*RestartResult, error) {
			return f.svc.Stop(t.Context(), "app", RestartRequest{}, Actor{Name: "api:ci"}, nil)
		}
		ops[OpStart] = func() (*RestartResult, error) {
			return f.svc.Start(t.Context(), "app", RestartRequest{}, Actor{Name: "api:ci"}, nil)
		}
		for op, call := range ops {
			_, err := call()
			var busy *BusyError
			if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.Operation != OpDeploy || busy.Who != "telegram:42 (@sam)" {
				t.Errorf("%s: err = %v, want *BusyError naming the deploy", op, err)
			}
		}
		unchanged(t)
	})

	t.Run("unknown container", func(t *testing.T) {
		_, err := f.svc.Stop(t.Context(), "app", RestartRequest{Containers: []string{"api", "nosuch"}}, Actor{Name: "api:test"}, nil)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nosuch"`) {
			t.Fatalf("err = %v, want ErrNotFound naming nosuch", err)
		}
		unchanged(t)
		if n := histogramCount(t, f.reg, OpStop, "app", "error"); n < 1 {
			t.Errorf("the refused stop was not observed as an error")
		}
	})

	t.Run("unknown project", func(t *testing.T) {
		if _, err := f.svc.Start(t.Context(), "nosuch", RestartRequest{}, Actor{Name: "api:test"}, nil); err == nil {
			t.Fatal("start of an unknown project: no error")
		}
		if n := histogramCount(t, f.reg, OpStart, "", OutcomeUnknownProject); n != 1 {
			t.Errorf("start of an unknown project observed %d times, want 1", n)
		}
	})
}

func TestDependents(t *testing.T) {
	tests := []struct {
		name string
		deps [][]int
		want [][]int
	}{
		{"none", [][]int{nil, nil}, [][]int{nil, nil}},
		{"chain web→api→db", [][]int{{1}, {2}, nil}, [][]int{nil, {0}, {1}}},
		{"two on one", [][]int{{2}, {2}, nil}, [][]int{nil, nil, {0, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dependents(tc.deps)
			if !slices.EqualFunc(got, tc.want, func(a, b []int) bool { return slices.Equal(a, b) }) {
				t.Errorf("dependents(%v) = %v, want %v", tc.deps, got, tc.want)
			}
		})
	}
}
