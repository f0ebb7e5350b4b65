package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// scar serve runs the event watcher: a container of a project that exits on its own
// is counted, is an incident in the state store, and the stream is reported up;
// shutting down stops the watcher (startServe's cleanup checks that run returns).
func TestServeWatchesContainerEvents(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	name := dockertest.UniqueName(t, "serwatch")
	dir := t.TempDir()
	ws, prod, state := filepath.Join(dir, "ws"), filepath.Join(dir, "prod"), filepath.Join(dir, "state")
	os.Mkdir(ws, 0o755)
	os.Mkdir(prod, 0o755)
	pf := projectsFile(t, fmt.Sprintf(`{"shop": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true}}`, ws, prod, name))
	s := startServe(t, "SCAR_PROJECTS_FILE="+pf, "SCAR_STATE_DIR="+state, "SCAR_API_TOKENS=test-token-0123456789")

	const up = `scar_event_stream_up{host=""} 1`
	dockertest.WaitFor(t, 15*time.Second, func() bool {
		_, body := s.get(t, "/metrics", "")
		return strings.Contains(body, up)
	})
	id := dockertest.RunContainer(t, cli, dockertest.ContainerSpec{
		Name: dockertest.V2Name(name, "job", 1), Image: image, Labels: dockertest.ComposeLabels(name, "job", 1, ""),
		Env: []string{"EXIT_CODE=3"}, Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
	})
	dockertest.WaitFor(t, 20*time.Second, func() bool {
		_, body := s.get(t, "/metrics", "")
		return strings.Contains(body, `scar_container_events_total{event="die",project="shop"} 1`)
	})

	db, err := store.Open(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ins []store.Incident
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		ins, err = db.Incidents(context.Background(), store.IncidentQuery{Project: "shop"})
		return err == nil && len(ins) == 1
	})
	if ins[0].ContainerID != id || ins[0].Kind != store.KindDied || ins[0].Summary != "exited with code 3" {
		t.Errorf("incident = %+v, want died with code 3 of %s", ins[0], id)
	}
}
