package dockerops

import (
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestRestartLearnsHealthFromEvents (issue 18): a restart waits for its container's
// health check; with a poll interval far longer than its health timeout, only the
// engine's health_status event can tell the wait that the container is healthy, so
// the restart succeeds only if that event is heard.
func TestRestartLearnsHealthFromEvents(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "healthev")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps, WithPollInterval(time.Hour))
	api := f.run(t, cp, "api", dockertest.ContainerSpec{})
	f.waitHealthy(t, api)

	res, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Containers) != 1 || res.Containers[0].Health != HealthHealthy {
		t.Fatalf("restart result %+v: want api back and healthy", res)
	}
}
