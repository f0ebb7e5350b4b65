package api

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
)

// post sends a POST with body and token and returns the status and the answer.
func (s *engineServer) post(t *testing.T, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// stopStartAnswer is the answer of stop and start: restart's, with the error object
// when a container failed.
type stopStartAnswer struct {
	dockerops.RestartResult
	Error errorDetail `json:"error"`
}

// TestRESTStopAndStart: stop and start over REST on the real engine — refused to a
// read-only token, to a bad body and to an unknown container with nothing stopped;
// a stop of one named container stops only it; a start waits for health; a container
// that fails its health check on start answers 500 start_failed; each call audited.
func TestRESTStopAndStart(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "apistop")
	s := newEngineServer(t, cp, nil)
	dir := t.TempDir()
	web := dockertest.RunContainer(t, s.cli, dockertest.ContainerSpec{
		Name: dockertest.V2Name(cp, "web", 1), Image: s.image, Labels: dockertest.ComposeLabels(cp, "web", 1, ""),
		Env: []string{"UNHEALTHY_FILE=/flag/unhealthy"}, Binds: []string{dir + ":/flag:ro"},
	})
	cache := s.run(t, cp, "cache")
	for _, id := range []string{web, cache} {
		dockertest.WaitHealth(t, s.cli, id, "healthy", time.Minute)
	}
	running := func(id string) bool { return dockertest.Inspect(t, s.cli, id).State.Running }
	decode := func(b []byte) stopStartAnswer {
		t.Helper()
		var a stopStartAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
		return a
	}

	refusals := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"read-only token", "/api/v1/projects/app/stop", readToken, "", 403, "forbidden"},
		{"unknown field", "/api/v1/projects/app/stop", fullToken, `{"container": ["web"]}`, 400, "bad_input"},
		{"unknown container", "/api/v1/projects/app/stop", fullToken, `{"containers": ["web", "nosuch"]}`, 404, "not_found"},
		{"unknown project", "/api/v1/projects/nosuch/start", fullToken, "", 404, "unknown_project"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.post(t, tc.path, tc.token, tc.body)
			if a := decode(body); status != tc.status || a.Error.Code != tc.code {
				t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
			}
			if !running(web) || !running(cache) {
				t.Fatalf("a refused call stopped a container")
			}
		})
	}

	status, body := s.post(t, "/api/v1/projects/app/stop", fullToken, `{"containers": ["web"]}`)
	a := decode(body)
	if status != 200 || !a.OK || a.Project != "app" || len(a.Containers) != 1 || a.Containers[0].State != "exited" {
		t.Fatalf("stop of web: %d %s", status, body)
	}
	if running(web) || !running(cache) {
		t.Errorf("after the stop of web: web running %v, cache running %v", running(web), running(cache))
	}
	if e := s.audited(t, "stop"); e.Outcome != "ok" || e.Detail != "web" || e.Project != "app" {
		t.Errorf("stop audited %+v, want ok naming web", e)
	}

	status, body = s.post(t, "/api/v1/projects/app/start", fullToken, "")
	a = decode(body)
	if status != 200 || !a.OK || len(a.Containers) != 2 {
		t.Fatalf("start: %d %s", status, body)
	}
	if st := dockertest.Inspect(t, s.cli, web).State; !st.Running || st.Health.Status != "healthy" {
		t.Errorf("web after the start: %s, %s; want running and healthy", st.Status, st.Health.Status)
	}
	if e := s.audited(t, "start"); e.Outcome != "ok" {
		t.Errorf("start audited %+v, want ok", e)
	}

	if status, body := s.post(t, "/api/v1/projects/app/stop", fullToken, `{"containers": ["web"]}`); status != 200 {
		t.Fatalf("second stop of web: %d %s", status, body)
	}
	if err := os.WriteFile(filepath.Join(dir, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	status, body = s.post(t, "/api/v1/projects/app/start", fullToken, `{"containers": ["web"]}`)
	a = decode(body)
	if status != 500 || a.OK || a.Error.Code != "start_failed" || len(a.Containers) != 1 ||
		!strings.Contains(a.Error.Message, "start of app: 1 of 1 containers did not come up: "+cp+"-web-1: ") {
		t.Fatalf("start of a container that fails its health check: %d %s, want 500 start_failed", status, body)
	}
	dockertest.WaitFor(t, time.Minute, func() bool {
		for _, e := range auditEntries(t, s.deps) {
			if e.Action == "start" && e.Outcome == "start_failed" && strings.Contains(e.Detail, "web-1") {
				return true
			}
		}
		return false
	})
}

// A server whose operations cannot stop and start answers so, and changes nothing.
func TestRESTStopWithoutStopStarter(t *testing.T) {
	d := testDeps(t, nil)
	d.Ops = refusingOps{t: t}
	h := NewServer(d)
	for _, op := range []string{"stop", "start"} {
		rec := do(t, h, "POST", "/api/v1/projects/project-orchestrator/"+op, fullToken, "")
		if rec.Code != 500 || !strings.Contains(rec.Body.String(), "cannot stop or start") {
			t.Errorf("%s: %d %s", op, rec.Code, rec.Body)
		}
	}
}
