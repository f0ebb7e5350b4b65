package dockerops

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) progress(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// index is the position of the first event of container whose message starts with prefix.
func (r *recorder) index(t *testing.T, container, prefix string) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if e.Container == container && strings.HasPrefix(e.Message, prefix) {
			return i
		}
	}
	t.Fatalf("no event %q for %s in %+v", prefix, container, r.events)
	return -1
}

func TestRestartAllAndOne(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "restart")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	api := f.run(t, cp, "api", dockertest.ContainerSpec{})
	worker := f.run(t, cp, "worker", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	f.waitHealthy(t, api)

	t.Run("all", func(t *testing.T) {
		before := map[string]time.Time{api: f.startedAt(t, api), worker: f.startedAt(t, worker)}
		var rec recorder
		res, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, rec.progress)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Project != "app" || len(res.Containers) != 2 || res.DurationMS <= 0 {
			t.Fatalf("result = %+v", res)
		}
		want := map[string]string{cp + "-api-1": HealthHealthy, cp + "-worker-1": HealthNone}
		for _, c := range res.Containers {
			if !c.OK || c.State != "running" || c.Health != want[c.Name] || c.Error != "" || c.DurationMS <= 0 {
				t.Errorf("container result %+v, want running and %q", c, want[c.Name])
			}
			if rec.index(t, c.Name, "restarting") > rec.index(t, c.Name, "running") {
				t.Errorf("%s: result event before the start event", c.Name)
			}
		}
		// The wait is real: the engine says healthy right after the call returns.
		if h := dockertest.Inspect(t, f.cli, api).State.Health.Status; h != HealthHealthy {
			t.Errorf("api health after restart = %q, want healthy", h)
		}
		for id, t0 := range before {
			if !f.startedAt(t, id).After(t0) {
				t.Errorf("container %s was not restarted", id)
			}
		}
	})

	t.Run("one by service", func(t *testing.T) {
		apiBefore, workerBefore := f.startedAt(t, api), f.startedAt(t, worker)
		res, err := f.svc.Restart(t.Context(), "app", RestartRequest{Containers: []string{"worker"}}, Actor{Name: "api:test"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || len(res.Containers) != 1 || res.Containers[0].Name != cp+"-worker-1" {
			t.Fatalf("result = %+v", res)
		}
		if !f.startedAt(t, api).Equal(apiBefore) || !f.startedAt(t, worker).After(workerBefore) {
			t.Errorf("restart of worker touched api or missed worker")
		}
	})

	t.Run("unknown container", func(t *testing.T) {
		_, err := f.svc.Restart(t.Context(), "app", RestartRequest{Containers: []string{"worker", "nosuch"}}, Actor{Name: "api:test"}, nil)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nosuch"`) {
			t.Fatalf("err = %v, want ErrNotFound naming nosuch", err)
		}
	})
}

func TestRestartFollowsComposeDependencies(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "deps")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	// web → api → db (v2 labels), cache has none, as with Compose v1.
	db := f.run(t, cp, "db", dockertest.ContainerSpec{})
	api := f.run(t, cp, "api", dockertest.ContainerSpec{Labels: dockertest.ComposeLabels(cp, "api", 1, "db:service_healthy:false")})
	web := f.run(t, cp, "web", dockertest.ContainerSpec{Labels: dockertest.ComposeLabels(cp, "web", 1, "api:service_started:false,redis:service_started:true")})
	cache := f.run(t, cp, "cache", dockertest.ContainerSpec{})
	f.waitHealthy(t, db, api, web, cache)

	var rec recorder
	res, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("result = %+v", res)
	}
	name := func(s string) string { return dockertest.V2Name(cp, s, 1) }
	if rec.index(t, name("db"), "running") > rec.index(t, name("api"), "restarting") {
		t.Errorf("api restarted before db was back")
	}
	if rec.index(t, name("api"), "running") > rec.index(t, name("web"), "restarting") {
		t.Errorf("web restarted before api was back")
	}
	if rec.index(t, name("cache"), "restarting") > rec.index(t, name("db"), "running") {
		t.Errorf("cache, which depends on nothing, waited for db")
	}
}

func TestRestartReportsContainersThatDoNotComeBack(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "fail")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 4 * time.Second, AutoDetect: true, Containers: []string{"ghost"}}}
	f := newFixture(t, ps)
	f.run(t, cp, "sick", dockertest.ContainerSpec{Env: []string{"UNHEALTHY=1"}})
	f.run(t, cp, "crash", dockertest.ContainerSpec{Env: []string{"EXIT_AT_START=1"}})
	ok := f.run(t, cp, "ok", dockertest.ContainerSpec{})
	f.waitHealthy(t, ok)

	start := time.Now()
	res, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatalf("a container that fails is a result, not an error: %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("restart took %s with a 4s health timeout", took)
	}
	if res.OK {
		t.Errorf("result OK with failing containers")
	}
	got := make(map[string]ContainerResult)
	for _, c := range res.Containers {
		got[strings.TrimPrefix(c.Name, cp+"-")] = c
	}
	tests := []struct {
		name, state, errText string
		ok                   bool
	}{
		// Declared unhealthy, or still starting at the timeout: the health check says why.
		{"sick-1", "running", "health check", false},
		{"crash-1", "exited", "exited with code 3", false},
		{"ok-1", "running", "", true},
		{"ghost", StateNotFound, "no such container", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := got[tc.name]
			if c.OK != tc.ok || c.State != tc.state || !strings.Contains(c.Error, tc.errText) || (tc.errText == "") != (c.Error == "") {
				t.Errorf("result %+v, want ok=%v state %q error containing %q", c, tc.ok, tc.state, tc.errText)
			}
		})
	}
	if n := histogramCount(t, f.reg, OpRestart, "app", "error"); n != 1 {
		t.Errorf("restart observed %d times with outcome error, want 1", n)
	}
}

func TestRestartIsRefusedWhileTheProjectIsBusy(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "busy")
	cpOther := dockertest.UniqueName(t, "busy")
	ps := projectMap{
		"app":   {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second},
		"other": {Name: "other", ComposeProject: cpOther, HealthTimeout: 30 * time.Second},
	}
	since := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, ps, WithClock(func() time.Time { return since }))
	f.run(t, cp, "api", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	f.run(t, cpOther, "api", dockertest.ContainerSpec{Healthcheck: noHealthcheck})

	t.Run("held by a deploy", func(t *testing.T) {
		unlock, err := f.svc.Locks().TryLock("app", OpDeploy, Actor{Name: "telegram:42 (@sam)"})
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		_, err = f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:ci"}, nil)
		var busy *BusyError
		if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) {
			t.Fatalf("err = %v, want *BusyError", err)
		}
		want := BusyError{Project: "app", Operation: OpDeploy, Who: "telegram:42 (@sam)", Since: since}
		if *busy != want {
			t.Errorf("busy = %+v, want %+v", *busy, want)
		}
		if msg := "busy: deploy of app by telegram:42 (@sam) since 2025-06-01T12:00:00Z"; err.Error() != msg {
			t.Errorf("message = %q, want %q", err.Error(), msg)
		}
		// Another project is not held up.
		res, err := f.svc.Restart(t.Context(), "other", RestartRequest{}, Actor{Name: "api:ci"}, nil)
		if err != nil || !res.OK {
			t.Fatalf("restart of another project: %+v, %v", res, err)
		}
	})

	t.Run("held by a running restart", func(t *testing.T) {
		var second error
		var once sync.Once
		progress := func(Event) {
			once.Do(func() {
				_, second = f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:second"}, nil)
			})
		}
		res, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:first"}, progress)
		if err != nil || !res.OK {
			t.Fatalf("first restart: %+v, %v", res, err)
		}
		var busy *BusyError
		if !errors.As(second, &busy) || busy.Operation != OpRestart || busy.Who != "api:first" {
			t.Fatalf("second restart: %v, want busy with the first restart", second)
		}
		// Released afterwards.
		if _, ok := f.svc.Locks().Holder("app"); ok {
			t.Errorf("lock still held after the restart")
		}
	})
}

func TestDependencies(t *testing.T) {
	m := labelledMember
	tests := []struct {
		name    string
		targets []*member
		want    [][]int
		cyclic  bool
	}{
		{"none (compose v1)", []*member{m("a", ""), m("b", "")}, [][]int{nil, nil}, false},
		{"chain", []*member{m("web", "api:service_started:false"), m("api", "db:service_healthy:true"), m("db", "")}, [][]int{{1}, {2}, nil}, false},
		{"outside the targets", []*member{m("api", "db:service_healthy:true")}, [][]int{nil}, false},
		{"replicas", []*member{m("web", "api:service_started:true"), m("api", ""), m("api", "")}, [][]int{{1, 2}, nil, nil}, false},
		{"cycle", []*member{m("a", "b:service_started:true"), m("b", "a:service_started:true")}, [][]int{nil, nil}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cyclic := dependencies(tc.targets)
			if cyclic != tc.cyclic || !slices.EqualFunc(got, tc.want, func(a, b []int) bool { return slices.Equal(a, b) }) {
				t.Errorf("dependencies = %v cyclic %v, want %v %v", got, cyclic, tc.want, tc.cyclic)
			}
		})
	}
}

func TestLocks(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	l := NewLocks(func() time.Time { return at })
	unlock, err := l.TryLock("a", OpDeploy, Actor{Name: "sam"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryLock("a", OpRollback, Actor{Name: "kim"}); err == nil || err.Error() != "busy: deploy of a by sam since 2025-01-02T03:04:05Z" {
		t.Fatalf("second lock: %v", err)
	}
	unlockB, err := l.TryLock("b", OpRestart, Actor{Name: "kim"})
	if err != nil {
		t.Fatalf("another project: %v", err)
	}
	unlock()
	unlock() // a second call must not release someone else's lock
	again, err := l.TryLock("a", OpRestart, Actor{Name: "kim"})
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock()
	if h, ok := l.Holder("a"); !ok || h.Who != "kim" {
		t.Errorf("holder = %+v %v, want kim's restart still held", h, ok)
	}
	again()
	unlockB()
}

func TestRestartHonoursCancellation(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "cancel")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: time.Minute}}
	f := newFixture(t, ps)
	f.run(t, cp, "slow", dockertest.ContainerSpec{Healthcheck: slowHealthcheck})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	res, err := f.svc.Restart(ctx, "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second || res.OK || !strings.Contains(res.Containers[0].Error, "deadline") {
		t.Errorf("after %s: %+v, want a failed result once the context ends", took, res)
	}
}
