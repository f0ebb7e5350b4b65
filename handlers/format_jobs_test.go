package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/scar-dev/scar/dockerops"
)

// TestStatusShowsJobsAndTheTrueCause: a completed job is fine, a failed one says its
// exit code, a stopped container has no health line, an unhealthy one its last check
// (issue 12 defects 2 and 5).
func TestStatusShowsJobsAndTheTrueCause(t *testing.T) {
	h := newHarness(t)
	h.ops.StatusFn = func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		st := seedStatus(project)
		st.Containers[0].Health = dockerops.HealthUnhealthy
		st.Containers[0].Condition = "running, unhealthy; last check: app: health: 500 <Internal>"
		st.Containers[1] = dockerops.ContainerStatus{Name: "po-migrate-1", State: "exited", Job: true, Health: dockerops.HealthNone, Condition: "completed (exit 0)"}
		st.Containers[2] = dockerops.ContainerStatus{Name: "po-seed-1", State: "exited", Job: true, ExitCode: 137, OOMKilled: true, Health: dockerops.HealthNone, Condition: "failed (exit 137, OOM killed)"}
		st.Containers = append(st.Containers,
			dockerops.ContainerStatus{Name: "po-web-1", State: "exited", ExitCode: 3, Health: dockerops.HealthNone, Condition: "exited (code 3)"},
			dockerops.ContainerStatus{Name: "po-worker-1", State: "exited", ExitCode: 137, Health: dockerops.HealthNone, Condition: "exited (code 137, killed: likely out of memory)"})
		return st, nil
	}
	h.send(admin.ID, admin, "/docker_status")
	got := rendered(t, h.waitSent(admin.ID, "Production Status"))
	for _, want := range []string{
		"💔 Health: Unhealthy\n🩺 Last check: app: health: 500 <Internal>",
		"po-migrate-1\n✅ Job: Completed (exit 0)\n\n",
		"po-seed-1\n❌ Job: Failed (exit 137, OOM killed)\n",
		"po-web-1\n❌ Status: Exited (exit code 3)\n",
		"po-worker-1\n❌ Status: Exited (exit code 137, killed: likely out of memory)\n",
		"⚠️ 4 of 5 containers need attention: backend, po-seed-1, po-web-1, po-worker-1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q\n--- got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "po-migrate-1\n✅ Job: Completed (exit 0)\n⚪ Health") || strings.Count(got, "Health:") != 1 {
		t.Errorf("a container that does not run has a health line:\n%s", got)
	}
}
