package dockerops

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// 20 containers exiting on their own at once are 20 incidents, one each, and all
// are published.
func TestWatchTwentyContainersExitAtOnce(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		svc := fmt.Sprintf("job%02d", i)
		ids[i] = f.run(t, svc, dockertest.ContainerSpec{Env: []string{"EXIT_CODE=2", "RUN_FOR=1s"}, NoStart: true})
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := f.cli.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
				t.Errorf("start %s: %v", id, err)
			}
		})
	}
	wg.Wait()

	got := f.waitIncidents(t, 30*time.Second, n, nil)
	seen := map[string]bool{}
	for _, in := range got {
		if in.Kind != store.KindDied || in.Summary != "exited with code 2" {
			t.Errorf("incident %+v, want died with code 2", in)
		}
		if seen[in.ContainerID] {
			t.Errorf("two incidents of container %s", in.Container)
		}
		seen[in.ContainerID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("no incident of container %s", id)
		}
		if pubs := f.rec.matching(incidentEvent(id)); len(pubs) != 1 {
			t.Errorf("container %s: %d incident publications, want 1", id, len(pubs))
		}
	}
	if len(got) != n {
		t.Errorf("%d incidents, want %d", len(got), n)
	}
}

// During scar's own operation on a project (Quiet) a container that exits is
// published but opens no incident; once the operation ended, the same exit does.
func TestWatchQuietWindow(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	id := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=5", "RUN_FOR=200ms"}, NoStart: true})

	end := f.w.Quiet(f.project)
	startContainer(t, f.cli, id)
	first := f.rec.waitEvent(t, 20*time.Second, containerEvent(id, "die"))
	f.waitHandled(t, first)
	end()
	if got := f.incidents(t); len(got) != 0 {
		t.Fatalf("incidents during the quiet window: %+v", got)
	}

	startContainer(t, f.cli, id)
	in := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	if in.Kind != store.KindDied || !in.EventAt.After(first.At) {
		t.Errorf("incident = %+v, want the died incident of the exit after the window", in)
	}
}

// scar's own restart of a project is quiet: a container that dies on its own while
// the restart waits for it opens no incident. (Without the Service's Quiet it
// would: the die follows no kill.)
func TestWatchServiceRestartIsQuiet(t *testing.T) {
	f := newWatchFixture(t, nil)
	p := &projects.Project{Name: f.project, ComposeProject: f.project, AutoDetect: true, HealthTimeout: 15 * time.Second}
	svc := New(f.cfg.Engine.(*client.Client), projectMap{f.project: p}, f.cfg.Metrics, nil,
		WithPollInterval(100*time.Millisecond), WithWatcher(f.w))
	f.start(t)
	// A job with the image's health check: the restart waits for it to be healthy,
	// which it never is; it exits with code 3 meanwhile.
	id := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3", "RUN_FOR=1s"}, NoStart: true, Healthcheck: slowHealthcheck})
	res, err := svc.Restart(context.Background(), f.project, RestartRequest{}, Actor{Name: "test"}, nil)
	if err == nil && res.OK {
		t.Fatalf("restart of a job that exits reported success: %+v", res)
	}
	f.waitHandled(t, f.rec.waitEvent(t, 20*time.Second, containerEvent(id, "die")))
	if got := f.incidents(t); len(got) != 0 {
		t.Fatalf("incidents from scar's own restart: %+v", got)
	}

	// The same container exiting after the restart is an incident.
	startContainer(t, f.cli, id)
	f.waitIncidents(t, 20*time.Second, 1, nil)
}

// docker stop and docker kill are deliberate: their die opens no incident. The same
// container exiting on its own afterwards does.
func TestWatchDeliberateStopAndKill(t *testing.T) {
	f := newWatchFixture(t, nil)
	f.start(t)
	// A job (it has no SIGTERM handler: stop makes it exit 143, kill 137).
	id := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=6", "RUN_FOR=4s"}})
	ctx := context.Background()

	stopped := stopAndWait(t, f, id, "stop", func() error {
		_, err := f.cli.ContainerStop(ctx, id, client.ContainerStopOptions{})
		return err
	})
	startContainer(t, f.cli, id)
	killed := stopAndWait(t, f, id, "kill", func() error {
		_, err := f.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"})
		return err
	})
	if *stopped.ExitCode == 0 || *killed.ExitCode == 0 {
		t.Fatalf("exit codes %d and %d: the test needs non-zero ones", *stopped.ExitCode, *killed.ExitCode)
	}
	if got := f.incidents(t); len(got) != 0 {
		t.Fatalf("incidents from docker stop and docker kill: %+v", got)
	}

	startContainer(t, f.cli, id)
	in := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	if in.Kind != store.KindDied || in.Summary != "exited with code 6" {
		t.Errorf("incident = %+v, want died with code 6", in)
	}
}

// stopAndWait waits until the job runs, stops it with stop, and returns the die
// event that followed.
func stopAndWait(t *testing.T, f *watchFixture, id, how string, stop func() error) WatchEvent {
	t.Helper()
	dockertest.WaitFor(t, 10*time.Second, func() bool { return dockertest.Inspect(t, f.cli, id).State.Running })
	before := len(f.rec.matching(containerEvent(id, "die")))
	if err := stop(); err != nil {
		t.Fatalf("%s: %v", how, err)
	}
	var dies []WatchEvent
	dockertest.WaitFor(t, 20*time.Second, func() bool {
		dies = f.rec.matching(containerEvent(id, "die"))
		return len(dies) > before
	})
	f.waitHandled(t, dies[before])
	return dies[before]
}

func startContainer(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	if _, err := cli.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
}

// A deploy whose new version exits at once (with no kill: a crash) fails its gate
// and is rolled back; being scar's own operation, none of it is an incident. (Without
// the Quiet of deploys the crash would be a died incident.)
func TestWatchFailedDeployIsQuiet(t *testing.T) {
	e := newDeployEnv(t, nil)
	var logs logBuffer
	m := e.svc.metrics
	w := NewWatcher(WatcherConfig{
		Engine: e.svc.docker.(WatchEngine), Projects: projectList{e.p}, Incidents: e.db, Metrics: m, Logger: logs.logger(),
	})
	e.svc.watcher = w
	rec := record(t, w)
	t.Cleanup(runWatcher(t, w))
	dockertest.WaitFor(t, 15*time.Second, func() bool { return metricValue(m.EventStreamUp.WithLabelValues("")) == 1 })

	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: v1", "VERSION: v2\n      EXIT_AT_START: \"1\"")
	d := e.deploy()
	if d.Status != DeployFailedRolledBack {
		t.Fatalf("deploy %s (%s), want failed_rolled_back", d.Status, d.Error)
	}
	// The watcher saw the new version's crash: a die with code 3 and no kill before it.
	crash := rec.waitEvent(t, 20*time.Second, func(ev WatchEvent) bool {
		return ev.Action == "die" && ev.ExitCode != nil && *ev.ExitCode == 3
	})
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		at, _, err := e.db.WatchCursor(context.Background(), "")
		return err == nil && !at.Before(crash.At)
	})
	ins, err := e.db.Incidents(context.Background(), store.IncidentQuery{Project: e.p.Name})
	if err != nil {
		t.Fatal(err)
	}
	// The deploy's own one-shot notice (deploy_failed, see deploy_notice.go) is what
	// the alert chats are meant to get; no container incident is.
	ins = slices.DeleteFunc(ins, func(in store.Incident) bool { return in.Kind == store.KindDeployFailed })
	if len(ins) != 0 {
		t.Errorf("incidents from scar's own deploy: %+v", ins)
	}
}
