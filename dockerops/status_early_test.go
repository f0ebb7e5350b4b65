package dockerops

import (
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestStatusAfterTheContainersChanged: the inspects a status starts early, for the
// containers its last status found, are used only for the same containers. A
// container made again under its name, one stopped and one removed between two
// statuses are each shown as they are at the second.
func TestStatusAfterTheContainersChanged(t *testing.T) {
	t.Parallel()
	a, b := dockertest.UniqueName(t, "earlya"), dockertest.UniqueName(t, "earlyb")
	ps := projectMap{"app": {Name: "app", Containers: []string{a, b}}}
	f := newFixture(t, ps)
	run := func(name string) string {
		return dockertest.RunContainer(t, f.cli, dockertest.ContainerSpec{Name: name, Image: f.image})
	}
	idA, idB := run(a), run(b)
	f.waitHealthy(t, idA, idB)
	status := func() map[string]ContainerStatus {
		t.Helper()
		st, err := f.svc.Status(t.Context(), "app")
		if err != nil {
			t.Fatal(err)
		}
		return byName(t, st)
	}
	if got := status(); got[a].ID != shortID(idA) || got[b].ID != shortID(idB) {
		t.Fatalf("first status: %+v", got)
	}
	if ids := f.svc.statusIDs.get("app"); len(ids) != 2 {
		t.Fatalf("the status remembered %v, want both ids", ids)
	}

	if _, err := f.cli.ContainerRemove(t.Context(), idB, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	newB := run(b)
	if _, err := f.cli.ContainerStop(t.Context(), idA, client.ContainerStopOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitExited(t, f.cli, idA, 30*time.Second)
	got := status()
	if got[b].ID != shortID(newB) || got[b].State != "running" {
		t.Errorf("%s made again: status shows %s %s, want the new container %s running", b, got[b].ID, got[b].State, shortID(newB))
	}
	if got[a].State != "exited" {
		t.Errorf("%s stopped: status shows it %s", a, got[a].State)
	}

	if _, err := f.cli.ContainerRemove(t.Context(), idA, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := status(); got[a].State != StateNotFound {
		t.Errorf("%s removed: status shows it %s", a, got[a].State)
	}
}
