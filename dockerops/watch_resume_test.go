package dockerops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
	"github.com/scar-dev/scar/store"
)

// The engine unreachable (the proxy scar talks through stopped) while containers die
// behind it: the outage is one docker_unreachable incident, logged once, resolved
// when the stream is back; each death is one incident after the stream resumes.
func TestWatchEngineUnreachableThenResumes(t *testing.T) {
	noGoroutineLeft(t)
	proxy := engineproxy.New(t)
	engine, err := NewClient(proxy.Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	f := newWatchFixture(t, func(c *WatcherConfig) { c.Engine = engine })
	f.start(t)
	var ids []string
	for _, svc := range []string{"a", "b", "c"} {
		ids = append(ids, f.run(t, svc, dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3"}, NoStart: true}))
	}

	proxy.Stop()
	dockertest.WaitFor(t, 10*time.Second, func() bool { return f.streamUp() == 0 })
	for _, id := range ids {
		startContainer(t, f.cli, id)
	}
	for _, id := range ids {
		dockertest.WaitExited(t, f.cli, id, 20*time.Second)
	}
	down := f.waitHostIncidents(t, func(in store.Incident) bool { return in.Open() })
	if len(f.incidents(t)) != 0 {
		t.Fatalf("incidents while the engine was unreachable: %+v", f.incidents(t))
	}

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	got := f.waitIncidents(t, 20*time.Second, len(ids), nil)
	f.waitHostIncidents(t, func(in store.Incident) bool { return in.ID == down.ID && !in.Open() })
	for _, id := range ids {
		f.waitHandled(t, f.rec.waitEvent(t, 10*time.Second, containerEvent(id, "die")))
	}
	if got = f.incidents(t); len(got) != len(ids) {
		t.Fatalf("%d incidents, want %d (one per death): %+v", len(got), len(ids), got)
	}
	for _, id := range ids {
		if n := len(f.rec.matching(containerEvent(id, "die"))); n != 1 {
			t.Errorf("container %s: its die published %d times, want once", id, n)
		}
	}
	for _, in := range got {
		if in.Kind != store.KindDied || in.Summary != "exited with code 3" || in.Detail == "" {
			t.Errorf("incident %+v, want died with code 3 and a log tail", in)
		}
	}
	if n := f.logs.count("event stream of the Docker host lost"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, f.logs.String())
	}
	if n := f.logs.count("event stream of the Docker host back"); n != 1 {
		t.Errorf("the return was logged %d times, want once:\n%s", n, f.logs.String())
	}
}

// waitHostIncidents waits for a docker_unreachable incident for which ok holds.
func (f *watchFixture) waitHostIncidents(t *testing.T, ok func(store.Incident) bool) store.Incident {
	t.Helper()
	var found store.Incident
	dockertest.WaitFor(t, 20*time.Second, func() bool {
		all, err := f.db.Incidents(context.Background(), store.IncidentQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range all {
			if in.Kind == store.KindDockerUnreachable && in.Project == "" && ok(in) {
				found = in
				return true
			}
		}
		return false
	})
	return found
}

// scar killed and restarted: a new watcher on the same store alerts nothing twice
// (not even the event whose cursor write the crash lost) and loses nothing (a death
// while no watcher ran is an incident).
func TestWatchRestartedWatcherNothingTwiceNothingLost(t *testing.T) {
	f := newWatchFixture(t, nil)
	stop := f.start(t)
	x := f.run(t, "x", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3"}})
	first := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	dieX := f.rec.waitEvent(t, 10*time.Second, containerEvent(x, "die"))
	f.waitHandled(t, dieX)
	stop()
	// The crash came after the incident was written and before the cursor passed
	// its event: the cursor is put back before it.
	if err := f.db.SetWatchCursor(context.Background(), f.cfg.Host, dieX.At.Add(-time.Nanosecond), nil); err != nil {
		t.Fatal(err)
	}
	y := f.run(t, "y", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=4"}})
	dockertest.WaitExited(t, f.cli, y, 20*time.Second)

	f.w = NewWatcher(f.cfg)
	f.start(t)
	f.waitIncidents(t, 20*time.Second, 2, nil)
	f.waitHandled(t, f.rec.waitEvent(t, 10*time.Second, containerEvent(y, "die")))
	got := f.incidents(t)
	if len(got) != 2 {
		t.Fatalf("%d incidents, want 2 (x once, y once): %+v", len(got), got)
	}
	if got[0].ID != first.ID || got[0].Version != 1 || got[0].ContainerID != x {
		t.Errorf("x's incident = %+v, want %d unchanged at version 1", got[0], first.ID)
	}
	if got[1].ContainerID != y || got[1].Summary != "exited with code 4" {
		t.Errorf("y's incident = %+v, want died with code 4", got[1])
	}
	if pubs := f.rec.matching(func(ev WatchEvent) bool { return ev.Incident != nil }); len(pubs) != 1 {
		t.Errorf("the new watcher published %d incident changes, want 1 (y's): %+v", len(pubs), pubs)
	}
}

// The open incidents a restarted scar finds in the store are checked against the
// containers as they are now (their ending events may be older than what the engine
// keeps): a container running for the stable period has recovered, a healthy one is
// no longer unhealthy, a removed one ends its incident, an exited one stays open.
func TestWatchTakesUpOpenIncidents(t *testing.T) {
	f := newWatchFixture(t, func(c *WatcherConfig) { c.StablePeriod = 500 * time.Millisecond })
	running := f.run(t, "web", dockertest.ContainerSpec{})
	healthy := f.run(t, "api", dockertest.ContainerSpec{Healthcheck: &container.HealthConfig{
		Test: []string{"CMD", "/app", "-healthcheck"}, Interval: 500 * time.Millisecond,
	}})
	exited := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=0"}})
	dockertest.WaitHealth(t, f.cli, healthy, "healthy", 30*time.Second)
	dockertest.WaitExited(t, f.cli, exited, 20*time.Second)
	dockertest.WaitFor(t, 10*time.Second, func() bool { return time.Since(f.startedAt(t, running)) > time.Second })

	ctx := context.Background()
	long := time.Now().Add(-time.Hour)
	open := func(id, kind string) store.Incident {
		in, err := f.db.OpenIncident(ctx, store.Incident{Project: f.project, ContainerID: id, Container: id[:12], Kind: kind,
			Summary: "before the restart", EventAt: long, OpenedAt: long})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	recovered, unhealthy, gone, stays := open(running, store.KindCrashLoop), open(healthy, store.KindUnhealthy),
		open("0123456789abcdef0123", store.KindDied), open(exited, store.KindDied)
	// The watcher already ran on this store once: it resumes rather than starts.
	if err := f.db.SetWatchCursor(ctx, "", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	f.start(t)

	f.waitIncidents(t, 20*time.Second, 3, func(in store.Incident) bool { return !in.Open() })
	byID := map[int64]store.Incident{}
	for _, in := range f.incidents(t) {
		byID[in.ID] = in
	}
	for _, in := range []store.Incident{recovered, unhealthy, gone} {
		if got := byID[in.ID]; got.Open() || got.Version != 2 {
			t.Errorf("%s incident of %s = %+v, want resolved", in.Kind, in.Container, got)
		}
	}
	if got := byID[gone.ID]; !strings.Contains(got.Detail, "container removed") {
		t.Errorf("the removed container's incident says %q, want that it was removed", got.Detail)
	}
	if got := byID[stays.ID]; !got.Open() || got.Version != 1 {
		t.Errorf("the exited container's incident = %+v, want it still open", got)
	}
	if n := len(f.incidents(t)); n != 4 {
		t.Errorf("%d incidents, want the 4 taken up and no new one", n)
	}
}

func (f *watchFixture) startedAt(t *testing.T, id string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, dockertest.Inspect(t, f.cli, id).State.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
