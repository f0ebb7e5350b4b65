package dockerops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Cases from the outside check of #14 on the real engine: containers the project's
// list names, containers of no project, one-off run containers, an unhealthy
// container that is removed.

// A plain (non-Compose) container that the project's containers list names is the
// project's: its death is alerted. A container of no project that dies beside it is
// counted (project "") and opens nothing; a one-off `compose run` container of the
// project (oneoff=True) is not a service container and opens nothing either.
func TestWatchListedPlainContainerDiesStrayAndOneoffDoNot(t *testing.T) {
	plain := dockertest.UniqueName(t, "plain")
	f := newWatchFixture(t, func(c *WatcherConfig) {
		p := c.Projects.(projectList)[0]
		c.Projects = projectList{&projects.Project{Name: p.Name, ComposeProject: p.ComposeProject,
			Containers: []string{"job", plain}, HealthTimeout: p.HealthTimeout}}
	})
	f.start(t)
	job := []string{"EXIT_CODE=3", "RUN_FOR=300ms"}
	listed := dockertest.RunContainer(t, f.cli, dockertest.ContainerSpec{Name: plain, Image: f.image, Env: job, Healthcheck: noHealthcheck})
	stray := dockertest.RunContainer(t, f.cli, dockertest.ContainerSpec{Name: dockertest.UniqueName(t, "stray"), Image: f.image, Env: job, Healthcheck: noHealthcheck})
	oneoffLabels := dockertest.ComposeLabels(f.project, "job", 1, "")
	oneoffLabels[dockertest.LabelOneoff] = "True"
	oneoff := f.run(t, "job", dockertest.ContainerSpec{Name: f.project + "-job-run-0a1b2c", Labels: oneoffLabels, Env: job})
	for _, id := range []string{listed, stray, oneoff} {
		dockertest.WaitExited(t, f.cli, id, 20*time.Second)
	}
	in := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	if in.Kind != store.KindDied || in.ContainerID != listed || in.Container != plain || in.Service != "" {
		t.Errorf("incident = %+v, want the listed plain container's died incident", in)
	}
	// The stray's and the one-off's die events were handled (the cursor is past them).
	for _, id := range []string{stray, oneoff} {
		res, err := f.cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		finished, err := time.Parse(time.RFC3339Nano, res.Container.State.FinishedAt)
		if err != nil {
			t.Fatal(err)
		}
		f.waitHandled(t, WatchEvent{At: finished})
	}
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want only the listed container's: %+v", len(got), got)
	}
	if n := metricValue(f.cfg.Metrics.ContainerEvents.WithLabelValues("", "die")); n < 1 {
		t.Errorf("scar_container_events_total{project=\"\",event=die} = %v, want the stray's die counted", n)
	}
	if n := len(f.rec.matching(func(ev WatchEvent) bool { return ev.ContainerID == stray || ev.ContainerID == oneoff })); n != 0 {
		t.Errorf("%d events of the stray and the one-off published, want none", n)
	}
}

// An unhealthy container that is then removed ends its incident, saying so.
func TestWatchUnhealthyThenRemoved(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	id := f.run(t, "web", dockertest.ContainerSpec{
		Env: []string{"UNHEALTHY_FILE=/flag/unhealthy"}, Binds: []string{dir + ":/flag:ro"},
		Healthcheck: &container.HealthConfig{Test: []string{"CMD", "/app", "-healthcheck"}, Interval: 500 * time.Millisecond, Retries: 1},
	})
	in := f.waitIncidents(t, 30*time.Second, 1, nil)[0]
	if in.Kind != store.KindUnhealthy {
		t.Fatalf("incident = %+v, want unhealthy", in)
	}
	if _, err := f.cli.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	got := f.waitIncidents(t, 20*time.Second, 1, func(in store.Incident) bool { return !in.Open() })[0]
	if got.ID != in.ID || !strings.Contains(got.Detail, "container removed") {
		t.Errorf("incident = %+v, want incident %d ended as removed", got, in.ID)
	}
	if n := len(f.incidents(t)); n != 1 {
		t.Errorf("%d incidents, want 1 (the kill and die of the removal alert nothing)", n)
	}
}

// A container with restart: always whose process exits with code 0 at once loops
// as surely as one that exits with 3: it is one crash loop incident. A job that
// exits with 0 and that someone starts again and again (docker start, compose up)
// is not a loop: it opens nothing.
func TestWatchCrashLoopWithExitCodeZero(t *testing.T) {
	f := newWatchFixture(t, func(c *WatcherConfig) { c.StablePeriod = time.Minute })
	f.start(t)
	job := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=0"}})
	for range 4 {
		dockertest.WaitExited(t, f.cli, job, 20*time.Second)
		if _, err := f.cli.ContainerStart(context.Background(), job, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return len(f.rec.matching(containerEvent(job, "start"))) >= 5 })
	dockertest.WaitExited(t, f.cli, job, 20*time.Second)

	id := f.run(t, "loop", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=0"}, RestartPolicy: "always"})
	dockertest.WaitFor(t, 60*time.Second, func() bool { return dockertest.Inspect(t, f.cli, id).RestartCount >= 5 })
	dockertest.WaitFor(t, 10*time.Second, func() bool { return len(f.rec.matching(containerEvent(id, "start"))) >= 5 })
	got := f.waitIncidents(t, 20*time.Second, 1, nil)
	if len(got) != 1 || got[0].Kind != store.KindCrashLoop || got[0].ContainerID != id || !got[0].Open() ||
		got[0].Count < 3 || !strings.HasSuffix(got[0].Summary, "last exit code 0") {
		t.Errorf("incidents = %+v, want one open crash loop of %s (and none of the job started by hand)", got, id)
	}
	for _, ev := range f.rec.matching(incidentEvent(id)) {
		if ev.Incident.ID != got[0].ID {
			t.Errorf("published incident %d, want only %d", ev.Incident.ID, got[0].ID)
		}
	}
}

// A signal the process is meant to handle (docker kill -s HUP to reload nginx, here
// WINCH, which the test app survives) is not a stop: the crash of its own that
// comes later is alerted. A process that does not survive the signal it was sent
// (the app exits at once on HUP) was stopped deliberately: nothing is alerted.
func TestWatchSignalThatIsNotAStop(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	ctx := context.Background()
	id := f.run(t, "web", dockertest.ContainerSpec{Env: []string{"CRASH_AFTER=" + (signalGrace + 3*time.Second).String()}})
	hup := f.run(t, "worker", dockertest.ContainerSpec{})
	for _, c := range []struct{ id, signal string }{{id, "WINCH"}, {hup, "HUP"}} {
		if _, err := f.cli.ContainerKill(ctx, c.id, client.ContainerKillOptions{Signal: c.signal}); err != nil {
			t.Fatal(err)
		}
	}
	f.rec.waitEvent(t, 10*time.Second, containerEvent(hup, "die"))
	if !dockertest.Inspect(t, f.cli, id).State.Running {
		t.Fatal("the app did not survive SIGWINCH; the test needs a signal it survives")
	}
	in := f.waitIncidents(t, 30*time.Second, 1, nil)[0]
	if in.Kind != store.KindDied || in.ContainerID != id || in.Summary != "exited with code 1" {
		t.Errorf("incident = %+v, want the died incident of the app that crashed after a SIGWINCH", in)
	}
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want 1 (none for the app that the HUP stopped): %+v", len(got), got)
	}
}
