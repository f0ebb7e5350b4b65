package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// TestRESTStopThenStartEndToEnd: through a real `scar serve` with its event watcher,
// a REST stop of a Compose project stops both containers and a REST start brings them
// back healthy; both are audited and timed; and neither is alerted, while the same
// containers exiting by themselves afterwards are (which also shows that the watcher
// had handled the stop's events by then).
func TestRESTStopThenStartEndToEnd(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	name := dockertest.UniqueName(t, "e2estop")
	flags := t.TempDir()
	ws, prod := deployedComposeProject(t, compose, name, map[string]string{"docker-compose.yml": fmt.Sprintf(composeOwnOps, image, flags)})
	pf := projectsFile(t, fmt.Sprintf(`{"own": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`, ws, prod, name))
	api := telegramfake.New(t)
	s := startAlertServe(t, api, pf, "SCAR_COMPOSE_COMMAND="+strings.Join(compose, " "))
	webID, web := serviceContainer(t, cli, name, "web")
	workerID, worker := serviceContainer(t, cli, name, "worker")
	for _, id := range []string{webID, workerID} {
		dockertest.WaitHealth(t, cli, id, "healthy", 30*time.Second)
	}

	resp, v := s.call(t, "POST", "/api/v1/projects/own/stop", "")
	if resp.StatusCode != 200 || v["ok"] != true || v["project"] != "own" || len(v["containers"].([]any)) != 2 {
		t.Fatalf("stop: %d %v", resp.StatusCode, v)
	}
	for _, id := range []string{webID, workerID} {
		if st := dockertest.Inspect(t, cli, id).State; st.Running || st.Status != "exited" {
			t.Errorf("after the stop %s is %s", id, st.Status)
		}
	}
	code, body := s.get(t, "/api/v1/projects/own/status", e2eToken)
	if code != 200 || strings.Count(body, `"state": "exited"`) != 2 {
		t.Errorf("status after the stop: %d %s, want both exited", code, body)
	}

	resp, v = s.call(t, "POST", "/api/v1/projects/own/start", `{"containers": ["web", "worker"]}`)
	if resp.StatusCode != 200 || v["ok"] != true {
		t.Fatalf("start: %d %v", resp.StatusCode, v)
	}
	for _, c := range v["containers"].([]any) {
		if c := c.(map[string]any); c["state"] != "running" || c["health"] != "healthy" {
			t.Errorf("start result %v, want running and healthy", c)
		}
	}

	audited := map[string]string{}
	for _, e := range s.auditOf(t) {
		if e.Action == "stop" || e.Action == "start" {
			audited[e.Action] = e.Outcome + " " + e.Detail
		}
	}
	if audited["stop"] != "ok " || audited["start"] != "ok web,worker" {
		t.Errorf("audited %v, want stop ok and start ok naming web,worker", audited)
	}
	for _, op := range []string{"stop", "start"} {
		sample := `scar_operation_duration_seconds_count{operation="` + op + `",outcome="success",project="own"}`
		if n := metricValue(t, s, sample); n != 1 {
			t.Errorf("%s = %v, want 1", sample, n)
		}
	}

	if err := os.WriteFile(filepath.Join(flags, "exit"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eachNamedOnce(t, api, 30*time.Second, []string{web, worker})
	ls := containerAlertLines(api)
	if len(ls) != 2 || !strings.Contains(strings.Join(ls, "\n"), web+" — died: exited with code 3") ||
		!strings.Contains(strings.Join(ls, "\n"), worker+" — died: exited with code 3") {
		t.Errorf("want exactly the two deaths of their own alerted, not the stop:\n%s", describeAlerts(alertMessages(api)))
	}
}
