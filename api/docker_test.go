package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// engineServer is the REST API over a real dockerops Service on the real engine, for
// project "app" whose containers are those of Compose project cp.
type engineServer struct {
	url   string
	deps  Deps
	cli   *client.Client
	image string
	logs  *syncBuffer
}

func newEngineServer(t *testing.T, cp string, tune func(*Deps)) *engineServer {
	t.Helper()
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	dir := t.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "projects.json")
	body := `{"app": {"workspace": "` + dir + `/ws", "production": "` + dir + `/prod", "compose_project": "` + cp + `", "auto_detect": true, "health_timeout": "5s"}}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := projects.NewStore(file, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	d := testDeps(t, nil)
	logs := &syncBuffer{}
	d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	d.Projects = ps
	d.Ops = dockerops.New(engine, ps, d.Metrics, nil, dockerops.WithPollInterval(100*time.Millisecond))
	if tune != nil {
		tune(&d)
	}
	srv := httptest.NewServer(NewServer(d))
	t.Cleanup(srv.Close)
	return &engineServer{url: srv.URL, deps: d, cli: cli, image: image, logs: logs}
}

func (s *engineServer) run(t *testing.T, cp, service string, env ...string) string {
	t.Helper()
	return dockertest.RunContainer(t, s.cli, dockertest.ContainerSpec{
		Name: dockertest.V2Name(cp, service, 1), Image: s.image,
		Labels: dockertest.ComposeLabels(cp, service, 1, ""), Env: env,
	})
}

func (s *engineServer) call(t *testing.T, ctx context.Context, method, path, accept string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+fullToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// audited waits for the audit entry of action and returns it.
func (s *engineServer) audited(t *testing.T, action string) store.AuditEntry {
	t.Helper()
	var found store.AuditEntry
	dockertest.WaitFor(t, time.Minute, func() bool {
		for _, e := range auditEntries(t, s.deps) {
			if e.Action == action {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRESTRestartFailedContainerAnswers500: a restart in which a container does not
// come back answers 500 restart_failed with the per-container result, and is audited
// as restart_failed.
func TestRESTRestartFailedContainerAnswers500(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "apifail")
	s := newEngineServer(t, cp, nil)
	s.run(t, cp, "crash", "EXIT_AT_START=1")
	ok := s.run(t, cp, "ok")
	dockertest.WaitHealth(t, s.cli, ok, "healthy", time.Minute)

	resp, body, err := s.call(t, t.Context(), "POST", "/api/v1/projects/app/restart", "")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		dockerops.RestartResult
		Error errorDetail `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if resp.StatusCode != 500 || got.OK || got.Error.Code != "restart_failed" || len(got.Containers) != 2 ||
		!strings.Contains(got.Error.Message, "1 of 2 containers did not come back: "+cp+"-crash-1: exited with code 3") {
		t.Fatalf("restart with a crashing container: %d %s, want 500 restart_failed with both containers", resp.StatusCode, body)
	}
	if e := s.audited(t, "restart"); e.Outcome != "restart_failed" || !strings.Contains(e.Detail, "crash-1") {
		t.Errorf("audited %+v, want outcome restart_failed naming the container", e)
	}
	if !strings.Contains(s.logs.String(), `"error":"restart of app: 1 of 2 containers did not come back`) {
		t.Errorf("the 500's log line does not carry its error:\n%s", s.logs)
	}
}

// TestRESTRestartRunsToEndWhenClientGoes: a client that hangs up during a restart
// does not stop it half-way: the restart waits for health to its end, is audited ok,
// and the request log says the client went away.
func TestRESTRestartRunsToEndWhenClientGoes(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "apigone")
	s := newEngineServer(t, cp, nil)
	id := s.run(t, cp, "web")
	dockertest.WaitHealth(t, s.cli, id, "healthy", time.Minute)
	before := dockertest.Inspect(t, s.cli, id).State.StartedAt

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, _, err := s.call(t, ctx, "POST", "/api/v1/projects/app/restart", ""); err == nil {
		t.Fatal("the restart answered within 300ms; the test needs it to wait for health")
	}
	e := s.audited(t, "restart")
	if e.Outcome != "ok" {
		t.Errorf("restart whose client went away audited %+v, want ok", e)
	}
	st := dockertest.Inspect(t, s.cli, id).State
	if st.StartedAt == before || st.Health == nil || st.Health.Status != "healthy" {
		t.Errorf("container after the restart: started %s (before %s), health %+v; want restarted and healthy", st.StartedAt, before, st.Health)
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(s.logs.String(), `"client_gone":true`)
	})
}

// TestRESTLogsCapped: a logs answer holds at most MaxLogBytes of log text, the newest,
// and says it left older lines out, in JSON and in text.
func TestRESTLogsCapped(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "apilogs")
	const capBytes = 4096
	s := newEngineServer(t, cp, func(d *Deps) { d.MaxLogBytes = capBytes })
	id := s.run(t, cp, "web", "LOG_LINES=2000")
	dockertest.WaitHealth(t, s.cli, id, "healthy", time.Minute)

	resp, body, err := s.call(t, t.Context(), "GET", "/api/v1/projects/app/logs?lines=5000", "")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		dockerops.LogsResult
		Truncated *bool `json:"truncated"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %.200s: %v", body, err)
	}
	text := 0
	for _, l := range got.Lines {
		text += len(l.Text)
	}
	if resp.StatusCode != 200 || got.Truncated == nil || !*got.Truncated || text > capBytes || len(got.Lines) < 100 {
		t.Fatalf("logs of 4000 lines capped at %d bytes: %d, %d lines of %d bytes, truncated %v", capBytes, resp.StatusCode, len(got.Lines), text, got.Truncated)
	}
	// The engine interleaves the two streams as its copiers deliver them; the last
	// line it logged is one of the two last ones written.
	var newest bool
	for _, l := range got.Lines {
		newest = newest || strings.HasSuffix(l.Text, "line 2000")
	}
	if !newest {
		t.Errorf("the newest line is not in the capped answer: %v", got.Lines[len(got.Lines)-3:])
	}
	if resp.Header.Get("X-Scar-Truncated") != "true" {
		t.Errorf("X-Scar-Truncated %q", resp.Header.Get("X-Scar-Truncated"))
	}

	_, body, err = s.call(t, t.Context(), "GET", "/api/v1/projects/app/logs?lines=5000", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(body, []byte("[scar: older lines left out: a logs answer holds at most 4096 bytes of log text]\n")) || len(body) > capBytes+len(got.Lines)*len("2006-01-02T15:04:05.999999999Z \n")+100 {
		t.Errorf("text answer of %d bytes ends %q", len(body), body[max(0, len(body)-100):])
	}

	_, body, err = s.call(t, t.Context(), "GET", "/api/v1/projects/app/logs?lines=3", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &got); err != nil || *got.Truncated || len(got.Lines) != 3 {
		t.Errorf("3 lines: %s, want 3 lines, truncated false", body)
	}
}
