package api

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// apiCall is one request of TestOpenAPIAnswersOfTheEngine.
type apiCall struct {
	method, path, token, body, accept string
	status                            int
}

// send makes the call against the server, checks its status and validates the
// answer against the document; it returns the body.
func (s *engineServer) send(t *testing.T, o *openAPI, c apiCall) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), c.method, s.url+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != c.status {
		t.Fatalf("%s %s answered %d %s, want %d", c.method, c.path, resp.StatusCode, clip(body), c.status)
	}
	o.check(t, httptest.NewRequest(c.method, c.path, nil), resp.StatusCode, resp.Header, body)
	return body
}

// TestOpenAPIAnswersOfTheEngine: real answers of the JSON routes, over a real
// dockerops Service on the real engine — status, logs, restart, a dry run, a deploy
// followed to its end, history, audit, alerts, and errors that need an operation to
// run — are what the document describes, status and body.
func TestOpenAPIAnswersOfTheEngine(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	cp := dockertest.UniqueName(t, "apidoc")
	s := newEngineServer(t, cp, func(d *Deps) { withDeploys(t, d) })
	dockertest.RemoveImagesWhenDone(t, s.cli, cp)
	id := s.run(t, cp, "web")
	dockertest.WaitHealth(t, s.cli, id, "healthy", time.Minute)

	for _, c := range []apiCall{
		{method: "GET", path: "/healthz", status: 200},
		{method: "GET", path: "/readyz", status: 200},
		{method: "GET", path: "/metrics", status: 200},
		{method: "GET", path: "/api/v1/projects", token: readToken, status: 200},
		{method: "GET", path: "/api/v1/projects/app/status", token: readToken, status: 200},
		{method: "GET", path: "/api/v1/projects/nosuch/status", token: readToken, status: 404},
		{method: "GET", path: "/api/v1/projects/app/logs?lines=5", token: readToken, status: 200},
		{method: "GET", path: "/api/v1/projects/app/logs?lines=5", token: readToken, accept: "text/plain", status: 200},
		{method: "GET", path: "/api/v1/projects/app/logs?container=nosuch", token: readToken, status: 404},
		{method: "POST", path: "/api/v1/projects/app/restart", token: fullToken, body: `{"containers": ["web"]}`, status: 200},
		{method: "POST", path: "/api/v1/projects/app/restart", token: fullToken, body: `{"containers": ["nosuch"]}`, status: 404},
		{method: "POST", path: "/api/v1/projects/app/deploy", token: readToken, body: `{"dry_run": true}`, status: 200},
		{method: "POST", path: "/api/v1/projects/app/deploy", token: fullToken, status: 200}, // nothing to deploy
		{method: "GET", path: "/api/v1/deployments/nosuch", token: readToken, status: 404},
		{method: "POST", path: "/api/v1/deployments/nosuch/cancel", token: fullToken, status: 404},
	} {
		s.send(t, o, c)
	}

	// A change to deploy, but no Compose file in the workspace or production (the
	// container was started without one): the plan and the deploy are refused as
	// misconfigured, and web keeps running. (Real deploys and rollbacks, their answers
	// and records: TestOpenAPIDeploymentEventsMatchSchemas.)
	ws := s.deps.Projects.Current().All()[0].Workspace
	if err := os.WriteFile(filepath.Join(ws, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.send(t, o, apiCall{method: "POST", path: "/api/v1/projects/app/deploy", token: readToken, body: `{"dry_run": true}`, status: 422})
	s.send(t, o, apiCall{method: "POST", path: "/api/v1/projects/app/deploy", token: fullToken, body: `{}`, status: 422})
	s.send(t, o, apiCall{method: "POST", path: "/api/v1/projects/app/rollback", token: fullToken, status: 404})
	if c := dockertest.Inspect(t, s.cli, id); !c.State.Running {
		t.Errorf("web after the refused deploy: %s", c.State.Status)
	}
	s.send(t, o, apiCall{method: "GET", path: "/api/v1/projects/app/deployments?limit=5", token: readToken, status: 200})
	s.send(t, o, apiCall{method: "GET", path: "/api/v1/audit?since=1h", token: fullToken, status: 200})
	s.send(t, o, apiCall{method: "GET", path: "/api/v1/alerts?project=app", token: readToken, status: 200})
}

// withDeploys gives the server's Service deploys, as scar serve has them, and the
// state store as the incidents behind GET /alerts.
func withDeploys(t *testing.T, d *Deps) {
	t.Helper()
	db := d.Audit.(*store.DB)
	files, err := deployments.New(deployments.Config{StateDir: t.TempDir(), Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	compose := dockerops.NewCompose(strings.Join(dockertest.ComposeCommand(), " "))
	d.Ops = dockerops.New(engine, d.Projects.(*projects.Store), d.Metrics, nil, dockerops.WithPollInterval(100*time.Millisecond),
		dockerops.WithDeploys(engine, files, db, compose))
	d.Incidents = db
}

// TestOpenAPIEventStreamMatchesSchemas: the events GET /api/v1/events sends for a
// container that dies are named as the document says, and their data match the
// schemas it names.
func TestOpenAPIEventStreamMatchesSchemas(t *testing.T) {
	o := loadOpenAPI(t)
	schemas := o.sseEvents(t, "/api/v1/events", http.MethodGet)
	cp := dockertest.UniqueName(t, "apidocsse")
	s, _ := watchedServer(t, cp)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/events?project=app", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	o.checkStream(t, httptest.NewRequest("GET", "/api/v1/events?project=app", nil), resp)
	msgs := readSSE(bufio.NewReader(resp.Body))

	s.run(t, cp, "web", "EXIT_AT_START=1") // exits with code 3 on its own: die, and an incident
	seen := map[string]bool{}
	for !seen["container"] || !seen["incident"] {
		var m sseMessage
		select {
		case msg, ok := <-msgs:
			if !ok {
				t.Fatalf("the stream ended; saw %v", seen)
			}
			m = msg
		case <-time.After(time.Minute):
			t.Fatalf("no container event and incident within a minute; saw %v", seen)
		}
		if m.event == "" {
			continue // a comment
		}
		checkEvent(t, schemas, m)
		seen[m.event] = true
	}
}
