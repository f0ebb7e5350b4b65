package dockerops

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// A container whose process exits by itself with code 3 is one died incident with
// the code and its last 10 log lines, published once.
func TestWatchDiedWithCodeAndLogTail(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	id := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3", "RUN_FOR=500ms", "LOG_LINES=12"}})

	ins := f.waitIncidents(t, 20*time.Second, 1, nil)
	in := ins[0]
	if in.Kind != store.KindDied || in.Summary != "exited with code 3" || in.ContainerID != id || !in.Open() {
		t.Fatalf("incident = %+v, want an open died incident of %s, exited with code 3", in, id)
	}
	if in.Container != dockertest.V2Name(f.project, "job", 1) || in.Service != "job" || in.Project != f.project {
		t.Errorf("incident names container %q service %q project %q", in.Container, in.Service, in.Project)
	}
	lines := strings.Split(in.Detail, "\n")
	if len(lines) != 10 || lines[9] != "job done, exit code 3" || !strings.Contains(in.Detail, "line 12") {
		t.Errorf("detail = %q, want the last 10 log lines ending with the job's last line", in.Detail)
	}
	die := f.rec.waitEvent(t, 5*time.Second, containerEvent(id, "die"))
	if die.ExitCode == nil || *die.ExitCode != 3 || die.Project != f.project {
		t.Errorf("die event = %+v, want exit code 3 of project %s", die, f.project)
	}
	pub := f.rec.waitEvent(t, 5*time.Second, incidentEvent(id))
	if pub.Incident.ID != in.ID || pub.Incident.Version != 1 {
		t.Errorf("published %+v, want incident %d version 1", pub.Incident, in.ID)
	}
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want 1: %+v", len(got), got)
	}
	if n := metricValue(f.cfg.Metrics.ContainerEvents.WithLabelValues(f.project, "die")); n != 1 {
		t.Errorf("scar_container_events_total{event=die} = %v, want 1", n)
	}
}

// A container killed for memory (a limit below what the app allocates) is an oom
// incident that names the limit, not a died one.
func TestWatchOOMKilled(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	id := f.run(t, "hog", dockertest.ContainerSpec{Env: []string{"ALLOCATE_MIB=32"}, MemoryMiB: 28})

	in := f.waitIncidents(t, 30*time.Second, 1, nil)[0]
	if in.Kind != store.KindOOM || in.Summary != "OOM killed (memory limit 28 MiB)" || in.ContainerID != id {
		t.Fatalf("incident = %+v, want oom with the 28 MiB limit", in)
	}
	f.rec.waitEvent(t, 10*time.Second, containerEvent(id, "die"))
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want 1 (the die of the OOM kill is the same incident): %+v", len(got), got)
	}
}

// A health check that starts failing is an unhealthy incident carrying its output;
// when it passes again the incident is resolved (the same incident, a new version).
func TestWatchUnhealthyThenRecovered(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	dir := t.TempDir()
	flag := filepath.Join(dir, "unhealthy")
	id := f.run(t, "web", dockertest.ContainerSpec{
		Env:   []string{"UNHEALTHY_FILE=/flag/unhealthy"},
		Binds: []string{dir + ":/flag:ro"},
		Healthcheck: &container.HealthConfig{
			Test: []string{"CMD", "/app", "-healthcheck"}, Interval: 500 * time.Millisecond, Retries: 2,
		},
	})
	dockertest.WaitHealth(t, f.cli, id, "healthy", 30*time.Second)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in := f.waitIncidents(t, 30*time.Second, 1, nil)[0]
	if in.Kind != store.KindUnhealthy || !in.Open() || !strings.Contains(in.Detail, "500") ||
		!strings.HasPrefix(in.Summary, "health check failing: ") {
		t.Fatalf("incident = %+v, want an open unhealthy one with the check's output", in)
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	f.waitIncidents(t, 30*time.Second, 1, func(in store.Incident) bool { return !in.Open() })
	got := f.incidents(t)
	if len(got) != 1 || got[0].ID != in.ID || got[0].Version != 2 || got[0].ResolvedAt.IsZero() {
		t.Fatalf("incidents = %+v, want incident %d resolved at version 2", got, in.ID)
	}
	pubs := f.rec.matching(incidentEvent(id))
	if len(pubs) != 2 || pubs[1].Incident.State != store.IncidentResolved {
		t.Errorf("published %d changes, want 2 (opened, resolved): %+v", len(pubs), pubs)
	}
}

// A container with restart: always that exits at once is exactly one incident, a
// crash loop, however many times it restarts.
func TestWatchCrashLoopIsOneIncident(t *testing.T) {
	f := newWatchFixture(t, func(c *WatcherConfig) { c.StablePeriod = time.Minute })
	f.start(t)
	id := f.run(t, "loop", dockertest.ContainerSpec{Env: []string{"EXIT_AT_START=1"}, RestartPolicy: "always"})

	f.waitIncidents(t, 30*time.Second, 1, func(in store.Incident) bool { return in.Kind == store.KindCrashLoop })
	// Let it loop some more: every restart must fold into that incident.
	dockertest.WaitFor(t, 60*time.Second, func() bool { return dockertest.Inspect(t, f.cli, id).RestartCount >= 6 })
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		return len(f.rec.matching(containerEvent(id, "start"))) >= 6
	})
	got := f.incidents(t)
	if len(got) != 1 {
		t.Fatalf("%d incidents, want exactly 1: %+v", len(got), got)
	}
	in := got[0]
	if in.Kind != store.KindCrashLoop || !in.Open() || in.Count < 3 ||
		!strings.HasPrefix(in.Summary, "restarting in a loop: ") || !strings.HasSuffix(in.Summary, "last exit code 3") {
		t.Errorf("incident = %+v, want an open crash loop of at least 3 restarts, last exit code 3", in)
	}
	for _, ev := range f.rec.matching(incidentEvent(id)) {
		if ev.Incident.ID != in.ID {
			t.Errorf("published incident %d, want only %d", ev.Incident.ID, in.ID)
		}
	}
}

// A container that died on its own and was restarted by its restart policy is
// resolved (the same incident) once it has run for the stable period.
func TestWatchRecoveredAfterStablePeriod(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	id := f.run(t, "web", dockertest.ContainerSpec{RestartPolicy: "always"})
	// The process dies as a crash would: killed from outside the engine, so no kill
	// event precedes its die.
	pid := dockertest.Inspect(t, f.cli, id).State.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Skipf("cannot kill the container's process %d from the test (the engine is on another host?): %v", pid, err)
	}
	in := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	if in.Kind != store.KindDied || in.Summary != "exited with code 137" || !in.Open() {
		t.Fatalf("incident = %+v, want an open died incident, exit code 137", in)
	}
	start := f.rec.waitEvent(t, 20*time.Second, func(ev WatchEvent) bool {
		return containerEvent(id, "start")(ev) && ev.At.After(in.EventAt)
	})
	resolved := f.waitIncidents(t, 20*time.Second, 1, func(in store.Incident) bool { return !in.Open() })[0]
	// The engine's StartedAt of the run after the restart (a little before its start
	// event) is what the stable period counts from.
	startedAt, err := time.Parse(time.RFC3339Nano, dockertest.Inspect(t, f.cli, id).State.StartedAt)
	if err != nil || startedAt.Before(in.EventAt) || startedAt.After(start.At) {
		t.Fatalf("started at %s (%v), want the restart's, between the die at %s and the start event at %s", startedAt, err, in.EventAt, start.At)
	}
	if resolved.ID != in.ID || resolved.ResolvedAt.Sub(startedAt) < f.cfg.StablePeriod {
		t.Errorf("resolved %+v at %s, want incident %d resolved no sooner than %s after the restart at %s",
			resolved, resolved.ResolvedAt, in.ID, f.cfg.StablePeriod, startedAt)
	}
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want 1: %+v", len(got), got)
	}
}
