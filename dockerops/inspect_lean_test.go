package dockerops

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestLeanInspectReadsWhatTheClientReads inspects containers in each state status
// tells apart, both ways, and wants the lean inspect to carry exactly the fields
// status and stats read as the client library decoded them.
func TestLeanInspectReadsWhatTheClientReads(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "lean")
	f := newFixture(t, projectMap{})
	if f.svc.lean == nil {
		t.Fatal("no lean inspector for NewClient's client")
	}
	ids := map[string]string{
		"healthy":   f.run(t, cp, "healthy", dockertest.ContainerSpec{}),
		"unhealthy": f.run(t, cp, "unhealthy", dockertest.ContainerSpec{Env: []string{"UNHEALTHY=1"}}),
		"exited":    f.run(t, cp, "exited", dockertest.ContainerSpec{Env: []string{"EXIT_AT_START=1"}}),
		"limited":   f.run(t, cp, "limited", dockertest.ContainerSpec{RestartPolicy: "on-failure:2", MemoryMiB: 64, Healthcheck: noHealthcheck}),
		"created":   f.run(t, cp, "created", dockertest.ContainerSpec{NoStart: true}),
	}
	f.waitHealthy(t, ids["healthy"])
	dockertest.WaitHealth(t, f.cli, ids["unhealthy"], HealthUnhealthy, 30*time.Second)
	dockertest.WaitExited(t, f.cli, ids["exited"], 30*time.Second)
	// The client's own decode of the engine's answer, cut to what status reads.
	read := func(id string) *container.InspectResponse {
		res, err := f.engine.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := res.Container
		out := &container.InspectResponse{ID: c.ID, Image: c.Image, RestartCount: c.RestartCount, State: c.State}
		if c.HostConfig != nil {
			out.HostConfig = &container.HostConfig{RestartPolicy: c.HostConfig.RestartPolicy}
			out.HostConfig.Memory = c.HostConfig.Memory
		}
		return out
	}
	// Negotiate the API version, as the list call before the inspects of a status does.
	if _, err := f.svc.list(t.Context(), composeMembers(cp)); err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			// A health check may run between two reads: compare a lean read with the
			// client's reads before and after it once these agree.
			dockertest.WaitFor(t, 30*time.Second, func() bool {
				before := read(id)
				lean, ok := f.svc.lean.inspect(t.Context(), id)
				if !ok {
					t.Fatal("lean inspect of an existing container fell back")
				}
				after := read(id)
				if !reflect.DeepEqual(before, after) {
					return false
				}
				if !reflect.DeepEqual(lean, before) {
					t.Fatalf("lean inspect\n%+v\n%+v\nclient's\n%+v\n%+v", lean, lean.State, before, before.State)
				}
				return true
			})
		})
	}
	if got := ids["limited"]; read(got).HostConfig.Memory != 64<<20 || read(got).HostConfig.RestartPolicy.MaximumRetryCount != 2 {
		t.Errorf("limited container: %+v, want the memory limit and policy compared above", read(got).HostConfig)
	}
}

// TestLeanInspectLeavesErrorsToTheClient: a container removed since the list, and an
// engine that does not answer, come out of inspectAll as they did through the client
// alone: not found (nil, no error), and ErrDockerUnavailable.
func TestLeanInspectLeavesErrorsToTheClient(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "leanerr")
	f := newFixture(t, projectMap{})
	id := f.run(t, cp, "gone", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	items, err := f.svc.list(t.Context(), composeMembers(cp))
	if err != nil || len(items) != 1 {
		t.Fatalf("list: %v %v", items, err)
	}
	m := newMember(&items[0])
	if _, err := f.cli.ContainerRemove(t.Context(), id, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.svc.lean.inspect(t.Context(), id); ok {
		t.Error("lean inspect of a removed container answered")
	}
	infos, err := f.svc.inspectAll(t.Context(), []*member{m})
	if err != nil || len(infos) != 1 || infos[0] != nil {
		t.Errorf("inspectAll of a removed container = %v, %v; want nil (not found), no error", infos, err)
	}

	dead, err := NewClient("unix:///nonexistent/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	svc := New(dead, projectMap{}, nil, nil)
	if svc.lean == nil {
		t.Fatal("no lean inspector for NewClient's client")
	}
	if _, err := svc.inspectAll(t.Context(), []*member{m}); !errors.Is(err, ErrDockerUnavailable) {
		t.Errorf("inspectAll on an engine that does not answer: %v, want ErrDockerUnavailable", err)
	}
}
